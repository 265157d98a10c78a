"""MixUp / CutMix / RICAP functionals: naive per-sample loops, torchvision oracles, bounds."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torchvision.transforms import v2

import lightning_tricks.functional.mixing as mixing_module
from lightning_tricks.functional import (
    CutMixParams,
    MixedTargets,
    MixUpParams,
    RICAPParams,
    cutmix_batch,
    mix_targets,
    mixup_batch,
    ricap_batch,
    sample_cutmix_params,
    sample_mixup_params,
    sample_ricap_params,
)
from lightning_tricks.functional._batch import sample_beta

K = 5


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n: int = 6, c: int = 3, h: int = 8, w: int = 10, seed: int = 0) -> tuple:
    g = gen(seed)
    return torch.randn(n, c, h, w, generator=g), torch.randint(0, K, (n,), generator=g)


def onehot(y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, K).float()


# ------------------------------------------------------------------ naive references
def naive_mixup(x, y, params):
    ys = onehot(y)
    out_x, out_y = torch.empty_like(x), torch.empty_like(ys)
    for i in range(x.shape[0]):
        j = int(params.perm[i])
        lam = params.lam if isinstance(params.lam, float) else params.lam[i]
        out_x[i] = torch.lerp(x[j], x[i], lam if isinstance(lam, float) else lam.to(x.dtype))
        out_y[i] = torch.lerp(ys[j], ys[i], lam)
    return out_x, out_y


def naive_cutmix(x, y, params):
    ys = onehot(y)
    out_x, out_y = x.clone(), torch.empty_like(ys)
    h, w = x.shape[2:]
    for i in range(x.shape[0]):
        j = int(params.perm[i])
        t, lf, b, r = params.boxes[i if params.boxes.shape[0] > 1 else 0].tolist()
        out_x[i, :, t:b, lf:r] = x[j, :, t:b, lf:r]
        lam = 1.0 - (b - t) * (r - lf) / (h * w)
        out_y[i] = lam * ys[i] + (1 - lam) * ys[j]
    return out_x, out_y


def naive_ricap(x, y, params):
    ys = onehot(y)
    out_x, out_y = torch.empty_like(x), torch.zeros_like(ys)
    starts = [(0, 0), (0, params.w), (params.h, 0), (params.h, params.w)]
    for i in range(x.shape[0]):
        for k, ((ph, pw), (r0, c0)) in enumerate(zip(params.patch_sizes(), starts, strict=True)):
            j = int(params.perms[k, i])
            top, left = params.offsets[k, i].tolist()
            out_x[i, :, r0 : r0 + ph, c0 : c0 + pw] = x[j, :, top : top + ph, left : left + pw]
            out_y[i] += params.weights()[k] * ys[j]
    return out_x, out_y


def check_targets(ym, ry, y, atol=1e-6) -> None:
    """Index targets give MixedTargets: hard labels (the largest weight, own on a tie) whose
    dense form is the naive mixture."""
    assert isinstance(ym, MixedTargets) and ym.dtype == torch.int64 and ym.shape == y.shape
    torch.testing.assert_close(ym.to_dense(K), ry, rtol=0, atol=atol)
    own = ry.gather(1, y.unsqueeze(1)).squeeze(1)
    best = ry.max(1).values
    assert torch.equal(ym.hard()[own >= best - 1e-6], y[own >= best - 1e-6])
    assert bool((ry.gather(1, ym.hard().unsqueeze(1)).squeeze(1) >= best - 1e-6).all())


@pytest.mark.parametrize("mode", ["batch", "elem"])
@pytest.mark.parametrize("n", [1, 2, 7])
def test_mixup_equals_naive_loop(mode: str, n: int) -> None:
    x, y = batch(n)
    params = sample_mixup_params(n, alpha=0.4, mode=mode, generator=gen(n))
    xm, ym = mixup_batch(x, y, params)
    rx, ry = naive_mixup(x, y, params)
    assert torch.equal(xm, rx)
    check_targets(ym, ry, y, atol=1e-7)
    xd, yd = mixup_batch(x, y, params, num_classes=K)
    assert torch.equal(xd, rx) and type(yd) is torch.Tensor and yd.dtype == torch.float32
    torch.testing.assert_close(yd, ry, rtol=0, atol=1e-7)


@pytest.mark.parametrize("mode", ["batch", "elem"])
@pytest.mark.parametrize("n", [1, 2, 7])
def test_cutmix_equals_naive_loop(mode: str, n: int) -> None:
    x, y = batch(n)
    params = sample_cutmix_params(n, 8, 10, alpha=1.0, mode=mode, generator=gen(n))
    xm, ym = cutmix_batch(x, y, params)
    rx, ry = naive_cutmix(x, y, params)
    assert torch.equal(xm, rx)
    check_targets(ym, ry, y)
    _, yd = cutmix_batch(x, y, params, num_classes=K)
    torch.testing.assert_close(yd, ry, rtol=0, atol=1e-6)


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` in a given memory layout, values unchanged."""
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "strided_view":  # a non-contiguous window of a larger batch, offset storage
        big = torch.randn(x.shape[0] + 1, x.shape[1] + 1, x.shape[2] + 3, x.shape[3] + 2)
        view = big[1:, 1:, 2 : 2 + x.shape[2], 1 : 1 + x.shape[3]]
        return view.copy_(x)
    if layout == "hw_transposed":  # W before H in memory
        return x.transpose(2, 3).contiguous().transpose(2, 3)
    if layout == "expanded":  # one image broadcast over the batch (stride 0)
        return x[:1].expand_as(x)
    return x


