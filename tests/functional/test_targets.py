"""Mixed-label targets (DESIGN.md §1): hard labels outside losses, the mixture inside them.

Every loss is compared with the same loss on the dense probabilities ``y.to_dense(K)``;
hard labels, mixtures and smoothing against naive per-sample loops.
"""

from __future__ import annotations

import copy
import doctest
import io
import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torchmetrics.classification import MulticlassAccuracy

import lightning_tricks.functional.targets as targets_module
from lightning_tricks.functional import (
    MixedTargets,
    MixUpParams,
    hard_targets,
    mix_targets,
    mixup_batch,
    one_hot,
    smooth_targets,
    to_dense,
)

K = 5
N = 12


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add overhead (a 2-thread BCE on 12 numbers takes
    milliseconds on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def mixed(components: int, smoothing: float = 0.0, k: int = K, n: int = N, seed: int = 0):
    """Labels ``(n,)`` and a mixture of them with 1, 2 or 8 components (per-sample weights)."""
    g = gen(seed)
    y = torch.randint(0, k, (n,), generator=g)
    if components == 1:
        out = smooth_targets(y, smoothing)
    else:
        lam = torch.rand(n, generator=g)
        out = mix_targets(y, [(None, lam), (torch.randperm(n, generator=g), 1 - lam)])
        if components == 8:  # then four shuffles as RICAP: 2 x 4 components
            w = torch.tensor([0.1, 0.2, 0.3, 0.4])
            perms = [torch.randperm(n, generator=g) for _ in range(3)]
            out = mix_targets(out, list(zip([None, *perms], w.tolist(), strict=True)))
        out = smooth_targets(out, smoothing)
    assert isinstance(out, MixedTargets) and len(out.components) == components
    return y, out


def naive_dense(y: MixedTargets, k: int) -> Tensor:
    """``(1 - ε) Σ_c w_c onehot(l_c) + ε / K``, one sample and one component at a time."""
    out = torch.zeros(y.shape[0], k)
    for lab, wt in y.components:
        for i in range(y.shape[0]):
            out[i, int(lab[i])] += float(wt[i])
    return out * (1 - y.smoothing) + y.smoothing / k


def naive_hard(y: MixedTargets) -> list[int]:
    """Per sample: the label of the largest total weight, the first component's on a tie."""
    hard = []
    for i in range(y.shape[0]):
        totals: dict[int, float] = {}
        for lab, wt in y.components:
            totals[int(lab[i])] = totals.get(int(lab[i]), 0.0) + float(wt[i])
        best = max(totals.values())
        hard.append(next(c for c in totals if totals[c] == best))  # dicts keep insertion order
    return hard


# ------------------------------------------------------------------ values: hard labels
@pytest.mark.parametrize("components", [1, 2, 8])
def test_values_are_the_hard_labels_and_dense_is_the_mixture(components: int) -> None:
    _, y = mixed(components, smoothing=0.1)
    assert y.dtype == torch.int64 and y.shape == (N,)
    assert y.tolist() == naive_hard(y)
    dense = y.to_dense(K)
    assert dense.dtype == torch.float32 and dense.shape == (N, K)
    torch.testing.assert_close(dense, naive_dense(y, K), rtol=0, atol=1e-6)
    torch.testing.assert_close(dense.sum(1), torch.ones(N))
    assert torch.equal(to_dense(y, K), dense)


def test_mixup_half_tie_keeps_each_samples_own_label() -> None:
    y0 = torch.tensor([0, 1, 2, 3])
    perm = torch.tensor([1, 0, 3, 2])
    y = mix_targets(y0, [(None, 0.5), (perm, 0.5)])
    assert y.tolist() == [0, 1, 2, 3]
    _, ym = mixup_batch(torch.zeros(4, 1, 2, 2), y0, MixUpParams(lam=0.5, perm=perm))
    assert ym.tolist() == [0, 1, 2, 3]
    # per-sample weights: ties resolved per sample, the largest weight wins elsewhere
    lam = torch.tensor([0.5, 0.4, 0.6, 0.5])
    y = mix_targets(y0, [(None, lam), (perm, 1 - lam)])
    assert y.tolist() == [0, 0, 2, 3]


def test_components_that_share_a_class_add_up() -> None:
    """Weights 0.3 (own), 0.3, 0.4: two components of one class (0.6) beat the largest single
    weight, whether that class is the sample's own label or not."""
    y0 = torch.tensor([0, 1, 1, 0, 2])
    p1, p2 = torch.tensor([3, 2, 0, 4, 1]), torch.tensor([1, 4, 3, 2, 0])
    y = mix_targets(y0, [(None, 0.3), (p1, 0.3), (p2, 0.4)])
    assert y.tolist() == naive_hard(y) == [0, 1, 0, 1, 0]
    assert [lab.tolist() for lab, _ in y.components] == [
        y0.tolist(),
        y0[p1].tolist(),
        y0[p2].tolist(),
    ]


# ------------------------------------------------------------------ non-loss ops: plain
PLAIN_OPS: list[tuple[str, Callable[[Tensor], Any]]] = [
    ("add", lambda y: y + 1),
    ("eq", lambda y: y == 2),
    ("eq_tensor", lambda y: torch.arange(N) % K == y),
    ("argmax_eq", lambda y: torch.eye(N, K).argmax(1) == y),
    ("index", lambda y: y[3]),
    ("slice", lambda y: y[2:5]),
    ("mask", lambda y: y[y > 1]),
    ("sum", lambda y: y.sum()),
    ("bincount", lambda y: torch.bincount(y, minlength=K)),
    ("stack", lambda y: torch.stack([y, y])),
    ("cat", lambda y: torch.cat([y, y])),
    ("mul_float", lambda y: y * 0.5),
]


@pytest.mark.parametrize(("name", "op"), PLAIN_OPS, ids=[o[0] for o in PLAIN_OPS])
def test_other_ops_see_hard_labels_and_return_plain_tensors(name, op) -> None:
    _, y = mixed(2)
    out = op(y)
    assert type(out) is Tensor
    assert torch.equal(out, op(y.hard()))
    assert len(y.components) == 2 and not y._ledger.consumed  # the mixture is untouched


def test_len_tolist_hard_and_repr() -> None:
    _, y = mixed(8, 0.1)
    assert len(y) == N and y.tolist() == naive_hard(y)
    assert type(y.hard()) is Tensor and y.hard().tolist() == y.tolist()
    assert repr(y).startswith("MixedTargets(") and "components=8, smoothing=0.1" in repr(y)


def test_torchmetrics_accuracy_sees_hard_labels_and_its_state_is_plain() -> None:
    _, y = mixed(2)
    logits = torch.randn(N, K, generator=gen(3))
    ours, ref = MulticlassAccuracy(K), MulticlassAccuracy(K)
    ours.update(logits, y)
    ref.update(logits, y.hard())
    assert torch.equal(ours.compute(), ref.compute())
    for value in ours.metric_state.values():
        assert type(value) is Tensor
    buf = io.BytesIO()
    torch.save(ours.metric_state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)  # a subclass would be refused here
    assert all(torch.equal(loaded[k], v) for k, v in ours.metric_state.items())


def test_a_metric_updated_before_the_loss_leaves_the_mixture_to_the_loss() -> None:
    """torchmetrics casts and reshapes the targets it is given; the loss that follows still
    sees the mixture (the order of a typical ``training_step``)."""
    _, y = mixed(8, 0.1)
    logits = torch.randn(N, K, generator=gen(4))
    metric = MulticlassAccuracy(K)
    metric.update(logits, y)
    metric(logits, y)
    (logits.argmax(1) == y).float().mean()
    assert len(y.components) == 8 and not y._ledger.consumed
    torch.testing.assert_close(F.cross_entropy(logits, y), F.cross_entropy(logits, y.to_dense(K)))
    assert y._ledger.consumed


# ------------------------------------------------------------------ ops that keep the mixture
KEEP_OPS: list[tuple[str, Callable[[Tensor], Tensor]]] = [
    ("float", lambda y: y.float()),
    ("double", lambda y: y.double()),
    ("to_float", lambda y: y.to(torch.float32)),
    ("view", lambda y: y.view(-1, 1)),
    ("reshape", lambda y: y.reshape(N, 1)),
    ("unsqueeze", lambda y: y.unsqueeze(1)),
    ("squeeze", lambda y: y.view(-1, 1).squeeze(1)),
    ("flatten_2d", lambda y: y.view(-1, 1).flatten()),
    ("clone", lambda y: y.clone()),
    ("detach", lambda y: y.detach()),
    ("one_hot", lambda y: F.one_hot(y, K)),
    ("one_hot_float", lambda y: F.one_hot(y, K).float()),
]


def _same_mixture(a: MixedTargets, b: MixedTargets) -> bool:
    return (
        len(a.components) == len(b.components) > 0
        and all(
            torch.equal(la, lb) and torch.equal(wa, wb)
            for (la, wa), (lb, wb) in zip(a.components, b.components, strict=True)
        )
        and a.smoothing == b.smoothing
        and a._ledger is b._ledger
    )


@pytest.mark.parametrize(("name", "op"), KEEP_OPS, ids=[o[0] for o in KEEP_OPS])
def test_casts_and_reshapes_keep_the_mixture(name, op) -> None:
    _, y = mixed(2, 0.1)
    out = op(y)
    assert isinstance(out, MixedTargets) and _same_mixture(out, y)
    assert torch.equal(out.as_subclass(Tensor), op(y.hard()))  # values: the op on the labels
    assert len(y.components) == 2  # the source keeps its mixture too


# ops that return their input itself (`y = y.long()`, `y.to(device)` are common in modules)
NOOP_OPS: list[tuple[str, Callable[[Tensor], Tensor]]] = [
    ("long", lambda y: y.long()),
    ("to_device", lambda y: y.to(y.device)),
    ("to_long", lambda y: y.to(torch.long)),
    ("cpu", lambda y: y.cpu()),
    ("contiguous", lambda y: y.contiguous()),
    ("flatten_1d", lambda y: y.flatten()),
    ("type_as", lambda y: y.type_as(torch.zeros(1, dtype=torch.long))),
]


@pytest.mark.parametrize(("name", "op"), NOOP_OPS, ids=[o[0] for o in NOOP_OPS])
def test_no_op_casts_keep_the_mixture(name, op) -> None:
    _, y = mixed(2, 0.1)
    logits = torch.randn(N, K, generator=gen(1))
    expected = F.cross_entropy(logits, y.to_dense(K))
    out = op(y)
    assert isinstance(out, MixedTargets) and len(out.components) == 2
    assert len(y.components) == 2
    torch.testing.assert_close(F.cross_entropy(logits, out), expected)


@pytest.mark.parametrize(
    "write",
    [lambda y: y.__setitem__(0, 1), lambda y: y.add_(1), lambda y: y.clamp_(max=2)],
    ids=["setitem", "add_", "clamp_"],
)
def test_in_place_writes_drop_the_mixture(write) -> None:
    _, y = mixed(2)
    y = y.clone()
    expected = y.hard().clone()
    write(expected)
    write(y)
    assert isinstance(y, MixedTargets) and y.components == [] and torch.equal(y.hard(), expected)
    logits = torch.randn(N, K + 1, generator=gen(1))
    loss = F.cross_entropy(logits, y)  # the loss now sees the hard labels
    torch.testing.assert_close(loss, F.cross_entropy(logits, expected))
    assert not y._ledger.consumed
    lp = F.log_softmax(logits, 1)
    torch.testing.assert_close(F.nll_loss(lp, y), F.nll_loss(lp, expected))
    torch.testing.assert_close(y.to_dense(K + 1), F.one_hot(expected, K + 1).float())


def test_pickle_round_trip() -> None:
    _, y = mixed(8, 0.1)
    back = pickle.loads(pickle.dumps(y))
    assert isinstance(back, MixedTargets) and back.tolist() == y.tolist()
    assert back.smoothing == y.smoothing and len(back.components) == 8
    assert torch.equal(back.to_dense(K), y.to_dense(K))


def test_deepcopy_round_trip() -> None:
    _, y = mixed(2, 0.1)
    back = copy.deepcopy(y)
    assert isinstance(back, MixedTargets) and back.tolist() == y.tolist()
    assert torch.equal(back.to_dense(K), y.to_dense(K))


# ------------------------------------------------------------------ losses: cross-entropy
def _logits(n: int, k: int, bf16: bool, seed: int = 5) -> Tensor:
    logits = torch.randn(n, k, generator=gen(seed)) * 2
    return logits.bfloat16() if bf16 else logits


def _autocast(bf16: bool):
    if bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


TOL = {"rtol": 1e-6, "atol": 1e-6}


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("components", [1, 2, 8])
def test_cross_entropy_and_nll_equal_the_dense_loss(
    components: int, smoothing: float, label_smoothing: float, bf16: bool
) -> None:
    _, y = mixed(components, smoothing)
    dense = y.to_dense(K)
    logits = _logits(N, K, bf16)
    weight = torch.rand(K, generator=gen(7)) + 0.5
    for w in (None, weight):
        for reduction in ("none", "sum", "mean"):
            ref = F.cross_entropy(
                logits.float(), dense, w, reduction=reduction, label_smoothing=label_smoothing
            )
            module = nn.CrossEntropyLoss(w, reduction=reduction, label_smoothing=label_smoothing)
            with _autocast(bf16):
                got = F.cross_entropy(
                    logits, y, w, reduction=reduction, label_smoothing=label_smoothing
                )
                got_module = module(logits, y)
            assert got.dtype == torch.float32
            torch.testing.assert_close(got, ref, **TOL)
            torch.testing.assert_close(got_module, ref, **TOL)
            if label_smoothing:
                continue
            # nll_loss on log-probabilities: -Σ_k w_k q_ik log p_ik, mean over N
            with _autocast(bf16):
                log_probs = F.log_softmax(logits, dim=1)
                got = F.nll_loss(log_probs, y, w, reduction=reduction)
                got_module = nn.NLLLoss(w, reduction=reduction)(log_probs, y)
            per_sample = -(dense * log_probs.float() * (1 if w is None else w)).sum(1)
            ref = {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}
            torch.testing.assert_close(got, ref[reduction], **TOL)
            torch.testing.assert_close(got_module, ref[reduction], **TOL)


def test_one_component_without_smoothing_equals_index_cross_entropy() -> None:
    y0 = torch.randint(0, K, (N,), generator=gen(2))
    y = smooth_targets(y0, 0.0)
    logits = torch.randn(N, K, generator=gen(3))
    for ls in (0.0, 0.3):
        for reduction in ("none", "sum", "mean"):
            torch.testing.assert_close(
                F.cross_entropy(logits, y, reduction=reduction, label_smoothing=ls),
                F.cross_entropy(logits, y0, reduction=reduction, label_smoothing=ls),
            )


def naive_ignore_loss(logits, y, weight, ignore_index, reduction, label_smoothing):
    """Per sample: drop the components whose label is ignored; mass m = the weight left;
    loss = -Σ_k weight_k ((1 - ε) q_k + ε m / K) log p_k; mean = Σ loss / Σ m."""
    log_probs = F.log_softmax(logits.float(), 1)
    k = logits.shape[1]
    eps = 1 - (1 - y.smoothing) * (1 - label_smoothing)
    w = torch.ones(k) if weight is None else weight
    losses, masses = [], []
    for i in range(y.shape[0]):
        q = torch.zeros(k)
        for lab, wt in y.components:
            if int(lab[i]) != ignore_index:
                q[int(lab[i])] += float(wt[i])
        m = float(q.sum())
        target = (1 - eps) * q + eps * m / k
        losses.append(-(w * target * log_probs[i]).sum())
        masses.append(m)
    losses_t = torch.stack(losses)
    if reduction == "none":
        return losses_t
    if reduction == "sum":
        return losses_t.sum()
    return losses_t.sum() / sum(masses)


@pytest.mark.parametrize("ignore_index", [-100, 3])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_cross_entropy_ignore_index(ignore_index: int, label_smoothing: float, reduction: str):
    g = gen(4)
    y0 = torch.randint(0, K, (N,), generator=g)
    y0[[1, 4, 5]] = ignore_index
    logits = torch.randn(N, K, generator=g)
    weight = torch.rand(K, generator=g) + 0.5
    kw = {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": label_smoothing}
    # one component, no weight: exactly PyTorch's index cross-entropy
    single = smooth_targets(y0, 0.0)
    torch.testing.assert_close(
        F.cross_entropy(logits, single, **kw), F.cross_entropy(logits, y0, **kw)
    )
    torch.testing.assert_close(
        nn.CrossEntropyLoss(**kw)(logits, single), F.cross_entropy(logits, y0, **kw)
    )
    if reduction != "mean":  # with class weights too (mean: normalised by the label mass)
        torch.testing.assert_close(
            F.cross_entropy(logits, single, weight, **kw), F.cross_entropy(logits, y0, weight, **kw)
        )
    # mixtures: the ignored components are dropped
    lam = torch.rand(N, generator=g)
    mix = mix_targets(y0, [(None, lam), (torch.randperm(N, generator=g), 1 - lam)])
    mix = smooth_targets(mix, 0.1)
    for w in (None, weight):
        ref = naive_ignore_loss(logits, mix, w, ignore_index, reduction, label_smoothing)
        torch.testing.assert_close(F.cross_entropy(logits, mix, w, **kw), ref, **TOL)
        if not label_smoothing:
            lp = F.log_softmax(logits, 1)
            kw_nll = {"ignore_index": ignore_index, "reduction": reduction}
            torch.testing.assert_close(F.nll_loss(lp, mix, w, **kw_nll), ref, **TOL)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("components", [1, 2, 8])
def test_gradients_equal_the_reference_gradients(components, weighted, reduction) -> None:
    """The analytic backward of the mixed losses against autograd through the naive
    reference (ignored labels, class weights, both smoothings, each reduction)."""
    g = gen(components)
    y0 = torch.randint(0, K, (N,), generator=g)
    y0[[0, 3]] = -100  # ignored labels, wherever the mixing moves them
    y = smooth_targets(y0, 0.1)
    if components > 1:
        lam = torch.rand(N, generator=g)
        y = mix_targets(y, [(None, lam), (torch.randperm(N, generator=g), 1 - lam)])
    if components == 8:
        perms = [None, *(torch.randperm(N, generator=g) for _ in range(3))]
        y = mix_targets(y, list(zip(perms, [0.1, 0.2, 0.3, 0.4], strict=True)))
    assert len(y.components) == components
    logits = torch.randn(N, K, generator=gen(6), requires_grad=True)
    w = torch.rand(K, generator=gen(7)) + 0.5 if weighted else None
    upstream = torch.rand(N, generator=gen(8)) if reduction == "none" else torch.tensor(1.7)
    for ls in (0.0, 0.2):
        loss = F.cross_entropy(logits, y, w, reduction=reduction, label_smoothing=ls)
        ref = naive_ignore_loss(logits, y, w, -100, reduction, ls)
        torch.testing.assert_close(loss, ref, **TOL)
        (g_ours,) = torch.autograd.grad(loss, logits, upstream)
        (g_ref,) = torch.autograd.grad(ref, logits, upstream)
        torch.testing.assert_close(g_ours, g_ref, **TOL)
    log_probs = F.log_softmax(logits, 1)
    loss = F.nll_loss(log_probs, y, w, reduction=reduction)
    ref = naive_ignore_loss(logits, y, w, -100, reduction, 0.0)
    torch.testing.assert_close(loss, ref, **TOL)
    (g_ours,) = torch.autograd.grad(loss, logits, upstream)
    (g_ref,) = torch.autograd.grad(ref, logits, upstream)
    torch.testing.assert_close(g_ours, g_ref, **TOL)


def test_bf16_logits_get_bf16_gradients() -> None:
    _, y = mixed(2, 0.1)
    logits = (torch.randn(N, K, generator=gen(6)) * 2).bfloat16().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == torch.float32 and logits.grad.dtype == torch.bfloat16
    ref = logits.detach().float().requires_grad_(True)
    F.cross_entropy(ref, y.to_dense(K), label_smoothing=0.1).backward()
    torch.testing.assert_close(logits.grad.float(), ref.grad, rtol=1e-2, atol=1e-3)


# ------------------------------------------------------------------ losses: BCE with logits
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("components", [1, 2, 8])
def test_bce_one_logit_head_equals_the_dense_loss(components, smoothing, bf16) -> None:
    _, y = mixed(components, smoothing, k=2)
    p1 = y.to_dense(2)[:, 1]  # P(label == 1)
    logits = _logits(N, 1, bf16)
    weight = torch.rand(N, 1, generator=gen(8)) + 0.5
    pos_weight = torch.tensor([1.7])
    for shape, target in (((N,), y.float()), ((N, 1), y.view(-1, 1).float())):
        lg = logits.view(shape)
        for w in (None, weight.view(shape)):
            for reduction in ("none", "sum", "mean"):
                kw = {"weight": w, "reduction": reduction, "pos_weight": pos_weight}
                ref = F.binary_cross_entropy_with_logits(lg.float(), p1.view(shape), **kw)
                module = nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pos_weight)
                with _autocast(bf16):
                    got = F.binary_cross_entropy_with_logits(lg, target, **kw)
                    got_module = module(lg, target)
                torch.testing.assert_close(got.float(), ref, **TOL)
                torch.testing.assert_close(got_module.float(), ref, **TOL)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("components", [1, 2, 8])
def test_bce_one_logit_per_class_equals_the_dense_loss(components, smoothing, bf16) -> None:
    _, y = mixed(components, smoothing)
    dense = y.to_dense(K)
    logits = _logits(N, K, bf16)
    weight = torch.rand(K, generator=gen(8)) + 0.5
    pos_weight = torch.rand(K, generator=gen(9)) + 0.5
    target = F.one_hot(y, K).float()
    for w in (None, weight):
        for reduction in ("none", "sum", "mean"):
            kw = {"weight": w, "reduction": reduction, "pos_weight": pos_weight}
            ref = F.binary_cross_entropy_with_logits(logits.float(), dense, **kw)
            with _autocast(bf16):
                got = F.binary_cross_entropy_with_logits(logits, target, **kw)
                got_module = nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pos_weight)(
                    logits, target
                )
            torch.testing.assert_close(got.float(), ref, **TOL)
            torch.testing.assert_close(got_module.float(), ref, **TOL)


