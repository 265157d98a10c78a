"""WarmupCosineLR and GradualWarmup against oracles (timm, torch) and naive loops."""

from __future__ import annotations

import io
import pickle
import warnings

import pytest
import torch
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from lightning_tricks.schedulers import GradualWarmup, WarmupCosineLR, warmup_cosine
from lightning_tricks.schedulers.warmup import _AfterWarmup, _HookStepped

pytestmark = pytest.mark.filterwarnings("error")


def _sgd(lrs: tuple[float, ...] = (0.1,)) -> torch.optim.SGD:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def _trajectory(optimizer: torch.optim.Optimizer, step, n: int) -> list[list[float]]:
    """LR of every group at steps 0..n-1, stepping the scheduler(s) with ``step()``."""
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        step()
    return out


@pytest.mark.parametrize(
    ("total", "warmup", "start", "min_lr"),
    [(100, 10, 0.0, 0.0), (1000, 50, 0.01, 1e-4), (57, 13, 0.5, 1e-3), (300, 1, 0.2, 0.0)],
)
def test_warmup_cosine_lr_equals_timm(total: int, warmup: int, start: float, min_lr: float) -> None:
    timm_scheduler = pytest.importorskip("timm.scheduler")
    base = 0.1
    ours_opt, timm_opt = _sgd((base,)), _sgd((base,))
    ours = WarmupCosineLR(ours_opt, total, warmup, start, min_lr)
    # timm: t_initial counts the cosine only (warmup_prefix=True puts the warmup in front)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = timm_scheduler.CosineLRScheduler(
            timm_opt,
            t_initial=total - warmup,
            lr_min=min_lr,
            warmup_t=warmup,
            warmup_lr_init=start * base,
            warmup_prefix=True,
            t_in_epochs=False,
        )
    for t in range(total + 10):
        assert abs(ours_opt.param_groups[0]["lr"] - timm_opt.param_groups[0]["lr"]) <= 1e-12, t
        ours_opt.step()
        ours.step()
        oracle.step_update(t + 1)


@pytest.mark.parametrize(
    ("total", "warmup", "start", "min_lr"), [(100, 10, 0.1, 0.0), (501, 37, 0.01, 1e-4)]
)
def test_warmup_cosine_lr_equals_torch_sequential(
    total: int, warmup: int, start: float, min_lr: float
) -> None:
    lrs = (0.1, 0.02)  # two groups with their own base LR
    ours_opt, torch_opt = _sgd(lrs), _sgd(lrs)
    ours = WarmupCosineLR(ours_opt, total, warmup, start, min_lr)
    oracle = SequentialLR(
        torch_opt,
        [
            LinearLR(torch_opt, start, 1.0, warmup),
            CosineAnnealingLR(torch_opt, total - warmup, min_lr),
        ],
        [warmup],
    )
    a = _trajectory(ours_opt, ours.step, total + 1)
    b = _trajectory(torch_opt, oracle.step, total + 1)
    assert max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)) <= 1e-12


def test_warmup_cosine_lr_values_and_clamp() -> None:
    opt = _sgd((0.1, 0.01))
    sched = WarmupCosineLR(opt, total_steps=20, warmup_steps=4, min_lr=1e-4)
    traj = _trajectory(opt, sched.step, 30)
    for t, row in enumerate(traj):
        assert row == [warmup_cosine(t, b, 20, 4, 0.0, 1e-4) for b in (0.1, 0.01)]
    assert traj[-1] == [1e-4, 1e-4]
    assert sched.get_last_lr() == [1e-4, 1e-4]


def test_warmup_cosine_lr_state_dict_round_trip() -> None:
    opt = _sgd()
    sched = WarmupCosineLR(opt, total_steps=30, warmup_steps=5)
    _trajectory(opt, sched.step, 12)
    state = torch.load(io.BytesIO(_save(sched.state_dict())), weights_only=False)
    rest = _trajectory(opt, sched.step, 10)
    opt2 = _sgd()
    sched2 = WarmupCosineLR(opt2, total_steps=30, warmup_steps=5)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = state["_last_lr"][0]
    assert _trajectory(opt2, sched2.step, 10) == rest


