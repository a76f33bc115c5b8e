"""Errors of latency tables: each names what is wrong and how to fix it."""

from __future__ import annotations


class LatencyTableError(ValueError):
    """Base of the latency-table errors."""


class MalformedTableError(LatencyTableError):
    """A table file, key or entry that cannot be read."""


class MissingLatencyError(LatencyTableError):
    """A table without an entry for an op the search space needs."""