# ------------------------------------------------------------------ loss errors
def test_loss_errors() -> None:
    _, y = mixed(2)
    logits = torch.randn(N, K)
    with pytest.raises(
        ValueError, match=rf"scores of shape \(N, K\) with N={N}, got shape \(11, 5\)"
    ):
        F.cross_entropy(logits[:-1], y)
    with pytest.raises(
        ValueError, match=r"`nll_loss` with mixed targets .* got shape \(12, 5, 1\)"
    ):
        F.nll_loss(logits.unsqueeze(-1), y)
    with pytest.raises(ValueError, match=r"`reduction` must be 'none', 'mean' or 'sum', got 'avg'"):
        F.cross_entropy(logits, y, reduction="avg")
    with pytest.raises(
        ValueError, match=r"`label_smoothing` must be a finite float in \[0, 1\], got 1.5"
    ):
        F.cross_entropy(logits, y, label_smoothing=1.5)
    _, wide = mixed(2, k=10, seed=1)
    bad = int(wide.components[0][0][wide.components[0][0] >= 5][0])
    with pytest.raises(ValueError, match=rf"target class {bad} is out of range for the 5 scores"):
        F.cross_entropy(logits, wide)
    y7 = smooth_targets(torch.tensor([0, 7, 1]), 0.0)
    with pytest.raises(ValueError, match=r"target class 7 is out of range"):
        F.cross_entropy(torch.zeros(3, 5), y7)
    with pytest.raises(ValueError, match=r"target class 7 is out of range.*binary head"):
        F.binary_cross_entropy_with_logits(torch.zeros(3), y7.float())
    with pytest.raises(ValueError, match=r"target class 4 is out of range for a one-logit binary"):
        F.binary_cross_entropy_with_logits(
            torch.zeros(3, 1), smooth_targets(torch.tensor([1, 4, 0]), 0.0).view(-1, 1).float()
        )
    with pytest.raises(ValueError, match=r"expects one logit per sample .* got logits \(12, 5\)"):
        F.binary_cross_entropy_with_logits(logits, y.float())
    with pytest.raises(ValueError, match="`num_classes` is needed"):
        y.to_dense()