def _save(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_warmup_cosine_lr_group_added_later() -> None:
    opt = _sgd()
    sched = WarmupCosineLR(opt, total_steps=10, warmup_steps=2)
    _trajectory(opt, sched.step, 3)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5})
    opt.step()
    sched.step()  # no crash: the new group is scheduled from the LR it was added with
    assert opt.param_groups[1]["lr"] == pytest.approx(warmup_cosine(4, 0.5, 10, 2))
    assert opt.param_groups[0]["lr"] == pytest.approx(warmup_cosine(4, 0.1, 10, 2))


def test_warmup_cosine_lr_errors_and_warning() -> None:
    with pytest.raises(TypeError, match=r"`optimizer` must be a torch.optim.Optimizer, got Linear"):
        WarmupCosineLR(torch.nn.Linear(1, 1), 10)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"`warmup_steps` must be in \[0, total_steps=10\], got 20"
    ):
        WarmupCosineLR(_sgd(), 10, warmup_steps=20)
    with pytest.raises(TypeError, match=r"`total_steps` must be an int"):
        WarmupCosineLR(_sgd(), 10.0)  # type: ignore[arg-type]
    with pytest.warns(
        UserWarning, match=r"`min_lr`=0.5 is above the base LR of param group\(s\) \[0\]"
    ):
        WarmupCosineLR(_sgd(), 10, min_lr=0.5)


def _naive_gradual(t: int, base: float, warmup: int, mult: float, start: float) -> float:
    return base * (start + (mult - start) * min(t, warmup) / warmup)


@pytest.mark.parametrize(
    ("mult", "start", "expected_start"), [(1.0, None, 0.0), (4.0, None, 1.0), (4.0, 0.5, 0.5)]
)
def test_gradual_warmup_alone(mult: float, start: float | None, expected_start: float) -> None:
    opt = _sgd((0.1, 0.05))
    sched = GradualWarmup(opt, warmup_steps=6, multiplier=mult, start_factor=start)
    assert sched.start_factor == expected_start
    traj = _trajectory(opt, sched.step, 12)
    for t, row in enumerate(traj):
        want = [_naive_gradual(t, b, 6, mult, expected_start) for b in (0.1, 0.05)]
        assert row == pytest.approx(want, abs=1e-15)
    # after the warmup it leaves the LR alone: another scheduler (or a person) may change it
    opt.param_groups[0]["lr"] = 0.123
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.123


