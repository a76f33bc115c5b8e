"""The cost model of a `hardware` config: its own model, or a latency table the user passes
with `hardware.table=PATH_OR_URL`, checked to cover the search space before the search."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from hwnas.cost.cache import fetch_table
from hwnas.cost.model import CostModel
from hwnas.cost.table import LatencyTable
from hwnas.search_space.space import SearchSpace

log = logging.getLogger(__name__)


def build_cost_model(
    hardware: DictConfig, space: SearchSpace, cache_dir: str | Path | None = None
) -> CostModel:
    """Instantiate `hardware.cost_model` (or load `hardware.table`) and prepare it for `space`:
    measured tables are loaded or built here, and every op of the space must have a price."""
    source = hardware.get("table")
    if source:
        table = LatencyTable.load(fetch_table(str(source), cache_dir))
        model: CostModel = table.set_unit(hardware.cost_model.get("unit", "ms"))
        log.info(
            "hardware=%s uses the table %s: %s", hardware.get("name", "?"), source, model.describe()
        )
    else:
        model = instantiate(hardware.cost_model)
    model.prepare(space)
    return model
