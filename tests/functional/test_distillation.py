"""kd_loss and DistillationLoss against hand-written formulas and timm's distillation task."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_tricks.functional import kd_loss
from lightning_tricks.losses import DistillationLoss


def _naive_kd(s: torch.Tensor, t: torch.Tensor, temperature: float) -> float:
    """T² · mean_i Σ_k p_t log(p_t / p_s), one sample and one class at a time."""
    total = 0.0
    for i in range(s.shape[0]):
        zs = [math.exp(v / temperature) for v in s[i].tolist()]
        zt = [math.exp(v / temperature) for v in t[i].tolist()]
        ps = [v / sum(zs) for v in zs]
        pt = [v / sum(zt) for v in zt]
        total += sum(b * math.log(b / a) for a, b in zip(ps, pt) if b > 0)
    return temperature**2 * total / s.shape[0]


def _naive_ce(s: torch.Tensor, y: torch.Tensor) -> float:
    total = 0.0
    for i in range(s.shape[0]):
        row = s[i].tolist()
        log_z = math.log(sum(math.exp(v) for v in row))
        probs = [0.0] * len(row)
        if y.ndim == 1:
            probs[int(y[i])] = 1.0
        else:
            probs = y[i].tolist()
        total -= sum(p * (v - log_z) for p, v in zip(probs, row))
    return total / s.shape[0]


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_kd_loss_equals_hand_formula(temperature: float) -> None:
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(6, 5, generator=gen, dtype=torch.float64) * 3
    t = torch.randn(6, 5, generator=gen, dtype=torch.float64) * 3
    got = kd_loss(s, t, temperature)
    assert got.dtype == torch.float64 and got.ndim == 0
    assert got.item() == pytest.approx(_naive_kd(s, t, temperature), rel=1e-12, abs=1e-12)


def test_kd_loss_zero_for_equal_logits_and_nonnegative() -> None:
    s = torch.randn(4, 7)
    assert kd_loss(s, s.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(s, torch.randn(4, 7), 3.0).item() > 0
    # invariant to a per-row shift of either side (softmax)
    t = torch.randn(4, 7)
    a = kd_loss(s, t, 2.0)
    b = kd_loss(s + 5.0, t - torch.arange(4.0).unsqueeze(1), 2.0)
    torch.testing.assert_close(a, b)


def test_kd_loss_exact_where_teacher_probability_underflows() -> None:
    s = torch.tensor([[0.0, 1.0, 2.0]])
    t = torch.tensor([[0.0, 0.0, -1e4]])  # p_t[2] == 0 exactly: 0 · log 0 := 0
    got = kd_loss(s, t, 1.0)
    assert torch.isfinite(got)
    p_s = s.log_softmax(1)
    expected = -(0.5 * p_s[0, 0] + 0.5 * p_s[0, 1]) + math.log(0.5)
    torch.testing.assert_close(got, expected)


def test_kd_loss_gradient_matches_closed_form() -> None:
    """d/ds of T²·KL is T·(p_s − p_t) / N (Hinton et al., eq. 2)."""
    temperature = 3.0
    s = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    t = torch.randn(5, 4, dtype=torch.float64)
    kd_loss(s, t, temperature).backward()
    p_s = (s.detach() / temperature).softmax(1)
    p_t = (t / temperature).softmax(1)
    torch.testing.assert_close(s.grad, temperature * (p_s - p_t) / 5)


def test_kd_loss_reduced_precision_upcasts() -> None:
    s, t = torch.randn(8, 10), torch.randn(8, 10)
    got = kd_loss(s.bfloat16(), t.bfloat16(), 4.0)
    assert got.dtype == torch.float32
    ref = kd_loss(s.bfloat16().float(), t.bfloat16().float(), 4.0)
    torch.testing.assert_close(got, ref)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert kd_loss(s, t, 4.0).dtype == torch.float32


def test_kd_loss_bad_input() -> None:
    s = torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"`temperature` must be a finite number > 0, got 0.0"):
        kd_loss(s, s, 0.0)
    with pytest.raises(ValueError, match=r"`temperature` must be a finite number > 0, got -1.0"):
        kd_loss(s, s, -1)
    with pytest.raises(ValueError, match=r"got inf"):
        kd_loss(s, s, float("inf"))
    with pytest.raises(TypeError, match=r"`temperature` must be a real number > 0, got str"):
        kd_loss(s, s, "4")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got bool"):
        kd_loss(s, s, True)
    with pytest.raises(ValueError, match=r"student \(2, 3\) and teacher \(2, 4\).*same classes"):
        kd_loss(s, torch.randn(2, 4), 1.0)
    with pytest.raises(ValueError, match=r"one shape \(N, K\) \(or \(N,\) for a one-logit"):
        kd_loss(torch.randn(6), torch.randn(6, 1), 1.0)
    with pytest.raises(ValueError, match=r"student \(2, 3, 1\)"):
        kd_loss(torch.randn(2, 3, 1), torch.randn(2, 3, 1), 1.0)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kd_loss_one_logit_is_the_bernoulli_kl(temperature: float) -> None:
    """A sigmoid head: T² · KL(Bernoulli(σ(t/T)) ‖ Bernoulli(σ(s/T))), per sample by hand."""
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(7, generator=gen, dtype=torch.float64) * 3
    t = torch.randn(7, generator=gen, dtype=torch.float64) * 3
    total = 0.0
    for a, b in zip(s.tolist(), t.tolist()):
        p_s, p_t = 1 / (1 + math.exp(-a / temperature)), 1 / (1 + math.exp(-b / temperature))
        total += p_t * math.log(p_t / p_s) + (1 - p_t) * math.log((1 - p_t) / (1 - p_s))
    expected = temperature**2 * total / 7
    assert kd_loss(s, t, temperature).item() == pytest.approx(expected, rel=1e-12)
    assert kd_loss(s[:, None], t[:, None], temperature).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
def test_distillation_loss_equals_hand_formula(alpha: float, soft: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    t = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (5,), generator=gen)
    if soft:
        y = torch.rand(5, 4, generator=gen, dtype=torch.float64)
        y = y / y.sum(1, keepdim=True)
    loss_fn = DistillationLoss(alpha=alpha, temperature=2.5)
    parts = loss_fn.parts(s, t, y)
    kd, ce = _naive_kd(s, t, 2.5), _naive_ce(s, y)
    assert parts.kd_loss.item() == pytest.approx(kd, rel=1e-12)
    assert parts.ce_loss.item() == pytest.approx(ce, rel=1e-12)
    assert parts.loss.item() == pytest.approx(alpha * kd + (1 - alpha) * ce, rel=1e-12, abs=1e-15)
    assert loss_fn(s, t, y).item() == parts.loss.item()


def test_distillation_loss_soft_one_hot_equals_index_targets() -> None:
    s, t = torch.randn(6, 5), torch.randn(6, 5)
    y = torch.randint(0, 5, (6,))
    loss_fn = DistillationLoss(0.5, 2.0)
    torch.testing.assert_close(loss_fn(s, t, y), loss_fn(s, t, F.one_hot(y, 5).float()))


def test_distillation_loss_matches_timm_logit_distillation_task() -> None:
    """timm's LogitDistillationTask (complementary mode: task weight = 1 - alpha) as oracle."""
    distillation = pytest.importorskip("timm.task.distillation")

    class Net(nn.Module):
        pretrained_cfg = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
        num_classes, in_chans = 4, 3

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    torch.manual_seed(0)
    student, teacher = Net(), Net()
    alpha, temperature = 0.7, 3.0
    task = distillation.LogitDistillationTask(
        student,
        teacher,
        criterion=nn.CrossEntropyLoss(),
        task_loss_weight=1 - alpha,
        temperature=temperature,
        verbose=False,
    )
    x, y = torch.randn(8, 3, 4, 4), torch.randint(0, 4, (8,))
    ref = task(x, y)
    ours = DistillationLoss(alpha, temperature).parts(student(x), teacher(x).detach(), y)
    torch.testing.assert_close(ours.kd_loss, ref["kd_loss"])
    torch.testing.assert_close(ours.ce_loss, ref["task_loss"])
    torch.testing.assert_close(ours.loss, ref["loss"])