LAYOUTS = ["contiguous", "channels_last", "strided_view", "hw_transposed", "expanded"]


@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_ricap_equals_naive_loop(n: int, layout: str) -> None:
    x, y = batch(n)
    x = _layout(x, layout)
    for seed in range(3):
        params = sample_ricap_params(n, 8, 10, beta=0.3, generator=gen(seed))
        xr, yr = ricap_batch(x, y, params)
        rx, ry = naive_ricap(x, y, params)
        assert torch.equal(xr, rx)
        check_targets(yr, ry, y)
        if layout == "channels_last":
            assert xr.is_contiguous(memory_format=torch.channels_last)
        x_in = x.clone()
        xi, _ = ricap_batch(x_in, y, params, inplace=True)
        assert xi is x_in and torch.equal(xi, rx)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_mixup_and_cutmix_in_any_layout_equal_naive_loop(layout: str, mode: str) -> None:
    x, y = batch(5)
    x = _layout(x, layout)
    x0 = x.clone()
    mp = sample_mixup_params(5, 0.4, mode, gen(1))
    cp = sample_cutmix_params(5, 8, 10, 1.0, mode, gen(2))
    for apply, params, naive in ((mixup_batch, mp, naive_mixup), (cutmix_batch, cp, naive_cutmix)):
        out, _ = apply(x, y, params)
        assert torch.equal(out, naive(x, y, params)[0])
        assert torch.equal(x, x0)
        if layout == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)


def test_ricap_extreme_boundaries_equal_naive_loop() -> None:
    """Boundary at the image edges: some patches are empty or the whole image."""
    x, y = batch(5)
    for h, w in [(0, 0), (8, 10), (0, 10), (8, 0), (1, 9), (7, 1)]:
        base = sample_ricap_params(5, 8, 10, generator=gen(h * 11 + w))
        sizes = [(h, w), (h, 10 - w), (8 - h, w), (8 - h, 10 - w)]
        limits = torch.tensor([[8 - ph, 10 - pw] for ph, pw in sizes]).view(4, 1, 2)
        offsets = torch.minimum(base.offsets, limits)  # keep corners valid for these sizes
        params = RICAPParams(h, w, base.perms, offsets, 8, 10)
        xr, yr = ricap_batch(x, y, params)
        rx, ry = naive_ricap(x, y, params)
        assert torch.equal(xr, rx)
        torch.testing.assert_close(yr.to_dense(K), ry, rtol=0, atol=1e-6)


def test_label_tricks_compose_on_mixed_targets() -> None:
    """MixUp then CutMix then RICAP: the targets are the naive mixture of mixtures."""
    x, y = batch(6)
    mp = sample_mixup_params(6, 0.4, "elem", gen(1))
    cp = sample_cutmix_params(6, 8, 10, 1.0, "elem", gen(2))
    rp = sample_ricap_params(6, 8, 10, 0.3, gen(3))
    x1, y1 = mixup_batch(x, y, mp)
    x2, y2 = cutmix_batch(x1, y1, cp)
    _, y3 = ricap_batch(x2, y2, rp)
    assert isinstance(y3, MixedTargets) and len(y3.components) == 16
    d1 = naive_mixup(x, y, mp)[1]
    lam = cp.lam().float()
    d2 = lam[:, None] * d1 + (1 - lam[:, None]) * d1[cp.perm]
    d3 = sum(w * d2[p] for p, w in zip(rp.perms, rp.weights(), strict=True))
    torch.testing.assert_close(y3.to_dense(K), d3, rtol=0, atol=1e-6)
    _, dense = ricap_batch(x2, y2, rp, num_classes=K)
    torch.testing.assert_close(dense, d3, rtol=0, atol=1e-6)


