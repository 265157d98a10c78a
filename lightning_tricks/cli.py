"""The ``lightning-tricks`` console script: LightningCLI plus a few extra sub-commands.

Usage::

    lightning-tricks fit --config configs/digits.yaml
    lightning-tricks fit --config configs/digits.yaml --trainer.callbacks+=lightning_tricks.callbacks.MixUp
    lightning-tricks fit --model my_pkg.MyModule --data DigitsDataModule   # any LightningModule
    lightning-tricks validate|test|predict --config ... --ckpt_path ...
    lightning-tricks fit --config configs/digits.yaml --print_config

Extra sub-commands (``lightning-tricks <name> --help``) are listed in :data:`EXTRA_COMMANDS`.

A configuration error found while building the classes (a ``ValueError`` / ``TypeError`` from
a constructor, an unreadable ``--ckpt_path``) is printed as one line and the command exits
with status 2, like a parse error; set ``LIGHTNING_TRICKS_DEBUG=1`` (or jsonargparse's
``JSONARGPARSE_DEBUG=true``) for the full traceback.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from . import models as _models  # noqa: F401  (`--model ImageClassifier` etc. by short name)
from ._checkpoint import check_checkpoint_file

__all__ = ["EXTRA_COMMANDS", "LINKED_FROM_DATA", "TricksCLI", "main"]

#: the classes used when neither the command line nor a config file names one
DEFAULT_CLASSES: dict[str, str] = {
    "model": "lightning_tricks.models.ImageClassifier",
    "data": "lightning_tricks.data.DigitsDataModule",
}
_SUBCOMMANDS = ("fit", "validate", "test", "predict")
#: model init arguments set from the data module's attribute of the same name, where both exist
LINKED_FROM_DATA: tuple[str, ...] = ("num_classes", "in_channels")
#: environment variables that make :func:`main` show the traceback of a configuration error
DEBUG_ENV_VARS: tuple[str, ...] = ("LIGHTNING_TRICKS_DEBUG", "JSONARGPARSE_DEBUG")
#: exceptions raised while building the classes that are reported as configuration errors
_CONFIG_ERRORS = (ValueError, TypeError, FileNotFoundError, MisconfigurationException)
_MARK = "_lightning_tricks_config_error"
#: messages of jsonargparse errors that wrap the error a constructor raised
_JSONARGPARSE_WRAPS = ("Does not validate against any of the", "Problem with given class_path")

#: sub-command name -> module exposing ``main(argv: list[str]) -> int``
EXTRA_COMMANDS: dict[str, str] = {
    "plot-lr": "lightning_tricks.commands.plot_lr",
    "preview": "lightning_tricks.commands.preview",
    "ablate": "lightning_tricks.commands.ablate",
    "demo": "lightning_tricks.commands.demo",
}


class TricksCLI(LightningCLI):
    """LightningCLI for any LightningModule and any data module.

    The model defaults to the reference
    :class:`~lightning_tricks.models.ImageClassifier`; ``--model my_pkg.MyModule`` (or
    ``model.class_path`` in YAML) takes any ``LightningModule`` subclass. ``num_classes`` and
    ``in_channels`` are linked from the data module to the model where both have them (see
    :data:`LINKED_FROM_DATA`), so a config names them once; a model without such an argument
    is simply not linked. Any callback of this library or of Lightning can be added with
    ``trainer.callbacks`` in YAML or ``--trainer.callbacks+=...``; optimizers and schedulers
    come from ``--optimizer`` / ``--lr_scheduler`` (else the model's default).

    A ``--ckpt_path`` file is checked before Lightning reads it: a truncated or damaged file
    is a ``ValueError`` naming the file and the argument.

    Example::

        >>> TricksCLI(args=["fit", "--config", "configs/digits.yaml"])  # doctest: +SKIP
        >>> TricksCLI(args=["fit", "--model", "my_pkg.MyModule"])  # doctest: +SKIP
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("model_class", LightningModule)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("datamodule_class", LightningDataModule)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        parser_kwargs = kwargs.setdefault("parser_kwargs", {})
        parser_kwargs.setdefault("parser_mode", "omegaconf") if _has_omegaconf() else None
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # An attribute of the data module as the source, no compute_fn: nothing to pickle
        # for ddp_spawn, and jsonargparse skips the link where the data module lacks the
        # attribute or the model the init argument.
        for name in LINKED_FROM_DATA:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse ``args``, with :data:`DEFAULT_CLASSES` for a model / data module not named.

        The defaults are given as ``--model <class>`` / ``--data <class>`` in front of the
        arguments, and only when no argument or config file names a class: a parser default
        would hand its own init-argument defaults to another class picked later (jsonargparse
        issue #460: ``--model my_pkg.MyModule`` would get ``ImageClassifier``'s ``lr``).
        """
        if args is None or isinstance(args, (list, tuple)):
            args = _with_default_classes(
                list(sys.argv[1:] if args is None else args),
                has_subcommands=getattr(parser, "_subcommands_action", None) is not None,
            )
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        # Lightning (>= 2.6) reads the hyperparameters of --ckpt_path right after parsing:
        # check the file first, so a damaged one is named instead of failing in the unpickler.
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        argument = "`--ckpt_path`"
        if ckpt_path:
            _as_config_error(check_checkpoint_file, ckpt_path, argument)
        parse = getattr(super(), "_parse_ckpt_path", None)
        if parse is None:
            return
        try:
            parse()
        except Exception as err:
            if not ckpt_path or getattr(err, _MARK, False):
                raise
            new = ValueError(
                f"{argument} {os.fspath(ckpt_path)!r} is not a readable checkpoint: reading its "
                f"hyperparameters failed with {type(err).__name__}: {err}"
            )
            setattr(new, _MARK, True)
            raise new from err

    def instantiate_classes(self) -> None:
        _as_config_error(super().instantiate_classes)
        self._drop_unlinked_hparams()
        self._warn_unlinked()

    def _drop_unlinked_hparams(self) -> None:
        """Remove linked names the model does not take from its ``hparams``.

        jsonargparse reports a link it skipped as applied, and LightningCLI then records the
        data module's value in the hparams of a model without that argument, which would make
        ``load_from_checkpoint`` pass it and fail.
        """
        model = self.model
        if model is None:
            return
        try:
            params = inspect.signature(type(model).__init__).parameters
        except (TypeError, ValueError):
            return
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        for name in LINKED_FROM_DATA:
            if name in params:
                continue
            for store in ("_hparams", "_hparams_initial"):
                hparams = getattr(model, store, None)
                if hparams is not None and name in hparams:
                    del hparams[name]

    def _warn_unlinked(self) -> None:
        """Warn where the model takes a linked argument that the data module does not have."""
        data, model = self.datamodule, self.model
        if data is None or model is None:
            return
        try:
            params = inspect.signature(type(model).__init__).parameters
        except (TypeError, ValueError):
            return
        init_args = getattr(self._get(self.config, "model"), "init_args", None)
        for name in LINKED_FROM_DATA:
            if name in params and not hasattr(data, name):
                value = init_args.get(name) if init_args is not None else None
                rank_zero_warn(
                    f"{type(model).__name__} takes `{name}` but the data module "
                    f"{type(data).__name__} has no `{name}` attribute, so the CLI did not link "
                    f"it: the model uses its configured value ({value}); add a `{name}` "
                    "attribute to the data module to link it",
                    category=UserWarning,
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


def _with_default_classes(args: list[str], has_subcommands: bool) -> list[str]:
    """``args`` with ``--model`` / ``--data`` :data:`DEFAULT_CLASSES` in front where unnamed."""
    if has_subcommands:
        at = next((i + 1 for i, a in enumerate(args) if a in _SUBCOMMANDS), None)
        if at is None:  # --help, --version, ...: nothing to parse into classes
            return args
    else:
        at = 0
    added = [
        f"--{key}={default}"
        for key, default in DEFAULT_CLASSES.items()
        if not _names_class(args, key)
    ]
    return [*args[:at], *added, *args[at:]]


def _names_class(args: list[str], key: str) -> bool:
    """Whether ``--<key>`` or a ``--config`` in ``args`` names a class for ``key``."""
    for i, arg in enumerate(args):
        if arg == f"--{key}" or arg.startswith((f"--{key}=", f"--{key}.class_path")):
            return True
        config = None
        if arg in ("--config", "-c") and i + 1 < len(args):
            config = args[i + 1]
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        if config is not None and _config_names_class(config, key):
            return True
    return False


def _config_names_class(config: str, key: str) -> bool:
    try:
        path = Path(config)
        text = path.read_text() if path.is_file() else config
        data = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return False
    if not isinstance(data, dict):
        return False
    sections = [data, *(v for k, v in data.items() if k in _SUBCOMMANDS and isinstance(v, dict))]
    for section in sections:
        spec = section.get(key)
        if isinstance(spec, str) or (isinstance(spec, dict) and "class_path" in spec):
            return True
    return False


def _as_config_error(fn: Any, *args: Any) -> Any:
    """Call ``fn``; mark a ValueError / TypeError / ... it raises as a configuration error."""
    try:
        return fn(*args)
    except _CONFIG_ERRORS as err:
        setattr(err, _MARK, True)
        raise


def _root_cause(err: BaseException) -> BaseException:
    """The error a constructor raised, from under jsonargparse's "Does not validate ..." wrap."""
    while True:
        inner = err.__cause__ or err.__context__
        wrapped = any(text in str(err) for text in _JSONARGPARSE_WRAPS)
        if inner is None or not wrapped or not isinstance(inner, _CONFIG_ERRORS):
            return err
        err = inner


def _debug() -> bool:
    off = ("", "0", "false", "no", "off")
    return any(os.environ.get(name, "").strip().lower() not in off for name in DEBUG_ENV_VARS)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lightning-tricks`` console script.

    Returns the exit status: 0, or 2 after printing a configuration error (an out-of-range
    argument, an unreadable checkpoint, ...) as one line on stderr. With
    ``LIGHTNING_TRICKS_DEBUG=1`` or ``JSONARGPARSE_DEBUG=true`` the error is raised instead,
    with its traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in EXTRA_COMMANDS:
        module = importlib.import_module(EXTRA_COMMANDS[args[0]])
        return int(module.main(args[1:]) or 0)
    try:
        TricksCLI(args=args)
    except Exception as err:
        if not getattr(err, _MARK, False) or _debug():
            raise
        print(f"lightning-tricks: error: {_root_cause(err)}", file=sys.stderr)
        print(
            "(set LIGHTNING_TRICKS_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