# ------------------------------------------------------------------ the ledger
LEDGER_LOSSES: list[tuple[str, Callable[[Tensor, MixedTargets], Any]]] = [
    ("cross_entropy", lambda lg, y: F.cross_entropy(lg, y)),
    ("CrossEntropyLoss", lambda lg, y: nn.CrossEntropyLoss(label_smoothing=0.1)(lg, y)),
    ("nll_loss", lambda lg, y: F.nll_loss(F.log_softmax(lg, 1), y)),
    (
        "bce_per_class",
        lambda lg, y: F.binary_cross_entropy_with_logits(lg, F.one_hot(y, K).float()),
    ),
    ("to_dense", lambda lg, y: y.to_dense(K)),
    ("on_a_copy", lambda lg, y: F.cross_entropy(lg, y.clone().view(-1))),
]


@pytest.mark.parametrize(("name", "loss"), LEDGER_LOSSES, ids=[c[0] for c in LEDGER_LOSSES])
def test_ledger_is_consumed_by_a_supported_loss(name, loss) -> None:
    _, y = mixed(2)
    assert not y._ledger.consumed
    loss(torch.randn(N, K), y)
    assert y._ledger.consumed  # derived tensors share the ledger of the mixture


def test_ledger_stays_unconsumed_when_no_loss_uses_the_mixture() -> None:
    _, y = mixed(2)
    logits = torch.randn(N, K)
    F.mse_loss(logits, F.one_hot(y.hard(), K).float())
    F.mse_loss(logits, F.one_hot(y, K).float())  # not a loss that understands the mixture
    (logits.argmax(1) == y).float().mean()
    MulticlassAccuracy(K).update(logits, y)
    F.cross_entropy(logits, y.hard())
    assert not y._ledger.consumed
    _, binary = mixed(2, k=2)
    F.binary_cross_entropy_with_logits(torch.zeros(N, 1), binary.view(-1, 1).float())
    assert binary._ledger.consumed and not y._ledger.consumed


