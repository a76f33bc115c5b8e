"""`WandbLogger`: Lightning's, without the `anonymous` setting it always passes to `wandb.init`
(wandb deprecated it, gives it no effect, and warns of it at every run)."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    """`pytorch_lightning.loggers.WandbLogger`; `anonymous=True` is still passed on."""

    def __init__(self, *args: Any, anonymous: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, anonymous=anonymous, **kwargs)
        if not anonymous:
            self._wandb_init.pop("anonymous", None)
