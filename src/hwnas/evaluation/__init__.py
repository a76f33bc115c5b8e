"""Evaluation of a trained network: accuracy, size, latency on the target hardware beside the
latency model's prediction, and a checked ONNX export."""

from __future__ import annotations

from hwnas.evaluation.accuracy import top_k_accuracy
from hwnas.evaluation.checkpoint import TrainedNetwork, load_trained_network
from hwnas.evaluation.latency import latency_summary

__all__ = ["TrainedNetwork", "latency_summary", "load_trained_network", "top_k_accuracy"]