# ------------------------------------------------------------------ torchvision oracles
class FixedLamMixUp(v2.MixUp):
    def __init__(self, lam: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fixed_lam = lam

    def make_params(self, flat_inputs):
        return {"lam": self.fixed_lam}


class FixedBoxCutMix(v2.CutMix):
    def __init__(self, box: tuple[int, int, int, int], lam: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.box, self.lam = box, lam

    def make_params(self, flat_inputs):
        return {"box": self.box, "lam_adjusted": self.lam}


def roll_perm(n: int) -> torch.Tensor:
    """torchvision pairs sample i with i - 1 (``batch.roll(1, 0)``)."""
    return (torch.arange(n) - 1) % n


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 0.77, 1.0])
def test_mixup_matches_torchvision_v2(lam: float) -> None:
    x, y = batch(6)
    tx, ty = FixedLamMixUp(lam, num_classes=K)(x, y)
    params = MixUpParams(lam=lam, perm=roll_perm(6))
    ox, oy = mixup_batch(x, y, params)
    torch.testing.assert_close(ox, tx)
    torch.testing.assert_close(oy.to_dense(K), ty)
    torch.testing.assert_close(mixup_batch(x, y, params, num_classes=K)[1], ty)
    if lam >= 0.5:  # the sample's own label has the largest weight (own label on a tie)
        assert torch.equal(oy.hard(), y)


def test_cutmix_matches_torchvision_v2() -> None:
    x, y = batch(5, h=12, w=9)
    for seed in range(5):
        params = sample_cutmix_params(5, 12, 9, generator=gen(seed))
        params = CutMixParams(roll_perm(5), params.boxes, 12, 9)
        t, lf, b, r = params.boxes[0].tolist()
        lam = float(params.lam()[0])
        tx, ty = FixedBoxCutMix((lf, t, r, b), lam, num_classes=K)(x, y)  # tv box is x1,y1,x2,y2
        ox, oy = cutmix_batch(x, y, params)
        torch.testing.assert_close(ox, tx, rtol=0, atol=0)
        torch.testing.assert_close(oy.to_dense(K), ty)
        torch.testing.assert_close(cutmix_batch(x, y, params, num_classes=K)[1], ty)


# ------------------------------------------------------------------ samplers: naive replays
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_mixup_sampler_replays_its_draws(mode: str) -> None:
    for seed in range(20):
        n, alpha = 1 + seed % 6, 0.1 + seed / 5
        params = sample_mixup_params(n, alpha, mode, gen(seed))
        g = gen(seed)
        lam = sample_beta(alpha, 1 if mode == "batch" else n, g)
        perm = torch.randperm(n, generator=g)
        if mode == "batch":
            assert isinstance(params.lam, float) and params.lam == float(lam)
        else:
            assert params.lam.dtype == torch.float32 and torch.equal(params.lam, lam.float())
        assert torch.equal(params.perm, perm)


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_cutmix_sampler_equals_naive_box_arithmetic(mode: str) -> None:
    """Boxes from the same draws, one box at a time in Python floats (the paper's code:
    side int(H * sqrt(1 - λ)), centre uniform, clipped at the borders)."""
    for seed in range(40):
        n, alpha = 1 + seed % 5, 0.1 + seed / 10
        h, w = 7 + seed % 5, 30 - seed % 7
        params = sample_cutmix_params(n, h, w, alpha=alpha, mode=mode, generator=gen(seed))
        b = 1 if mode == "batch" else n
        g = gen(seed)
        lam = sample_beta(alpha, b, g).tolist()
        u = torch.rand((2, b), dtype=torch.float64, generator=g).tolist()
        boxes = []
        for i in range(b):
            cut = math.sqrt(1.0 - lam[i])
            half_h, half_w = int(h * cut) // 2, int(w * cut) // 2
            cy, cx = min(int(u[0][i] * h), h - 1), min(int(u[1][i] * w), w - 1)
            boxes.append(
                [max(cy - half_h, 0), max(cx - half_w, 0), min(cy + half_h, h), min(cx + half_w, w)]
            )
        assert params.boxes.tolist() == boxes
        assert torch.equal(params.perm, torch.randperm(n, generator=g))
        area = [(bb[2] - bb[0]) * (bb[3] - bb[1]) for bb in boxes]
        assert params.lam().tolist() == pytest.approx([1 - a / (h * w) for a in area], abs=1e-12)


