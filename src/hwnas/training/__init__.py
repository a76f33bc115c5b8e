"""Retraining a searched or published architecture from scratch (REFERENCE A5)."""

from __future__ import annotations

from hwnas.training.init_from_search import load_search_weights
from hwnas.training.module import TrainModule
from hwnas.training.optim import build_optimizer, warmup_cosine

__all__ = ["TrainModule", "build_optimizer", "load_search_weights", "warmup_cosine"]
