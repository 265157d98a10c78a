"""The ``lightning-tricks`` console script: LightningCLI plus a few extra sub-commands.

Usage::

    lightning-tricks fit --config configs/digits.yaml
    lightning-tricks fit --config configs/digits.yaml --trainer.callbacks+=lightning_tricks.callbacks.MixUp
    lightning-tricks validate|test|predict --config ... --ckpt_path ...
    lightning-tricks fit --config configs/digits.yaml --print_config

Extra sub-commands (``lightning-tricks <name> --help``) are listed in :data:`EXTRA_COMMANDS`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from .models import ImageClassifier

__all__ = ["EXTRA_COMMANDS", "TricksCLI", "main"]

#: sub-command name -> module exposing ``main(argv: list[str]) -> int``
EXTRA_COMMANDS: dict[str, str] = {
    "plot-lr": "lightning_tricks.commands.plot_lr",
    "preview": "lightning_tricks.commands.preview",
    "ablate": "lightning_tricks.commands.ablate",
    "demo": "lightning_tricks.commands.demo",
}


def _data_attr(name: str) -> Any:
    def get(datamodule: Any) -> Any:
        if not hasattr(datamodule, name):
            raise ValueError(
                f"the data module {type(datamodule).__name__} must expose `{name}` so the CLI "
                f"can configure the model; add a `{name}` attribute or property"
            )
        return getattr(datamodule, name)

    get.__name__ = f"data_{name}"
    return get


class TricksCLI(LightningCLI):
    """LightningCLI for the reference :class:`ImageClassifier` family and any data module.

    ``num_classes`` and ``in_channels`` are linked from the data module to the model, so a
    config names them once. Any callback of this library or of Lightning can be added with
    ``trainer.callbacks`` in YAML or ``--trainer.callbacks+=...``; optimizers and schedulers
    come from ``--optimizer`` / ``--lr_scheduler`` (else the model's default).

    Example::

        >>> TricksCLI(args=["fit", "--config", "configs/digits.yaml"])  # doctest: +SKIP
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("model_class", ImageClassifier)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("datamodule_class", LightningDataModule)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        parser_kwargs = kwargs.setdefault("parser_kwargs", {})
        parser_kwargs.setdefault("parser_mode", "omegaconf") if _has_omegaconf() else None
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults(
            {
                "model": {"class_path": "lightning_tricks.models.ImageClassifier"},
                "data": {"class_path": "lightning_tricks.data.DigitsDataModule"},
            }
        )
        for name in ("num_classes", "in_channels"):
            parser.link_arguments(
                "data",
                f"model.init_args.{name}",
                compute_fn=_data_attr(name),
                apply_on="instantiate",
            )

    def after_fit(self) -> None:
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        lines = ["", "=" * 60]
        if "val/acc" in metrics:
            lines.append(f"final validation accuracy: {float(metrics['val/acc']):.4f}")
        ckpt = trainer.checkpoint_callback
        if isinstance(ckpt, ModelCheckpoint):
            if ckpt.best_model_path and Path(ckpt.best_model_path).exists():
                score = ckpt.best_model_score
                best = f" ({ckpt.monitor}={float(score):.4f})" if score is not None else ""
                lines.append(f"best checkpoint: {ckpt.best_model_path}{best}")
            if ckpt.last_model_path and Path(ckpt.last_model_path).exists():
                lines.append(f"last checkpoint: {ckpt.last_model_path}")
        if trainer.logger is not None and trainer.logger.log_dir:
            lines.append(f"logs: {trainer.logger.log_dir}")
        lines.append("=" * 60)
        print("\n".join(lines))


def _has_omegaconf() -> bool:
    return importlib.util.find_spec("omegaconf") is not None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lightning-tricks`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in EXTRA_COMMANDS:
        module = importlib.import_module(EXTRA_COMMANDS[args[0]])
        return int(module.main(args[1:]) or 0)
    TricksCLI(args=args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