# ------------------------------------------------------------------ no (N, K) one-hot
class _Recorder(TorchDispatchMode):
    """Records every aten op with the shapes and dtypes of its tensor outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, tuple[int, ...], torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, Tensor):
                self.ops.append((func.overloadpacket.__name__, tuple(t.shape), t.dtype))
        return out

    def big(self, shape: tuple[int, int]) -> list[tuple[str, torch.dtype]]:
        return [(name, dtype) for name, s, dtype in self.ops if s == shape]


# ops that would build a one-hot / dense target: creation, scatter, comparison
_ONE_HOT_MAKERS = {"zeros", "zeros_like", "new_zeros", "full", "full_like", "new_full",
                   "scatter", "scatter_add", "one_hot", "index_put", "eq", "index_add"}  # fmt: skip


def _mixture_of(n: int, k: int, components: int, seed: int = 0) -> MixedTargets:
    g = gen(seed)
    y0 = torch.randint(0, k, (n,), generator=g)
    parts = [(None, 1.0 / components)]
    parts += [(torch.randperm(n, generator=g), 1.0 / components) for _ in range(components - 1)]
    return smooth_targets(mix_targets(y0, parts), 0.1)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_mixed_losses_build_no_one_hot(loss: str, weighted: bool) -> None:
    """Forward: no (N, K) tensor made by a creation / scatter / comparison op and no
    (N, K) integer or bool tensor; forward + backward: as many (N, K) tensors for 8
    components as for 2 (the work per component is a gather, not an (N, K) pass)."""
    n, k = 6, 11
    logits = torch.randn(n, k, generator=gen(1), requires_grad=True)
    w = torch.rand(k, generator=gen(2)) + 0.5 if weighted else None
    counts = []
    for components in (2, 8):
        y = _mixture_of(n, k, components)
        with _Recorder() as fwd:
            scores = logits if loss == "cross_entropy" else F.log_softmax(logits, 1)
            out = getattr(F, loss)(scores, y, w)
        made = [(name, dtype) for name, dtype in fwd.big((n, k))
                if name.rstrip("_") in _ONE_HOT_MAKERS or not dtype.is_floating_point]  # fmt: skip
        assert made == [], fwd.ops
        with _Recorder() as bwd:
            out.backward()
        counts.append(len(fwd.big((n, k))) + len(bwd.big((n, k))))
        dense = y.to_dense(k) * (1 if w is None else w)
        ref = -(dense * F.log_softmax(logits.detach(), 1)).sum(1).mean()
        torch.testing.assert_close(out, ref, **TOL)
    assert counts[0] == counts[1], counts


# ------------------------------------------------------------------ smooth_targets
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35, 1.0])
def test_smooth_targets_equals_cross_entropy_label_smoothing(eps: float) -> None:
    g = gen(0)
    logits = torch.randn(16, 7, generator=g)
    y = torch.randint(0, 7, (16,), generator=g)
    smoothed = smooth_targets(y, eps)
    assert isinstance(smoothed, MixedTargets) and smoothed.smoothing == pytest.approx(eps)
    assert torch.equal(smoothed.hard(), y)
    ref = F.cross_entropy(logits, y, label_smoothing=eps)
    torch.testing.assert_close(F.cross_entropy(logits, smoothed), ref)
    torch.testing.assert_close(F.cross_entropy(logits, smooth_targets(y, eps, num_classes=7)), ref)
    probs = torch.softmax(torch.randn(16, 7, generator=g), dim=1)  # soft targets
    ours = F.cross_entropy(logits, smooth_targets(probs, eps))
    torch.testing.assert_close(ours, F.cross_entropy(logits, probs, label_smoothing=eps))


def test_smooth_targets_formula_is_exact() -> None:
    y = torch.tensor([2, 0, 3])
    eps, k = 0.1, 4
    expected = (1 - eps) * F.one_hot(y, k).float() + eps / k
    assert torch.equal(smooth_targets(y, eps, k), expected)
    assert torch.equal(smooth_targets(y, eps).to_dense(k), expected)
    assert torch.equal(smooth_targets(F.one_hot(y, k).float(), eps), expected)
    assert smooth_targets(y, eps, k).dtype == torch.float32


def test_smooth_targets_keeps_row_totals_and_inputs() -> None:
    multi = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    before = multi.clone()
    out = smooth_targets(multi, 0.2)
    assert type(out) is Tensor and out.shape == (3, 4)
    torch.testing.assert_close(out.sum(1), multi.sum(1))
    torch.testing.assert_close(out[0], 0.8 * multi[0] + 0.2 * 2 / 4)
    assert torch.equal(multi, before) and out.dtype == torch.float32
    assert smooth_targets(multi.half(), 0.2).dtype == torch.float32
    y = torch.tensor([1, 2])
    y0 = y.clone()
    smooth_targets(y, 0.3)
    assert torch.equal(y, y0)


@pytest.mark.parametrize(("a", "b"), [(0.1, 0.2), (0.0, 0.3), (0.5, 0.5)])
def test_smoothing_twice_composes(a: float, b: float) -> None:
    y = torch.tensor([0, 3, 1])
    twice = smooth_targets(smooth_targets(y, a), b)
    assert twice.smoothing == pytest.approx(1 - (1 - a) * (1 - b))
    torch.testing.assert_close(twice.to_dense(K), smooth_targets(y, 1 - (1 - a) * (1 - b), K))
    dense_twice = smooth_targets(smooth_targets(y, a, K), b)
    torch.testing.assert_close(twice.to_dense(K), dense_twice)


def test_smoothing_is_linear_so_order_with_mixing_does_not_matter() -> None:
    y = torch.tensor([1, 3, 0, 2])
    perm = torch.tensor([2, 0, 3, 1])
    lam = torch.tensor([0.3, 0.6, 0.5, 0.9])
    parts = [(None, lam), (perm, 1 - lam)]
    mixed_then_smoothed = smooth_targets(mix_targets(y, parts), 0.1)
    smoothed_then_mixed = mix_targets(smooth_targets(y, 0.1), parts)
    assert isinstance(
        smoothed_then_mixed, MixedTargets
    ) and smoothed_then_mixed.smoothing == pytest.approx(0.1)
    torch.testing.assert_close(mixed_then_smoothed.to_dense(K), smoothed_then_mixed.to_dense(K))
    dense = mix_targets(smooth_targets(y, 0.1, K), parts)  # the dense path agrees
    torch.testing.assert_close(dense, mixed_then_smoothed.to_dense(K))
    assert mixed_then_smoothed.tolist() == smoothed_then_mixed.tolist()


def test_smooth_targets_errors() -> None:
    with pytest.raises(
        ValueError, match=r"`smoothing` must be a finite float in \[0, 1\], got 1.5"
    ):
        smooth_targets(torch.tensor([0]), 1.5, 2)
    with pytest.raises(
        ValueError, match=r"`smoothing` must be a finite float in \[0, 1\], got nan"
    ):
        smooth_targets(torch.tensor([0]), float("nan"))
    with pytest.raises(
        TypeError, match="`smoothing` must be a finite float in \\[0, 1\\], got str"
    ):
        smooth_targets(torch.tensor([0]), "0.1", 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target class 2 is out of range for `num_classes`=2"):
        smooth_targets(torch.tensor([2]), 0.1, 2)
    with pytest.raises(ValueError, match="3 columns but `num_classes`=2"):
        smooth_targets(torch.zeros(1, 3), 0.1, 2)
    with pytest.raises(TypeError, match=r"index targets \(N,\) of an integer dtype, got dtype"):
        smooth_targets(torch.tensor([0.5]), 0.1)
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, K\) .*got shape \(1, 2, 3\)"):
        smooth_targets(torch.zeros(1, 2, 3), 0.1)
    with pytest.raises(TypeError, match=r"expects targets as a torch\.Tensor, got list"):
        smooth_targets([0, 1], 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`num_classes` must be an integer >= 1, got 0"):
        smooth_targets(torch.tensor([0]), 0.1, 0)


# ------------------------------------------------------------------ hard_targets / to_dense / one_hot
def test_hard_targets() -> None:
    soft = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    assert hard_targets(soft).tolist() == [1, 0]
    assert hard_targets(torch.tensor([2, 1])).tolist() == [2, 1]
    _, y = mixed(8, 0.1)
    hard = hard_targets(y)
    assert type(hard) is Tensor and hard.tolist() == naive_hard(y)
    assert torch.equal(hard_targets(one_hot(torch.tensor([2, 0]), 3)), torch.tensor([2, 0]))
    with pytest.raises(TypeError, match=r"`y` must be a torch\.Tensor of targets, got str 'x'"):
        hard_targets("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"got shape \(1, 2, 3\)"):
        hard_targets(torch.zeros(1, 2, 3))


def test_to_dense() -> None:
    probs = torch.tensor([[0.2, 0.8], [1.0, 0.0]], dtype=torch.float64)
    out = to_dense(probs)
    assert out.dtype == torch.float32 and torch.equal(out, probs.float())
    assert torch.equal(
        to_dense(torch.tensor([1, 0]), 3), F.one_hot(torch.tensor([1, 0]), 3).float()
    )
    with pytest.raises(ValueError, match=r"index targets of shape \(N,\) need `num_classes`"):
        to_dense(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="2 columns but `num_classes`=3"):
        to_dense(probs, 3)
    with pytest.raises(ValueError, match="target class 3 is out of range for `num_classes`=3"):
        to_dense(torch.tensor([3]), 3)
    _, y = mixed(2)
    with pytest.raises(ValueError, match=r"target class \d+ is out of range for `num_classes`=2"):
        y.to_dense(2)


def test_one_hot() -> None:
    y = torch.tensor([2, 0, 1])
    assert torch.equal(one_hot(y, 4), F.one_hot(y, 4).float())
    assert one_hot(y, 3, torch.bfloat16).dtype == torch.bfloat16
    _, m = mixed(2)
    assert type(one_hot(m, K)) is Tensor and torch.equal(
        one_hot(m, K), F.one_hot(m.hard(), K).float()
    )
    with pytest.raises(TypeError, match="index targets must be an integer tensor, got dtype"):
        one_hot(torch.tensor([0.0]), 2)
    with pytest.raises(ValueError, match=r"must have shape \(N,\), got shape \(1, 1\)"):
        one_hot(torch.tensor([[0]]), 2)
    with pytest.raises(ValueError, match="target class 2 is out of range for `num_classes`=2"):
        one_hot(torch.tensor([2]), 2)
    with pytest.raises(ValueError, match="`num_classes` must be an integer >= 1, got 0"):
        one_hot(y, 0)


# ------------------------------------------------------------------ mix_targets
def test_mix_targets_per_sample_weights_equal_naive_loop() -> None:
    g = gen(11)
    y = torch.randint(0, K, (N,), generator=g)
    lam = torch.rand(N, generator=g)
    perm = torch.randperm(N, generator=g)
    out = mix_targets(y, [(None, lam), (perm, 1 - lam)])
    ref = torch.zeros(N, K)
    for i in range(N):
        ref[i, y[i]] += lam[i]
        ref[i, y[perm[i]]] += 1 - lam[i]
    torch.testing.assert_close(out.to_dense(K), ref, rtol=0, atol=1e-7)
    dense = mix_targets(y, [(None, lam), (perm, 1 - lam)], num_classes=K)
    assert type(dense) is Tensor and dense.dtype == torch.float32
    torch.testing.assert_close(dense, ref, rtol=0, atol=1e-7)


def test_mix_targets_int_weights_and_identity() -> None:
    y = torch.tensor([3, 1, 4])
    out = mix_targets(y, [(None, 1), (torch.tensor([2, 0, 1]), 0)])
    assert out.tolist() == [3, 1, 4]
    assert torch.equal(out.to_dense(K), F.one_hot(y, K).float())
    assert all(w.dtype == torch.float32 for _, w in out.components)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bool])
def test_mix_targets_dense_input_stays_dense(dtype) -> None:
    g = gen(12)
    probs = torch.rand(N, K, generator=g)
    probs = probs > 0.5 if dtype == torch.bool else probs.to(dtype)
    lam = torch.rand(N, generator=g)
    perm = torch.randperm(N, generator=g)
    out = mix_targets(probs, [(None, lam), (perm, 1 - lam)])
    assert type(out) is Tensor and out.dtype == torch.float32 and out.shape == (N, K)
    p = probs.float()
    ref = torch.stack([lam[i] * p[i] + (1 - lam[i]) * p[perm[i]] for i in range(N)])
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(mix_targets(probs, [(None, lam), (perm, 1 - lam)], K), ref)


def test_mix_targets_errors() -> None:
    parts = [(None, 1.0)]
    with pytest.raises(
        TypeError, match=r"`mix_targets` expects targets as a torch\.Tensor, got list"
    ):
        mix_targets([0, 1], parts)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"index targets \(N,\) of an integer dtype, got dtype"):
        mix_targets(torch.tensor([0.0, 1.0]), parts)
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2\)"):
        mix_targets(torch.zeros(2, 2, 2), parts)
    with pytest.raises(ValueError, match="target class 5 is out of range for `num_classes`=5"):
        mix_targets(torch.tensor([0, 5]), parts, num_classes=5)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(targets_module, extraglobs={"torch": torch}, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