def test_ricap_sampler_equals_naive_arithmetic() -> None:
    for seed in range(40):
        n, beta = 1 + seed % 6, 0.1 + seed / 8
        h, w = 1 + seed % 9, 2 + (seed * 3) % 11
        params = sample_ricap_params(n, h, w, beta=beta, generator=gen(seed))
        g = gen(seed)
        f_w, f_h = sample_beta(beta, 2, g).tolist()
        bw, bh = round(w * f_w), round(h * f_h)
        assert (params.h, params.w) == (bh, bw)
        perms = [torch.randperm(n, generator=g) for _ in range(4)]
        assert torch.equal(params.perms, torch.stack(perms))
        u = torch.rand((4, n, 2), dtype=torch.float64, generator=g).tolist()
        sizes = [(bh, bw), (bh, w - bw), (h - bh, bw), (h - bh, w - bw)]
        for k, (ph, pw) in enumerate(sizes):
            for i in range(n):
                room = (h - ph, w - pw)
                corner = [min(int(u[k][i][a] * (room[a] + 1)), room[a]) for a in (0, 1)]
                assert params.offsets[k, i].tolist() == corner


# ------------------------------------------------------------------ sampling laws and bounds
@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_beta_draws_follow_beta_law(alpha: float) -> None:
    params = sample_mixup_params(4000, alpha=alpha, mode="elem", generator=gen(1))
    lam = params.lam.double().numpy()
    assert lam.min() >= 0.0 and lam.max() <= 1.0
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    lams = [sample_mixup_params(2, alpha, generator=gen(s)).lam for s in range(300)]
    assert all(isinstance(v, float) for v in lams)
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_beta_sampler_extreme_alpha() -> None:
    """Small alpha puts the mass at both ends (no 0 / 0 in log space), large alpha at 1/2."""
    for alpha in (1e-3, 1e6):
        draws = sample_beta(alpha, 400, gen(1))
        assert draws.dtype == torch.float64 and bool(torch.isfinite(draws).all())
        assert bool(((draws >= 0) & (draws <= 1)).all())
        assert 0.4 < float((draws < 0.5).double().mean()) < 0.6  # symmetric law
    tiny = sample_beta(1e-3, 400, gen(2))
    assert int(((tiny < 1e-6) | (tiny > 1 - 1e-6)).sum()) > 350
    assert bool(((sample_beta(1e6, 50, gen(3)) - 0.5).abs() < 0.01).all())


def test_permutations_and_reproducibility() -> None:
    p1 = sample_mixup_params(9, generator=gen(3))
    p2 = sample_mixup_params(9, generator=gen(3))
    assert sorted(p1.perm.tolist()) == list(range(9))
    assert torch.equal(p1.perm, p2.perm) and p1.lam == p2.lam
    r = sample_ricap_params(9, 8, 8, generator=gen(3))
    assert all(sorted(r.perms[k].tolist()) == list(range(9)) for k in range(4))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, K),  # distinct labels
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    alpha=st.floats(0.05, 5.0),
    mode=st.sampled_from(["batch", "elem"]),
)
def test_cutmix_box_bounds_and_area(seed, n, h, w, alpha, mode) -> None:
    params = sample_cutmix_params(n, h, w, alpha=alpha, mode=mode, generator=gen(seed))
    b = params.boxes
    assert ((b[:, 0] >= 0) & (b[:, 0] <= b[:, 2]) & (b[:, 2] <= h)).all()
    assert ((b[:, 1] >= 0) & (b[:, 1] <= b[:, 3]) & (b[:, 3] <= w)).all()
    # the pixels actually taken from the partner match the area-corrected λ
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, h, w).contiguous()
    y = torch.arange(n)
    xm, ym = cutmix_batch(x, y, params)
    lam = params.lam().float().expand(n)
    from_partner = (xm != x).flatten(1).sum(1).float()
    moved = params.perm != torch.arange(n)
    expected = ((1 - lam) * h * w).round()
    assert torch.equal(from_partner[moved], expected[moved])
    own = torch.where(params.perm == torch.arange(n), 1.0, lam)  # own label's weight
    dense = ym.to_dense(K)
    torch.testing.assert_close(dense.sum(1), torch.ones(n))
    torch.testing.assert_close(dense.gather(1, y.unsqueeze(1)).squeeze(1), own)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 6),
    h=st.integers(1, 16),
    w=st.integers(1, 16),
    beta=st.floats(0.05, 5.0),
)
def test_ricap_bounds(seed, n, h, w, beta) -> None:
    params = sample_ricap_params(n, h, w, beta=beta, generator=gen(seed))
    assert 0 <= params.h <= h and 0 <= params.w <= w
    assert abs(sum(params.weights()) - 1.0) < 1e-12
    for k, (ph, pw) in enumerate(params.patch_sizes()):
        top, left = params.offsets[k, :, 0], params.offsets[k, :, 1]
        assert ((top >= 0) & (top + ph <= h) & (left >= 0) & (left + pw <= w)).all()


