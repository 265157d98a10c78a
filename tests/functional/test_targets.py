"""Target helpers: smooth_targets against F.cross_entropy(label_smoothing=ε), hard targets."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F

import lightning_tricks.functional.targets as targets_module
from lightning_tricks.functional import hard_targets, one_hot, smooth_targets


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35, 1.0])
def test_smooth_targets_equals_cross_entropy_label_smoothing(eps: float) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 7, generator=g)
    y = torch.randint(0, 7, (16,), generator=g)
    ours = F.cross_entropy(logits, smooth_targets(y, eps, num_classes=7))
    torch.testing.assert_close(ours, F.cross_entropy(logits, y, label_smoothing=eps))
    probs = torch.softmax(torch.randn(16, 7, generator=g), dim=1)  # soft targets
    ours = F.cross_entropy(logits, smooth_targets(probs, eps))
    torch.testing.assert_close(ours, F.cross_entropy(logits, probs, label_smoothing=eps))


def test_smooth_targets_formula_is_exact_for_index_targets() -> None:
    y = torch.tensor([2, 0, 3])
    eps, k = 0.1, 4
    expected = (1 - eps) * F.one_hot(y, k).float() + eps / k
    assert torch.equal(smooth_targets(y, eps, k), expected)
    assert torch.equal(smooth_targets(F.one_hot(y, k).float(), eps), expected)


def test_smooth_targets_keeps_row_totals_and_inputs() -> None:
    multi = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    before = multi.clone()
    out = smooth_targets(multi, 0.2)
    torch.testing.assert_close(out.sum(1), multi.sum(1))
    torch.testing.assert_close(out[0], 0.8 * multi[0] + 0.2 * 2 / 4)
    assert torch.equal(multi, before) and out.dtype == torch.float32
    half = smooth_targets(multi.half(), 0.2)
    assert half.dtype == torch.float32


def test_smoothing_is_linear_so_order_with_mixing_does_not_matter() -> None:
    a, b = torch.eye(5)[1], torch.eye(5)[3]
    lam, eps = 0.3, 0.1
    mixed_then_smoothed = smooth_targets((lam * a + (1 - lam) * b)[None], eps)
    smoothed_then_mixed = lam * smooth_targets(a[None], eps) + (1 - lam) * smooth_targets(
        b[None], eps
    )
    torch.testing.assert_close(mixed_then_smoothed, smoothed_then_mixed)


def test_smooth_targets_errors() -> None:
    with pytest.raises(ValueError, match=r"`smoothing` must be in \[0, 1\], got 1.5"):
        smooth_targets(torch.tensor([0]), 1.5, 2)
    with pytest.raises(TypeError, match="`smoothing` must be a float"):
        smooth_targets(torch.tensor([0]), "0.1", 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="need `num_classes`"):
        smooth_targets(torch.tensor([0]), 0.1)
    with pytest.raises(ValueError, match="target class 2 is out of range"):
        smooth_targets(torch.tensor([2]), 0.1, 2)
    with pytest.raises(ValueError, match="3 columns but `num_classes`=2"):
        smooth_targets(torch.zeros(1, 3), 0.1, 2)


def test_hard_targets_and_one_hot() -> None:
    soft = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    assert hard_targets(soft).tolist() == [1, 0]
    assert hard_targets(torch.tensor([2, 1])).tolist() == [2, 1]
    assert torch.equal(hard_targets(one_hot(torch.tensor([2, 0]), 3)), torch.tensor([2, 0]))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(targets_module, extraglobs={"torch": torch}, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