def test_distillation_loss_bad_input_and_repr() -> None:
    with pytest.raises(ValueError, match=r"`alpha` must be a finite float in \[0, 1\], got 1.5"):
        DistillationLoss(alpha=1.5)
    with pytest.raises(ValueError, match=r"`alpha` must be a finite float in \[0, 1\], got -0.1"):
        DistillationLoss(alpha=-0.1)
    with pytest.raises(ValueError, match=r"got nan"):
        DistillationLoss(alpha=float("nan"))
    with pytest.raises(TypeError, match=r"`alpha` must be a finite float in \[0, 1\], got str"):
        DistillationLoss(alpha="0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`temperature` must be a finite number > 0, got 0.0"):
        DistillationLoss(temperature=0)
    loss_fn = DistillationLoss(alpha=0.25, temperature=8)
    assert repr(loss_fn) == "DistillationLoss(alpha=0.25, temperature=8.0)"
    s, t = torch.randn(3, 4), torch.randn(3, 4)
    with pytest.raises(
        ValueError, match=r"shape \(3,\) or probabilities of shape \(3, 4\).*\(3, 5\)"
    ):
        loss_fn(s, t, torch.rand(3, 5))
    with pytest.raises(ValueError, match=r"torch.float32 of shape \(3,\)"):
        loss_fn(s, t, torch.rand(3))
    with pytest.raises(ValueError, match=r"same classes"):
        loss_fn(s, torch.randn(3, 5), torch.tensor([0, 1, 2]))
    clone = pickle.loads(pickle.dumps(loss_fn))
    assert (clone.alpha, clone.temperature) == (0.25, 8.0)


def test_distillation_loss_under_autocast_and_grad_flow() -> None:
    s = torch.randn(4, 6, requires_grad=True)
    t = torch.randn(4, 6)
    y = torch.softmax(torch.randn(4, 6), 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = DistillationLoss()(s.bfloat16(), t.bfloat16(), y)
    assert out.dtype == torch.float32
    out.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
