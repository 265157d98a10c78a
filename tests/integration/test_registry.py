"""Every callback of the registry, alone and all stacked: smoke, resume, precision, DDP, CLI.

The per-area integration files test each trick in depth; this file checks that the tricks of
*all* areas compose on one untouched plain cross-entropy module (DESIGN.md §4).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from integration.registry import REGISTRY
from lightning_tricks.callbacks import BatchTrick, OneOf

MODULES = {"batch_tricks", "schedules", "regularization", "augment", "init", "ema"}


def _ids() -> list[str]:
    return [cls.__name__ for cls, _ in REGISTRY]


def _build_all() -> list[Callback]:
    return [cls(**copy.deepcopy(kwargs)) for cls, kwargs in REGISTRY]


def _model(**kwargs: Any) -> TinyClassifier:
    torch.manual_seed(0)
    return TinyClassifier(weight_decay=5e-4, **kwargs)


def test_registry_covers_every_public_callback() -> None:
    import lightning_tricks.callbacks as cb

    public = {
        getattr(cb, n)
        for n in cb.__all__
        if isinstance(getattr(cb, n), type)
        and issubclass(getattr(cb, n), Callback)
        and getattr(cb, n) is not BatchTrick
    }
    assert public == {cls for cls, _ in REGISTRY}


@pytest.mark.parametrize(("cls", "kwargs"), REGISTRY, ids=_ids())
def test_each_callback_trains_alone(cls: type, kwargs: dict, tmp_path: Path) -> None:
    model = _model()
    trainer = fit(
        model,
        RandomImageDataModule(),
        tmp_path,
        max_steps=3,
        callbacks=[cls(**copy.deepcopy(kwargs))],
    )
    assert trainer.global_step == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())


class _Trace(Callback):
    """Records the LR of every step (the model records the batches)."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.slow
def test_all_stacked_resume_equals_uninterrupted(tmp_path: Path) -> None:
    def dm() -> RandomImageDataModule:
        return RandomImageDataModule(n_train=40, batch_size=8)

    full, trace_full = _model(record_batches=True), _Trace()
    fit(full, dm(), tmp_path / "full", max_epochs=2, callbacks=[*_build_all(), trace_full])

    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ck", every_n_train_steps=3, save_top_k=-1, filename="{step}"
    )
    fit(
        _model(),
        dm(),
        tmp_path / "a",
        max_epochs=2,
        callbacks=[*_build_all(), ckpt],
        enable_checkpointing=True,
    )

    resumed, trace_resumed = _model(record_batches=True), _Trace()
    fit(
        resumed,
        dm(),
        tmp_path / "b",
        max_epochs=2,
        callbacks=[*_build_all(), trace_resumed],
        ckpt_path=str(tmp_path / "ck" / "step=3.ckpt"),
    )

    assert len(resumed.seen) == len(full.seen) - 3 == 7
    for (xa, ya), (xb, yb) in zip(full.seen[3:], resumed.seen):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert trace_resumed.lrs == trace_full.lrs[3:]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_all_stacked_bf16_mixed_dict_batches(tmp_path: Path) -> None:
    # the batch tricks find the "image" / "label" keys of the dict batches by themselves
    callbacks = [cls(**copy.deepcopy(kwargs)) for cls, kwargs in REGISTRY]
    model = _model()
    trainer = fit(
        model,
        RandomImageDataModule(as_dict=True),
        tmp_path,
        max_steps=4,
        precision="bf16-mixed",
        callbacks=callbacks,
    )
    assert trainer.global_step == 4
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_all_stacked_ddp_spawn(tmp_path: Path) -> None:
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    fit(
        model,
        RandomImageDataModule(n_train=32, batch_size=8),
        tmp_path,
        max_steps=3,
        devices=2,
        strategy="ddp_spawn",
        callbacks=_build_all(),
    )
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def _as_cli(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Callback):  # OneOf's children: give them as class_path too
            return {
                "class_path": f"{type(value).__module__}.{type(value).__name__}",
                "init_args": {"alpha": value.alpha},
            }
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {
        "class_path": f"lightning_tricks.callbacks.{cls.__name__}",
        "init_args": {k: plain(v) for k, v in kwargs.items()},
    }


def test_every_callback_from_cli_yaml(tmp_path: Path) -> None:
    from lightning_tricks.cli import TricksCLI

    cfg = tmp_path / "callbacks.yaml"
    cfg.write_text(yaml.safe_dump({"trainer": {"callbacks": [_as_cli(c, k) for c, k in REGISTRY]}}))
    root = Path(__file__).resolve().parents[2]
    cli = TricksCLI(
        args=[
            "--config",
            str(root / "configs" / "digits.yaml"),
            "--config",
            str(cfg),
            "--trainer.logger=false",
        ],
        run=False,
    )
    built = [type(cb) for cb in cli.trainer.callbacks]
    for cls, _ in REGISTRY:
        assert cls in built, f"{cls.__name__} was not built from YAML"
    one_of = next(cb for cb in cli.trainer.callbacks if isinstance(cb, OneOf))
    assert [type(t).__name__ for t in one_of.tricks] == ["MixUp", "CutMix"]
