"""Telling the other ranks why a rank stopped.

A rank that fails by itself (an exception in its step: a NaN, a bad batch, out of memory)
writes the cause into the job's key-value store before it leaves. The others then find their
next exchange broken, and their error names that rank and its cause instead of only "a peer
died". Everything here is best effort: a store that has gone with rank 0 is skipped at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import torch.distributed as dist

log = logging.getLogger(__name__)

KEY = "hwnas/dts/failed/{rank}"
STORE_TIMEOUT = timedelta(seconds=2)  # a store that does not answer in this long is gone


def _store() -> dist.Store | None:
    if not (dist.is_available() and dist.is_initialized()):
        return None
    try:
        store = dist.distributed_c10d._get_default_store()
        store.set_timeout(STORE_TIMEOUT)
    except (RuntimeError, ValueError, AttributeError):
        return None
    return store


def cause(exception: BaseException) -> str:
    first = str(exception).splitlines()[0] if str(exception) else ""
    return f"{type(exception).__name__}: {first}"[:500]


def report_failure(exception: BaseException) -> None:
    """Say in the log, and where the other ranks can read it, why this rank stopped (a
    one-process run has no one to tell)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    log.error(
        f"rank {dist.get_rank()} failed: "
        f"{cause(exception)}; the other ranks stop at their next exchange"
    )
    store = _store()
    if store is None:
        return
    try:
        store.set(KEY.format(rank=dist.get_rank()), cause(exception))
    except (RuntimeError, ValueError, OSError) as error:  # the store went with its host
        log.debug("could not report the failure to the other ranks: %s", error)


def reported_failures() -> list[str]:
    """'rank r: cause' for every other rank that reported a failure."""
    store = _store()
    if store is None:
        return []
    found = []
    for rank in range(dist.get_world_size()):
        key = KEY.format(rank=rank)
        try:
            if rank != dist.get_rank() and store.check([key]):
                found.append(f"rank {rank}: {store.get(key).decode(errors='replace')}")
        except (RuntimeError, ValueError, OSError):  # rank 0 and its store are gone
            break
    return found
