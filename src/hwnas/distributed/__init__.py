"""Distributed training across the world (DTS, REFERENCE B): delayed and temporally sparse
updates over torch.distributed, and an emulated wide-area link."""

from __future__ import annotations

from hwnas.distributed.auto_delay import DelayTuner, smallest_hiding_delay
from hwnas.distributed.delayed_gradients import DelayedGradients
from hwnas.distributed.link import EmulatedLink, PeerError
from hwnas.distributed.metrics import DTSMetrics
from hwnas.distributed.periodic_deltas import OuterOptimizer, PeriodicDeltas, nesterov_outer
from hwnas.distributed.replicas import average_replicas, replica_state
from hwnas.distributed.settings import DTSSettings
from hwnas.distributed.shared_gradients import SharedGradients
from hwnas.distributed.strategy import DTSStrategy

__all__ = [
    "DTSMetrics",
    "DTSSettings",
    "DTSStrategy",
    "DelayTuner",
    "DelayedGradients",
    "EmulatedLink",
    "OuterOptimizer",
    "PeerError",
    "PeriodicDeltas",
    "SharedGradients",
    "average_replicas",
    "nesterov_outer",
    "replica_state",
    "smallest_hiding_delay",
]
