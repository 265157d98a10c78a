"""Resume with a user schedule or a changed set of optimizer callbacks (issue 15, 2 and 7)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import RandomImageDataModule, fit
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from zoo.one_cycle import OneCycleClassifier

from lightning_tricks.callbacks import NoBiasDecay, Warmup, WarmupCosine


class _Record(Callback):
    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        self.seen.append(batch[0].detach().clone())
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _run(
    tmp_path: Path, callbacks: list[Any], ckpt_path: str | None = None, every: int | None = None
) -> tuple[_Record, OneCycleClassifier]:
    torch.manual_seed(0)
    rec = _Record()
    model = OneCycleClassifier(weight_decay=5e-4)
    extra: list[Any] = []
    if every is not None:
        extra.append(
            ModelCheckpoint(
                dirpath=tmp_path / "ck", every_n_train_steps=every, save_top_k=-1, filename="{step}"
            )
        )
    fit(
        model,
        RandomImageDataModule(n_train=32, batch_size=8),
        tmp_path,
        max_epochs=2,
        ckpt_path=ckpt_path,
        callbacks=[rec, *callbacks, *extra],
        enable_checkpointing=every is not None,
    )
    return rec, model


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
def test_user_module_reading_estimated_stepping_batches_resumes_exactly(tmp_path: Path) -> None:
    """OneCycleLR(total_steps=estimated_stepping_batches), our data module, none of our
    callbacks: a mid-epoch resume replays the same batches and ends on the same weights."""
    full, full_model = _run(tmp_path, [])
    _run(tmp_path, [], every=3)
    resumed, resumed_model = _run(tmp_path, [], ckpt_path=str(tmp_path / "ck" / "step=3.ckpt"))
    assert len(full.seen) == 8 and len(resumed.seen) == 5  # step 3 is batch 3 of epoch 0
    for a, b in zip(full.seen[3:], resumed.seen):
        assert torch.equal(a, b)
    assert resumed.lrs == pytest.approx(full.lrs[3:])
    for (name, p), q in zip(full_model.named_parameters(), resumed_model.parameters()):
        torch.testing.assert_close(p, q, msg=name)


def test_resume_adding_no_bias_decay_names_it(tmp_path: Path) -> None:
    _run(tmp_path, [], every=3)
    with pytest.raises(ValueError, match=r"NoBiasDecay splits the param groups of SGD \(1 -> 2\)"):
        _run(tmp_path, [NoBiasDecay()], ckpt_path=str(tmp_path / "ck" / "step=3.ckpt"))


def test_resume_with_no_bias_decay_kept_works(tmp_path: Path) -> None:
    full, _ = _run(tmp_path, [NoBiasDecay()])
    _run(tmp_path, [NoBiasDecay()], every=3)
    resumed, _ = _run(tmp_path, [NoBiasDecay()], ckpt_path=str(tmp_path / "ck" / "step=3.ckpt"))
    assert resumed.lrs == pytest.approx(full.lrs[3:])


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
@pytest.mark.filterwarnings("ignore:WarmupCosine replaces")
@pytest.mark.parametrize("swap", [[], [Warmup(warmup_steps=1)]], ids=["removed", "swapped"])
def test_resume_without_warmup_cosine_warns(tmp_path: Path, swap: list[Any]) -> None:
    _run(tmp_path, [WarmupCosine(warmup_steps=2)], every=3)
    ckpt = str(tmp_path / "ck" / "step=3.ckpt")
    if swap:  # a remaining transform names the missing one and the consequence
        with pytest.warns(
            UserWarning, match=r"written with the WarmupCosine callback .* not restored"
        ):
            _run(tmp_path, swap, ckpt_path=ckpt)
    else:  # nothing of ours left: Lightning's own warning names the callback
        with pytest.warns(
            UserWarning, match=r"Please add the following callbacks: \[.*WarmupCosine\{"
        ):
            _run(tmp_path, swap, ckpt_path=ckpt)


@pytest.mark.parametrize("schedule", ["Warmup", "WarmupCosine"])
def test_manual_optimization_resume_continues_the_schedule(tmp_path: Path, schedule: str) -> None:
    """Manual optimization: the slot's state (callback schedule + the module's StepLR) and the
    EMA step count are checkpointed; a mid-epoch resume equals the uninterrupted run."""
    from zoo.manual_opt import ManualOptClassifier

    from lightning_tricks.callbacks import EMA

    def run(ckpt_path: str | None = None, every: int | None = None) -> tuple[_Record, Any]:
        torch.manual_seed(0)
        rec = _Record()
        model = ManualOptClassifier(scheduler="step")
        sched = Warmup(warmup_steps=2) if schedule == "Warmup" else WarmupCosine(warmup_steps=2)
        callbacks: list[Any] = [rec, sched, EMA(decay=0.5, warmup=False)]
        if every is not None:
            callbacks.append(
                ModelCheckpoint(
                    dirpath=tmp_path / "ck",
                    every_n_train_steps=every,
                    save_top_k=-1,
                    filename="{step}",
                )
            )
        fit(
            model,
            RandomImageDataModule(n_train=32, batch_size=8),
            tmp_path,
            max_epochs=2,
            ckpt_path=ckpt_path,
            callbacks=callbacks,
            enable_checkpointing=every is not None,
        )
        return rec, model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "WarmupCosine replaces")
        warnings.filterwarnings("ignore", "Be aware that when using `ckpt_path`")
        warnings.filterwarnings("ignore", "Using ModelCheckpoint with manual optimization")
        full, full_model = run()
        run(every=3)
        resumed, resumed_model = run(ckpt_path=str(tmp_path / "ck" / "step=3.ckpt"))
    assert len(set(full.lrs)) > 2  # the schedule moves
    assert resumed.lrs == pytest.approx(full.lrs[3:])
    for (name, p), q in zip(full_model.named_parameters(), resumed_model.parameters()):
        torch.testing.assert_close(p, q, msg=name)