def test_ricap_crop_corners_are_uniform() -> None:
    """Every valid corner of every patch is equally likely (chi-square over many samples)."""
    params = sample_ricap_params(20000, 7, 9, beta=1.0, generator=gen(4))
    for k, (ph, pw) in enumerate(params.patch_sizes()):
        for axis, room in ((0, 7 - ph), (1, 9 - pw)):
            counts = torch.bincount(params.offsets[k, :, axis], minlength=room + 1)
            assert counts.shape[0] == room + 1  # never outside [0, room]
            if room > 0:
                assert stats.chisquare(counts.numpy()).pvalue > 1e-4


def test_ricap_crop_positions_differ_per_sample() -> None:
    params = sample_ricap_params(64, 32, 32, beta=1.0, generator=gen(0))
    assert params.offsets[0].unique(dim=0).shape[0] > 10


# ------------------------------------------------------------------ contract checks
CASES = [
    ("mixup", lambda n, g: sample_mixup_params(n, 0.5, "elem", g), mixup_batch),
    ("mixup_b", lambda n, g: sample_mixup_params(n, 0.5, "batch", g), mixup_batch),
    ("cutmix", lambda n, g: sample_cutmix_params(n, 8, 10, 1.0, "elem", g), cutmix_batch),
    ("cutmix_b", lambda n, g: sample_cutmix_params(n, 8, 10, 1.0, "batch", g), cutmix_batch),
    ("ricap", lambda n, g: sample_ricap_params(n, 8, 10, 0.3, g), ricap_batch),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("name", "sample", "apply"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_dtype_layout_inputs_untouched(name, sample, apply, dtype) -> None:
    x, y = batch(5)
    x = x.to(dtype).contiguous(memory_format=torch.channels_last)
    x0, y0 = x.clone(), y.clone()
    params = sample(5, gen(2))
    out, yo = apply(x, y, params)
    assert out.dtype == dtype and out.shape == x.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert isinstance(yo, MixedTargets) and yo.dtype == torch.int64 and yo.shape == (5,)
    torch.testing.assert_close(yo.to_dense(K).sum(1), torch.ones(5))
    _, yd = apply(x, y, params, num_classes=K)
    assert yd.dtype == torch.float32 and yd.shape == (5, K)
    torch.testing.assert_close(yd, yo.to_dense(K))
    assert torch.equal(x, x0) and torch.equal(y, y0) and type(y) is torch.Tensor


@pytest.mark.parametrize(("name", "sample", "apply"), CASES, ids=IDS)
def test_inplace_equals_the_plain_call(name, sample, apply) -> None:
    x, y = batch(5)
    x = x.contiguous(memory_format=torch.channels_last)
    params = sample(5, gen(8))
    expected_x, expected_y = apply(x, y, params)
    x_in = x.clone(memory_format=torch.channels_last)
    out, yo = apply(x_in, y, params, inplace=True)
    assert out is x_in
    if name.startswith("mixup"):  # see the exact test below
        torch.testing.assert_close(out, expected_x)
    else:
        assert torch.equal(out, expected_x)
    assert torch.equal(yo.to_dense(K), expected_y.to_dense(K))
    assert out.is_contiguous(memory_format=torch.channels_last)


# `inplace` never changes the numbers (regression: lerp_ in place rounded differently)
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_mixup_inplace_is_bit_exact(mode: str) -> None:
    x, y = batch(5)
    params = sample_mixup_params(5, 0.5, mode, gen(8))
    x_in = x.clone()
    mixup_batch(x_in, y, params, inplace=True)
    assert torch.equal(x_in, naive_mixup(x, y, params)[0])


@pytest.mark.parametrize(("name", "sample", "apply"), CASES, ids=IDS)
def test_expanded_views_work_and_are_never_written(name, sample, apply) -> None:
    base = torch.randn(1, 3, 8, 10, generator=gen(5))
    x = base.expand(5, 3, 8, 10)
    y = torch.arange(5) % K
    params = sample(5, gen(6))
    out, _ = apply(x, y, params)
    assert torch.equal(out, apply(x.contiguous(), y, params)[0])
    assert out.data_ptr() != base.data_ptr()
    with pytest.raises(ValueError, match=r"`inplace=True` refuses to write into a view"):
        apply(x, y, params, inplace=True)
    view = torch.randn(10, 3, 8, 10)[::2]  # a strided view of a loader's storage
    with pytest.raises(ValueError, match=r"`inplace=True` refuses to write into a view"):
        apply(view, y, params, inplace=True)
    assert torch.equal(x, base.expand(5, 3, 8, 10))


# images that require grad work and get gradients (regression: `out=` writes, which
# autograd refuses, in mixup_batch, cutmix_batch with one box per sample and ricap_batch)
@pytest.mark.parametrize(("name", "sample", "apply"), CASES, ids=IDS)
def test_images_that_require_grad_work_and_get_gradients(name, sample, apply) -> None:
    x, y = batch(5)
    x.requires_grad_(True)
    params = sample(5, gen(3))
    out, _ = apply(x, y, params)
    assert torch.equal(out.detach(), apply(x.detach(), y, params)[0])
    out.sum().backward()
    # the gradient of the sum counts where each input pixel went: checked against the
    # same op on a ones-batch traced by autograd through the naive loop
    naive = {"mixup": naive_mixup, "mixup_b": naive_mixup, "cutmix": naive_cutmix,
             "cutmix_b": naive_cutmix, "ricap": naive_ricap}[name]  # fmt: skip
    x_ref = x.detach().clone().requires_grad_(True)
    naive(x_ref, y, params)[0].sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    with pytest.raises(ValueError, match=r"`inplace=True` refuses to write into a tensor that"):
        apply(x, y, params, inplace=True)


@pytest.mark.parametrize(("name", "sample", "apply"), CASES, ids=IDS)
def test_inplace_refuses_images_that_require_grad(name, sample, apply) -> None:
    x, y = batch(5)
    x.requires_grad_(True)
    with pytest.raises(ValueError, match=r"`inplace=True` refuses to write into a tensor that"):
        apply(x, y, sample(5, gen(3)), inplace=True)
    assert x.grad is None and x._version == 0


def test_mixup_gradient_flows_to_both_partners() -> None:
    """d/dx_i of the sum of the mixed batch: λ_i + Σ_{j: perm[j] = i} (1 - λ_j)."""
    x, y = batch(4)
    lam = torch.tensor([0.25, 0.5, 0.625, 0.75])
    params = MixUpParams(lam=lam, perm=torch.tensor([1, 2, 3, 0]))
    x.requires_grad_(True)
    out, _ = mixup_batch(x, y, params)
    out.sum().backward()
    expected = torch.tensor([0.5, 1.25, 1.125, 1.125]).view(4, 1, 1, 1).expand_as(x)
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize(("name", "sample", "apply"), CASES, ids=IDS)
def test_soft_and_multi_hot_targets_keep_row_totals(name, sample, apply) -> None:
    x, _ = batch(6)
    multi = torch.zeros(6, K)
    multi[:, 0] = 1.0
    multi[::2, 3] = 1.0  # rows sum to 2 or 1
    totals = multi.sum(1)
    params = sample(6, gen(4))
    _, out = apply(x, multi, params)
    assert type(out) is torch.Tensor and out.dtype == torch.float32 and out.shape == (6, K)
    # every output row is a convex combination of input rows
    assert (out.sum(1) >= totals.min() - 1e-6).all() and (out.sum(1) <= totals.max() + 1e-6).all()
    two = torch.full((6, K), 2.0 / K)
    _, out2 = apply(x, two, params)
    torch.testing.assert_close(out2.sum(1), torch.full((6,), 2.0))
    _, out3 = apply(x, multi.bool(), params)  # bool multi-hot works too
    torch.testing.assert_close(out3, out)
    _, out4 = apply(x, multi.half(), params, num_classes=K)
    assert out4.dtype == torch.float32
    torch.testing.assert_close(out4, out)


def test_dense_targets_follow_the_same_mixture_as_index_targets() -> None:
    x, y = batch(6)
    params = sample_ricap_params(6, 8, 10, 0.3, gen(9))
    parts = list(zip(params.perms, params.weights(), strict=True))
    torch.testing.assert_close(ricap_batch(x, onehot(y), params)[1], mix_targets(y, parts, K))


def test_errors() -> None:
    x, y = batch(4)
    p = sample_mixup_params(4, generator=gen())
    with pytest.raises(ValueError, match=r"drawn for N=3 images .* images have shape \(4, 3, 8"):
        mixup_batch(x, y, sample_mixup_params(3, generator=gen()))
    with pytest.raises(TypeError, match=r"floating-point images.*torch\.uint8"):
        mixup_batch(x.to(torch.uint8), y, p)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\), got shape \(4, 8, 10\)"):
        mixup_batch(x[:, 0], y, p)
    with pytest.raises(TypeError, match=r"`mixup_batch` expects images as a torch\.Tensor"):
        mixup_batch(x.numpy(), y, p)
    with pytest.raises(ValueError, match=r"target class 5 is out of range for `num_classes`=5"):
        mixup_batch(x, torch.tensor([0, 1, 2, 5]), p, num_classes=K)
    with pytest.raises(ValueError, match="6 columns but `num_classes`=5"):
        mixup_batch(x, torch.zeros(4, 6), p, num_classes=K)
    with pytest.raises(TypeError, match=r"index targets \(N,\) of an integer dtype"):
        mixup_batch(x, y.float(), p)
    with pytest.raises(ValueError, match=r"`lam` must be a tensor \(4,\) of values in \[0, 1\]"):
        MixUpParams(torch.ones(3), torch.arange(4))
    with pytest.raises(ValueError, match=r"images of size \(H, W\)=\(9, 10\)"):
        cutmix_batch(x, y, sample_cutmix_params(4, 9, 10, generator=gen()))
    with pytest.raises(ValueError, match=r"`CutMixParams`: `boxes` must have 1 or N=4 rows"):
        CutMixParams(torch.arange(4), torch.zeros(2, 4).long(), 8, 10)
    with pytest.raises(ValueError, match="drawn for N=3"):
        ricap_batch(x, y, sample_ricap_params(3, 8, 10, generator=gen()))
    with pytest.raises(TypeError, match="`inplace` must be a bool, got int 1"):
        mixup_batch(x, y, p, inplace=1)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"`alpha` must be a finite float in \(0, inf\), got -1\.0"
    ):
        sample_mixup_params(4, alpha=-1.0)
    with pytest.raises(ValueError, match=r"`alpha` must be a finite float in \(0, inf\), got nan"):
        sample_cutmix_params(4, 8, 8, alpha=float("nan"))
    with pytest.raises(
        TypeError, match=r"`alpha` must be a finite float in \(0, inf\), got str '1'"
    ):
        sample_cutmix_params(4, 8, 8, alpha="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`mode` must be one of 'batch', 'elem', got 'pair'"):
        sample_mixup_params(4, mode="pair")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`batch_size` must be >= 1, got 0"):
        sample_ricap_params(0, 8, 8)
    with pytest.raises(ValueError, match="`height` must be >= 1, got 0"):
        sample_ricap_params(2, 0, 8)
    with pytest.raises(ValueError, match=r"`beta` must be a finite float in \(0, inf\), got 0\.0"):
        sample_ricap_params(2, 8, 8, beta=0.0)
    with pytest.raises(TypeError, match=r"`batch_size` must be an integer, got float 2\.5"):
        sample_mixup_params(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`width` must be an integer, got bool True"):
        sample_cutmix_params(4, 8, True)


@pytest.mark.parametrize(("name", "sample", "apply"), CASES, ids=IDS)
def test_params_and_generator_of_the_wrong_type(name, sample, apply) -> None:
    x, y = batch(4)
    expected = {"mixup": "MixUpParams", "cutmix": "CutMixParams", "ricap": "RICAPParams"}
    cls = expected[name.removesuffix("_b")]
    with pytest.raises(TypeError, match=rf"`params` must be a {cls} .*got NoneType"):
        apply(x, y, None)
    with pytest.raises(TypeError, match=r"`generator` must be a torch\.Generator or None, got str"):
        sample(4, "x")


def test_params_reject_values_outside_the_image_or_unit_interval() -> None:
    perm = torch.arange(4)
    for lam in (1.5, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"`lam` must be a finite float in \[0, 1\], got"):
            MixUpParams(lam=lam, perm=perm)
    for lam in (torch.tensor([0.0, 1.0, 1.5, 0.5]), torch.tensor([0.5, float("nan"), 0.5, 0.5])):
        with pytest.raises(
            ValueError, match=r"`lam` must be a tensor \(4,\) of values in \[0, 1\]"
        ):
            MixUpParams(lam=lam, perm=perm)
    with pytest.raises(TypeError, match="`lam` must be a float or a tensor, got bool"):
        MixUpParams(lam=True, perm=perm)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`MixUpParams`: `perm` must be int64 of shape"):
        MixUpParams(lam=0.5, perm=perm.int())
    box_error = r"`CutMixParams`: `boxes` must satisfy 0 <= top <= bottom <= height=8"
    for box in ([0, 0, 8, 11], [0, 0, 9, 10], [-1, 0, 2, 2], [0, 5, 8, 4], [3, 0, 2, 10]):
        with pytest.raises(ValueError, match=box_error):
            CutMixParams(perm, torch.tensor([box]), 8, 10)
    with pytest.raises(TypeError, match="`boxes` must be an int64 tensor with 2 dimensions"):
        CutMixParams(perm, torch.zeros(1, 4), 8, 10)
    perms = perm.repeat(4, 1)
    zeros = torch.zeros(4, 4, 2, dtype=torch.long)
    with pytest.raises(
        ValueError, match=r"the boundary `h` must be in \[0, 8\] \(the image size\), got 9"
    ):
        RICAPParams(9, 5, perms, zeros, 8, 10)
    with pytest.raises(
        ValueError, match=r"the boundary `w` must be in \[0, 10\] \(the image size\), got 11"
    ):
        RICAPParams(4, 11, perms, zeros, 8, 10)
    with pytest.raises(ValueError, match="`h` must be >= 0, got -1"):
        RICAPParams(-1, 5, perms, zeros, 8, 10)
    for k, corner in ((0, (5, 0)), (1, (0, 6)), (3, (0, -1)), (2, (5, 0))):
        bad = zeros.clone()
        bad[k, 2] = torch.tensor(corner)
        with pytest.raises(ValueError, match="`offsets` put a crop outside the image"):
            RICAPParams(4, 5, perms, bad, 8, 10)
    RICAPParams(4, 5, perms, torch.tensor([4, 5]).expand(4, 4, 2).clone(), 8, 10)  # the limits
    with pytest.raises(ValueError, match=r"`offsets` must be int64 of shape \(4, 4, 2\)"):
        RICAPParams(4, 5, perms, zeros[:, :3], 8, 10)


def test_targets_of_another_batch_size_and_bad_permutations_are_rejected() -> None:
    x, _ = batch(4)
    params = sample_mixup_params(4, generator=gen())
    with pytest.raises(
        ValueError, match=r"targets of shape \(N,\) or \(N, K\) with N=4, got shape \(3,\)"
    ):
        mixup_batch(x, torch.arange(3), params)
    with pytest.raises(ValueError, match=r"with N=4, got shape \(5, 5\)"):
        cutmix_batch(x, torch.zeros(5, K), sample_cutmix_params(4, 8, 10, generator=gen()))
    with pytest.raises(ValueError, match=r"`MixUpParams`: `perm` entries must be in \[0, 3\]"):
        MixUpParams(0.5, torch.tensor([0, 5, 1, 2]))
    with pytest.raises(ValueError, match=r"`CutMixParams`: `perm` entries must be in \[0, 3\]"):
        CutMixParams(torch.tensor([0, 1, 2, -1]), torch.zeros(1, 4, dtype=torch.long), 8, 10)
    perms = torch.arange(4).repeat(4, 1)
    perms[2, 1] = 4
    with pytest.raises(ValueError, match=r"`RICAPParams`: `perms` entries must be in \[0, 3\]"):
        RICAPParams(4, 5, perms, torch.zeros(4, 4, 2, dtype=torch.long), 8, 10)


def test_params_are_frozen_and_global_generator_works() -> None:
    p = sample_mixup_params(3)
    with pytest.raises(AttributeError):
        p.lam = 0.5  # type: ignore[misc]
    r = sample_ricap_params(3, 4, 4)
    assert isinstance(r, RICAPParams) and r.perms.shape == (4, 3)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(mixing_module, extraglobs={"torch": torch}, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