def test_gradual_warmup_then_step_lr_with_multiplier() -> None:
    opt = _sgd((0.1,))
    after = StepLR(opt, step_size=3, gamma=0.5)
    sched = GradualWarmup(opt, warmup_steps=4, multiplier=2.0, after_scheduler=after)
    traj = [r[0] for r in _trajectory(opt, sched.step, 14)]
    warm = [0.1 * (1 + (2 - 1) * t / 4) for t in range(4)]  # from the base LR up to 2x
    # then StepLR from 2 × 0.1: its steps 0..9 are the warmup's 4..13
    tail = [0.2 * 0.5 ** (j // 3) for j in range(10)]
    assert traj == pytest.approx(warm + tail, abs=1e-15)
    assert after.base_lrs == pytest.approx([0.2])


def test_gradual_warmup_then_plateau() -> None:
    opt = _sgd((0.1,))
    after = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=0)
    sched = GradualWarmup(opt, warmup_steps=3, after_scheduler=after)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(1.0)  # a constant metric: no improvement after the first plateau step
    # warmup 0, 1/3, 2/3, 1 (metrics ignored); then the first plateau step records the best
    assert lrs[:4] == pytest.approx([0.0, 0.1 / 3, 0.2 / 3, 0.1])
    assert lrs[4:] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    with pytest.raises(TypeError, match=r"call step\(metrics\) with the monitored value"):
        sched.step()


def test_gradual_warmup_state_dict_round_trip_exact() -> None:
    def build() -> tuple[torch.optim.SGD, GradualWarmup]:
        opt = _sgd((0.1, 0.3))
        after = CosineAnnealingLR(opt, T_max=20, eta_min=1e-3)
        return opt, GradualWarmup(opt, warmup_steps=5, multiplier=2.0, after_scheduler=after)

    for split in (3, 5, 6, 11):  # mid-warmup, at the hand-over, just after, later
        opt, sched = build()
        _trajectory(opt, sched.step, split)
        state = torch.load(io.BytesIO(_save(sched.state_dict())), weights_only=False)
        opt_state = opt.state_dict()
        rest = _trajectory(opt, sched.step, 12)
        opt2, sched2 = build()
        opt2.load_state_dict(opt_state)
        sched2.load_state_dict(state)
        assert _trajectory(opt2, sched2.step, 12) == rest, split
    assert pickle.loads(pickle.dumps(sched)).warmup_steps == 5


def test_gradual_warmup_errors() -> None:
    opt = _sgd()
    with pytest.raises(ValueError, match=r"`warmup_steps` must be >= 0, got -1"):
        GradualWarmup(opt, warmup_steps=-1)
    with pytest.raises(ValueError, match=r"`multiplier` must be >= 1, got 0.5"):
        GradualWarmup(opt, warmup_steps=3, multiplier=0.5)
    with pytest.raises(
        ValueError, match=r"`start_factor` must be in \[0, multiplier=2.0\], got 3.0"
    ):
        GradualWarmup(opt, warmup_steps=3, multiplier=2.0, start_factor=3.0)
    with pytest.raises(ValueError, match=r"`after_scheduler` must be built on the same optimizer"):
        GradualWarmup(opt, warmup_steps=3, after_scheduler=StepLR(_sgd(), 2))
    with pytest.raises(TypeError, match=r"`after_scheduler` must be a torch LRScheduler"):
        GradualWarmup(opt, warmup_steps=3, after_scheduler="cosine")  # type: ignore[arg-type]
    sched = GradualWarmup(_sgd(), warmup_steps=3)
    with pytest.raises(TypeError, match=r"step\(epoch\) is not supported"):
        sched.step(5)


def test_after_warmup_proxy_defers_the_wrapped_scheduler() -> None:
    opt = _sgd((0.1,))
    epoch_sched = StepLR(opt, step_size=1, gamma=0.5)
    warmup = GradualWarmup(opt, warmup_steps=5)
    proxy = _AfterWarmup(epoch_sched, warmup)
    lrs = []
    for t in range(12):  # 3 steps per "epoch"; the proxy is stepped at each epoch end
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        warmup.step()
        if t % 3 == 2:
            proxy.step()
    assert lrs[:6] == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08, 0.1])
    # epoch ending at step 5 is the first one after the hand-over: StepLR halves from there
    assert lrs[6:] == pytest.approx([0.05, 0.05, 0.05, 0.025, 0.025, 0.025])
    state = proxy.state_dict()
    assert state["after_scheduler"]["last_epoch"] == 3  # forwarded at the ends of t=5, 8, 11


def test_hook_stepped_slot_steps_owned_on_optimizer_step_and_round_trips() -> None:
    """The manual-optimization slot: the warmup follows real optimizer steps; the module's
    own step() calls reach its scheduler only after the hand-over; state round-trips."""

    def build() -> tuple[torch.optim.Optimizer, _HookStepped]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        user = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return opt, _HookStepped(opt, GradualWarmup(opt, warmup_steps=2), user)

    opt, slot = build()
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        slot.step()  # the module's own call
    # ramp 0, 0.05, hand-over 0.1 (StepLR's step 0), then StepLR halves every step
    assert lrs == pytest.approx([0.0, 0.05, 0.1, 0.05, 0.025])
    state = slot.state_dict()
    _, slot2 = build()
    slot2.load_state_dict(state)
    assert slot2.state_dict() == state
    slot.detach()
    opt.step()  # no longer stepped by the optimizer
    assert slot.owned.last_epoch == state["owned"]["last_epoch"]
    # a replaced scheduler's slot (no user scheduler) drops the module's calls
    opt3 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    dropped = _HookStepped(opt3)
    dropped.step()
    assert opt3.param_groups[0]["lr"] == 0.1 and not dropped.released
