"""EMA: equals a hand-computed average, validation/checkpoints use it, resume is exact."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, ModelCheckpoint

from lightning_tricks.callbacks import EMA, WeightInit, ema_decay


class _Record(Callback):
    """Raw weights after every optimizer step, and weights seen by validation."""

    def __init__(self) -> None:
        self.after_step: list[dict[str, torch.Tensor]] = []
        self.in_validation: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        self.after_step.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})

    def on_validation_batch_start(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        self.in_validation.append(
            {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        )


def _hand_average(
    snapshots: list[dict[str, torch.Tensor]],
    decay: float,
    every: int,
    warmup: bool,
    start: int = 0,
) -> dict[str, torch.Tensor]:
    """The EMA after the steps in ``snapshots``: update at step i if i >= start, i % every == 0."""
    avg: dict[str, torch.Tensor] = {}
    updates = 0
    for step, weights in enumerate(snapshots):
        if step < start or step % every:
            continue
        if not avg:
            avg = {k: v.double() for k, v in weights.items()}
        else:
            d = decay if not warmup else min(decay, 1 - (1 + updates) ** -0.75)
            for k, v in weights.items():
                avg[k] = d * avg[k] + (1 - d) * v.double() if v.is_floating_point() else v.double()
        updates += 1
    return avg


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k].double(), b[k].double(), rtol=0, atol=1e-6, msg=k)


@pytest.mark.parametrize(("warmup", "every"), [(True, 2), (False, 1)])
def test_weights_equal_a_hand_computed_average(tmp_path: Path, warmup: bool, every: int) -> None:
    rec, ema = _Record(), EMA(decay=0.8, warmup=warmup, update_every_n_steps=every)
    model = TinyClassifier()
    dm = RandomImageDataModule(n_train=56, n_val=8, batch_size=8)
    fit(model, dm, tmp_path, max_epochs=1, callbacks=[rec, ema], limit_val_batches=1)
    assert len(rec.after_step) == 7 and ema.num_updates == len(range(0, 7, every))
    expected = _hand_average(rec.after_step, 0.8, every, warmup)
    _assert_close(model.state_dict(), expected)  # training ends with the averaged weights
    # validation ran on the averaged weights, BatchNorm statistics included
    _assert_close(rec.in_validation[-1], expected)
    assert "net.1.num_batches_tracked" in expected


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
@pytest.mark.filterwarnings("ignore:The dirpath has changed")
def test_checkpoint_holds_the_average_and_resume_is_exact(tmp_path: Path) -> None:
    dm = RandomImageDataModule(n_train=48, n_val=8, batch_size=8)  # 6 steps per epoch

    def run(name: str, ckpt_path: str | None = None) -> tuple[EMA, TinyClassifier, _Record]:
        torch.manual_seed(0)
        model, rec = TinyClassifier(), _Record()
        ema = EMA(decay=0.9, update_every_n_steps=2, update_starting_at_step=1)
        ckpt = ModelCheckpoint(dirpath=tmp_path / name, every_n_train_steps=5, save_top_k=-1)
        fit(
            model,
            dm,
            tmp_path,
            max_epochs=2,
            ckpt_path=ckpt_path,
            callbacks=[ema, rec, ckpt],
            enable_checkpointing=True,
            limit_val_batches=1,
        )
        return ema, model, rec

    ema_a, model_a, rec_a = run("a")
    mid = tmp_path / "a" / "epoch=0-step=5.ckpt"
    saved = torch.load(mid, weights_only=False)
    # the saved model is the average (updates after steps 2 and 4, 0-based), the raw
    # weights travel in current_model_state
    _assert_close(saved["current_model_state"], rec_a.after_step[4])
    _assert_close(saved["state_dict"], _hand_average(rec_a.after_step[:5], 0.9, 2, True, 1))
    # resumed mid-epoch from step 5: the same average and update count at the end
    ema_b, model_b, _ = run("b", ckpt_path=str(mid))
    assert ema_b.num_updates == ema_a.num_updates == 5  # steps 2, 4, 6, 8, 10
    for k, v in model_a.state_dict().items():
        assert torch.equal(model_b.state_dict()[k], v), k


def test_average_starts_from_the_initialised_weights(tmp_path: Path) -> None:
    """EMA listed before WeightInit still starts from the initialised model (on_fit_start)."""
    rec = _Record()
    model = TinyClassifier()
    ema = EMA(decay=0.5, update_starting_at_step=100)  # never updates in this run
    fit(
        model,
        RandomImageDataModule(n_train=16, n_val=8),
        tmp_path,
        max_steps=2,
        callbacks=[ema, WeightInit(seed=0), rec],
        limit_val_batches=1,
        num_sanity_val_steps=1,
    )
    ref = TinyClassifier()
    WeightInit(seed=0).initialize(ref)
    # sanity validation (before any step) saw the initialised weights through the average
    assert torch.equal(rec.in_validation[0]["net.0.weight"], ref.net[0].weight.detach())
    assert ema.num_updates == 0 and ema.average_model is not None


def test_pickles_unlike_lightnings_closure_and_validates() -> None:
    ema = pickle.loads(pickle.dumps(EMA(decay=0.99, warmup_power=2 / 3)))
    assert isinstance(ema, EMAWeightAveraging) and ema.decay == 0.99
    assert EMA(decay=0.9).state_key != EMA(decay=0.99).state_key
    assert ema_decay(1, 0.999) == pytest.approx(1 - 2**-0.75)
    assert ema_decay(10**9, 0.999) == 0.999 and ema_decay(5, 0.9, warmup=False) == 0.9
    assert ema_decay(3, 0.999, gamma=2.0, power=0.5) == pytest.approx(1 - 2.5**-0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"decay": 1.0}, ValueError, r"`decay` must be in \[0, 1\), got 1"),
        ({"decay": -0.1}, ValueError, r"`decay` must be in \[0, 1\), got -0.1"),
        ({"decay": "0.9"}, TypeError, r"`decay` must be a float, got str"),
        ({"warmup_gamma": 0}, ValueError, r"`warmup_gamma` must be in \(0, inf\), got 0"),
        ({"warmup_power": 1.5}, ValueError, r"`warmup_power` must be in \(0, 1\], got 1.5"),
        ({"warmup": 1}, TypeError, r"`warmup` must be a bool"),
        ({"update_every_n_steps": 0}, ValueError, r"`update_every_n_steps` must be >= 1, got 0"),
        ({"update_starting_at_step": -1}, ValueError, r"`update_starting_at_step` must be >= 0"),
        ({"update_every_n_steps": 1.0}, TypeError, r"`update_every_n_steps` must be an integer"),
        ({"device": 0}, TypeError, r"`device` must be a str"),
        ({"use_buffers": "yes"}, TypeError, r"`use_buffers` must be a bool"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        EMA(**kwargs)


@pytest.mark.gpu
def test_average_lives_on_the_training_device(tmp_path: Path) -> None:
    ema = EMA(decay=0.9)
    fit(
        TinyClassifier(),
        RandomImageDataModule(n_train=16),
        tmp_path,
        max_steps=2,
        accelerator="gpu",
        callbacks=[ema],
        limit_val_batches=0,
    )
    assert ema.average_model is not None
    assert next(ema.average_model.parameters()).device.type == "cuda"
