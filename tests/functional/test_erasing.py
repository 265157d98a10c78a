"""Cutout / Random Erasing functionals: naive loops, torchvision oracles, hypothesis bounds."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF

import lightning_tricks.functional.erasing as erasing_module
from lightning_tricks.functional import (
    CutoutParams,
    RandomErasingParams,
    cutout_batch,
    random_erasing_batch,
    sample_cutout_params,
    sample_random_erasing_params,
    smooth_targets,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 6, c: int = 3, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=gen(seed))


def naive_fill(x: torch.Tensor, boxes: torch.Tensor, value) -> torch.Tensor:
    """Per-sample, per-box loop with torchvision's own ``erase`` as the filler."""
    out = x.detach().clone()
    for i in range(x.shape[0]):
        for t, lf, b, r in boxes[i].view(-1, 4).tolist():
            if b > t and r > lf:
                v = torch.tensor(value, dtype=x.dtype).view(-1, 1, 1)
                out[i] = TF.erase(out[i], t, lf, b - t, r - lf, v)
    return out


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("n_holes", [1, 3])
@pytest.mark.parametrize("value", [0.0, -1.5, (0.1, 0.2, 0.3), (0.7,)])
def test_cutout_equals_naive_loop(n: int, n_holes: int, value) -> None:
    x = images(n)
    params = sample_cutout_params(n, 12, 10, n_holes=n_holes, length=5, generator=gen(n))
    y = smooth_targets(torch.arange(n), 0.1)
    out, y_out = cutout_batch(x, y, params, value=value)
    assert torch.equal(out, naive_fill(x, params.boxes, value))
    assert y_out is y  # targets pass through untouched, mixture and all


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("value", [0.0, (0.5, -0.5, 2.0)])
def test_random_erasing_equals_naive_loop(n: int, value) -> None:
    x = images(n)
    params = sample_random_erasing_params(n, 12, 10, p=0.7, generator=gen(n))
    out, y_out = random_erasing_batch(x, None, params, value=value)
    assert torch.equal(out, naive_fill(x, params.boxes, value)) and y_out is None
    y = torch.arange(n)
    assert random_erasing_batch(x, y, params, value=value)[1] is y


LAYOUTS = ["contiguous", "channels_last", "strided_view", "expanded"]


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "strided_view":
        big = torch.randn(x.shape[0] + 1, x.shape[1], x.shape[2] + 3, x.shape[3] + 2)
        return big[1:, :, 2 : 2 + x.shape[2], 1 : 1 + x.shape[3]].copy_(x)
    if layout == "expanded":
        return x[:1].expand_as(x)
    return x


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [(12, 10), (40, 36)])
def test_any_layout_equals_naive_loop_and_inputs_are_untouched(layout, size) -> None:
    h, w = size
    x = _layout(images(5, h=h, w=w), layout)
    x0 = x.clone()
    cp = sample_cutout_params(5, h, w, n_holes=2, length=7, generator=gen(1))
    rp = sample_random_erasing_params(5, h, w, p=0.8, generator=gen(2))
    for fn, params, value in (
        (cutout_batch, cp, (1.0, 2.0, 3.0)),
        (random_erasing_batch, rp, -2.0),
    ):
        out, _ = fn(x, None, params, value=value)
        assert torch.equal(out, naive_fill(x0, params.boxes, value))
        assert torch.equal(x, x0)
        if layout == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("fn", ["cutout", "erasing"])
def test_inplace_writes_into_x_and_equals_the_plain_call(fn: str) -> None:
    x = images(5).contiguous(memory_format=torch.channels_last)
    if fn == "cutout":
        apply, params = cutout_batch, sample_cutout_params(5, 12, 10, 2, 5, generator=gen(1))
    else:
        apply, params = (
            random_erasing_batch,
            sample_random_erasing_params(5, 12, 10, 0.8, generator=gen(2)),
        )
    expected, _ = apply(x, None, params, 0.25)
    x_in = x.clone(memory_format=torch.channels_last)
    out, _ = apply(x_in, None, params, 0.25, inplace=True)
    assert out is x_in and torch.equal(out, expected)
    assert out.is_contiguous(memory_format=torch.channels_last)
    base = images(1)
    with pytest.raises(ValueError, match=r"`inplace=True` refuses to write into a view"):
        apply(base.expand(5, 3, 12, 10), None, params, inplace=True)
    assert torch.equal(base, images(1))
    with pytest.raises(ValueError, match=r"`inplace=True` refuses to write into a tensor that req"):
        apply(x.clone().requires_grad_(True), None, params, inplace=True)
    with pytest.raises(TypeError, match="`inplace` must be a bool, got str 'yes'"):
        apply(x, None, params, inplace="yes")


# images that require grad work (regression: torch.where(out=), which autograd refuses)
@pytest.mark.parametrize("fn", ["cutout", "erasing"])
def test_images_that_require_grad_work(fn: str) -> None:
    x = images(4).requires_grad_(True)
    if fn == "cutout":
        apply, params = cutout_batch, sample_cutout_params(4, 12, 10, length=5, generator=gen(1))
    else:
        apply, params = (
            random_erasing_batch,
            sample_random_erasing_params(4, 12, 10, 1.0, generator=gen(1)),
        )
    out, _ = apply(x, None, params)
    assert torch.equal(out.detach(), naive_fill(x, params.boxes, 0.0))
    out.sum().backward()
    kept = naive_fill(torch.ones_like(x), params.boxes, 0.0)  # 1 where a pixel survives
    assert torch.equal(x.grad, kept)


def test_random_fill_is_seeded_normal_noise_inside_the_boxes_only() -> None:
    x = torch.full((16, 3, 32, 32), 7.0)
    params = sample_random_erasing_params(16, 32, 32, p=1.0, generator=gen(1))
    out, _ = random_erasing_batch(x, None, params, value="random")
    again, _ = random_erasing_batch(x, None, params, value="random")
    assert torch.equal(out, again)  # deterministic given the params
    erased = out != 7.0
    expected = torch.zeros_like(erased)
    for i, (t, lf, b, r) in enumerate(params.boxes.tolist()):
        expected[i, :, t:b, lf:r] = True
    assert torch.equal(erased, expected)
    noise = out[erased]
    assert abs(float(noise.mean())) < 0.05 and abs(float(noise.std()) - 1.0) < 0.05
    other = RandomErasingParams(params.boxes, 32, 32, noise_seed=params.noise_seed + 1)
    assert not torch.equal(random_erasing_batch(x, None, other, value="random")[0], out)
    cut, _ = cutout_batch(x, None, sample_cutout_params(16, 32, 32, generator=gen(2)), "random")
    assert (cut != 7.0).any()
    half = random_erasing_batch(x.half(), None, params, value="random")[0]
    assert half.dtype == torch.float16


def test_random_erasing_area_law_matches_torchvision() -> None:
    """Same law as torchvision's ``RandomErasing.get_params`` (two-sample KS on h and w)."""
    h, w = 24, 20
    ours = sample_random_erasing_params(3000, h, w, p=1.0, generator=gen(5)).boxes
    torch.manual_seed(5)
    img = torch.zeros(1, h, w)
    theirs = []
    for _ in range(3000):
        _, _, eh, ew, _ = T.RandomErasing.get_params(img, (0.02, 0.4), (0.3, 1 / 0.3), [0.0])
        theirs.append((eh, ew) if (eh, ew) != (h, w) else (0, 0))  # tv: (H, W) means "no-op"
    t = torch.tensor(theirs, dtype=torch.float64)
    o_h = (ours[:, 2] - ours[:, 0]).double()
    o_w = (ours[:, 3] - ours[:, 1]).double()
    assert stats.ks_2samp(o_h.numpy(), t[:, 0].numpy()).pvalue > 1e-3
    assert stats.ks_2samp(o_w.numpy(), t[:, 1].numpy()).pvalue > 1e-3
    assert stats.ks_2samp((o_h * o_w).numpy(), (t[:, 0] * t[:, 1]).numpy()).pvalue > 1e-3


def test_random_erasing_corners_are_uniform() -> None:
    """A fixed 8 x 6 box (scale 0.1875, ratio 4/3) on 16 x 16: each corner row / column is
    equally likely, as torchvision's ``randint(0, H - h + 1)``."""
    params = sample_random_erasing_params(
        6000, 16, 16, p=1.0, scale=(0.1875, 0.1875), ratio=(4 / 3, 4 / 3), generator=gen(7)
    )
    b = params.boxes
    assert bool(((b[:, 2] - b[:, 0] == 8) & (b[:, 3] - b[:, 1] == 6)).all())
    for counts in (torch.bincount(b[:, 0], minlength=9), torch.bincount(b[:, 1], minlength=11)):
        assert counts.shape[0] in (9, 11) and bool((counts > 0).all())
        assert stats.chisquare(counts.numpy()).pvalue > 1e-4


def naive_erasing_boxes(u, v, n, h, w, p, scale, ratio, attempts) -> list[list[int]]:
    """Random Erasing boxes from the same uniforms, one image and one attempt at a time:
    the first attempt with h < H and w < W (torchvision's rule), erased with probability p,
    its corner uniform; an image that is not erased gets an empty box."""
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    boxes = []
    for i in range(n):
        eh = ew = 0
        for a in range(attempts):
            area = (u[0][i][a] * (scale[1] - scale[0]) + scale[0]) * (h * w)
            aspect = math.exp(u[1][i][a] * (log_hi - log_lo) + log_lo)
            ch, cw = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if ch < h and cw < w:
                if v[0][i] < p:
                    eh, ew = ch, cw
                break
        top = min(math.floor((h - eh + 1) * v[1][i]), h - eh)
        left = min(math.floor((w - ew + 1) * v[2][i]), w - ew)
        boxes.append([top, left, top + eh, left + ew])
    return boxes


def test_random_erasing_sampler_equals_naive_loop() -> None:
    for seed in range(150):
        n, attempts = 1 + seed % 9, 1 + seed % 11
        if seed % 50 == 0:  # a larger batch
            n, attempts = 150, 10
        h, w = 1 + (seed * 7) % 60, 1 + (seed * 13) % 60
        p = (0.0, 0.5, 1.0)[seed % 3]
        scale = ((0.02, 0.4), (0.0, 1.0), (0.25, 0.25))[seed // 3 % 3]
        ratio = ((0.3, 1 / 0.3), (1.0, 1.0), (0.1, 10.0))[seed // 9 % 3]
        params = sample_random_erasing_params(n, h, w, p, scale, ratio, attempts, gen(seed))
        g = gen(seed)
        u = torch.rand((2, n, attempts), dtype=torch.float64, generator=g).tolist()
        v = torch.rand((3, n), dtype=torch.float64, generator=g).tolist()
        expected = naive_erasing_boxes(u, v, n, h, w, p, scale, ratio, attempts)
        assert params.boxes.dtype == torch.int64 and params.boxes.tolist() == expected
        assert params.noise_seed == int(torch.randint(2**62, (), generator=g))


def naive_cutout_boxes(centres, gates, n, n_holes, h, w, length, p) -> list[list[list[int]]]:
    """Cutout boxes from the same uniforms, one image and one hole at a time."""
    boxes = []
    for i in range(n):
        holes = []
        for k in range(n_holes):
            cy = min(math.floor(centres[0][i][k] * h), h - 1)
            cx = min(math.floor(centres[1][i][k] * w), w - 1)
            top, left = max(cy - length // 2, 0), max(cx - length // 2, 0)
            bottom = max(min(cy - length // 2 + length, h), 0)
            right = max(min(cx - length // 2 + length, w), 0)
            holes.append([top, left, bottom if gates[i] < p else top, right])
        boxes.append(holes)
    return boxes


def test_cutout_sampler_equals_naive_loop() -> None:
    for seed in range(150):
        n, n_holes = 1 + seed % 7, 1 + seed % 3
        h, w = 1 + (seed * 7) % 50, 1 + (seed * 13) % 50
        length, p = 1 + (seed * 5) % 40, (0.0, 0.5, 1.0)[seed % 3]
        params = sample_cutout_params(n, h, w, n_holes, length, p, gen(seed))
        g = gen(seed)
        centres = torch.rand((2, n, n_holes), dtype=torch.float64, generator=g).tolist()
        gates = torch.rand((n, 1), generator=g)[:, 0].tolist()
        expected = naive_cutout_boxes(centres, gates, n, n_holes, h, w, length, p)
        assert params.boxes.dtype == torch.int64 and params.boxes.tolist() == expected
        assert params.noise_seed == int(torch.randint(2**62, (), generator=g))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 8),
    h=st.integers(2, 40),
    w=st.integers(2, 40),
    s=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(sorted),
    r=st.tuples(st.floats(0.1, 10.0), st.floats(0.1, 10.0)).map(sorted),
    p=st.floats(0.0, 1.0),
)
def test_random_erasing_bounds(seed, n, h, w, s, r, p) -> None:
    params = sample_random_erasing_params(n, h, w, p, tuple(s), tuple(r), generator=gen(seed))
    b = params.boxes
    eh, ew = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    assert ((b[:, 0] >= 0) & (b[:, 2] <= h) & (b[:, 1] >= 0) & (b[:, 3] <= w)).all()
    assert ((eh >= 0) & (eh < h) & (ew >= 0) & (ew < w)).all()  # as torchvision: h < H, w < W
    x = torch.ones(n, 1, h, w)
    out, _ = random_erasing_batch(x, None, params)
    assert torch.equal((out == 0).flatten(1).sum(1), eh * ew)  # erased pixels = box area
    if p == 0.0:
        assert (eh * ew == 0).all()
    for hh, ww in zip(eh.tolist(), ew.tolist(), strict=True):
        if hh == 0 or ww == 0:
            continue
        # h = round(sqrt(A r)), w = round(sqrt(A / r)) with A in [s0, s1] * H * W, r in [r0, r1]
        a_lo, a_hi = s[0] * h * w, s[1] * h * w
        assert (max(hh - 0.5, 0) * max(ww - 0.5, 0)) <= a_hi * (1 + 1e-9)
        assert (hh + 0.5) * (ww + 0.5) >= a_lo * (1 - 1e-9)
        assert max(hh - 0.5, 0) / (ww + 0.5) <= r[1] * (1 + 1e-9)
        assert (hh + 0.5) / max(ww - 0.5, 1e-12) >= r[0] * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 8),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    holes=st.integers(1, 3),
    length=st.integers(1, 50),
)
def test_cutout_bounds(seed, n, h, w, holes, length) -> None:
    params = sample_cutout_params(n, h, w, holes, length, generator=gen(seed))
    b = params.boxes
    assert ((b[..., 0] >= 0) & (b[..., 2] <= h) & (b[..., 1] >= 0) & (b[..., 3] <= w)).all()
    eh, ew = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    assert ((eh >= 1) & (eh <= length) & (ew >= 1) & (ew <= length)).all()  # centre inside
    out, _ = cutout_batch(torch.ones(n, 1, h, w), None, params)
    cut = (out == 0).flatten(1).sum(1)
    assert (cut <= (eh * ew).sum(1)).all() and (cut >= (eh * ew).max(1).values).all()


def test_cutout_centres_are_uniform_and_per_sample() -> None:
    params = sample_cutout_params(4000, 32, 32, length=8, generator=gen(3))
    top = params.boxes[:, 0, 0]
    bottom = params.boxes[:, 0, 2]
    # unclipped squares have the exact side; centre rows cover the whole image
    interior = (top > 0) & (bottom < 32)
    assert ((bottom - top)[interior] == 8).all()
    centre = torch.where(top > 0, top + 4, bottom - 4)
    assert stats.chisquare(torch.bincount(centre, minlength=32).numpy()).pvalue > 1e-3
    assert params.boxes[:, 0].unique(dim=0).shape[0] > 500


def test_p_is_per_image() -> None:
    params = sample_cutout_params(2000, 16, 16, length=4, p=0.3, generator=gen(0))
    cut = (params.boxes[:, 0, 2] > params.boxes[:, 0, 0]).float().mean()
    assert abs(float(cut) - 0.3) < 0.04
    params = sample_random_erasing_params(2000, 16, 16, p=0.3, generator=gen(0))
    erased = (params.boxes[:, 2] > params.boxes[:, 0]).float().mean()
    assert abs(float(erased) - 0.3) < 0.04


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("value", [0.5, (0.1, 0.2, 0.3), "random"])
@pytest.mark.parametrize("hw", [12, 33])
def test_dtype_and_layout_kept_inputs_untouched(dtype, value, hw) -> None:
    x = images(5, h=hw, w=hw).to(dtype).contiguous(memory_format=torch.channels_last)
    x0 = x.clone()
    cp = sample_cutout_params(5, hw, hw, length=4, generator=gen())
    rp = sample_random_erasing_params(5, hw, hw, p=1.0, generator=gen())
    for params, out in (
        (cp, cutout_batch(x, None, cp, value)[0]),
        (rp, random_erasing_batch(x, None, rp, value)[0]),
    ):
        assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
        assert not torch.equal(out, x)
        if value != "random":
            assert torch.equal(out, naive_fill(x, params.boxes, value))
    assert torch.equal(x, x0)


def test_errors() -> None:
    x = images(4)
    cp = sample_cutout_params(4, 12, 10, generator=gen())
    with pytest.raises(ValueError, match="`length` must be >= 1, got 0"):
        sample_cutout_params(4, 12, 10, length=0)
    with pytest.raises(ValueError, match="`n_holes` must be >= 1, got 0"):
        sample_cutout_params(4, 12, 10, n_holes=0)
    with pytest.raises(TypeError, match="`length` must be an integer, got float"):
        sample_cutout_params(4, 12, 10, length=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`p` must be a finite float in \[0, 1\], got 1.5"):
        sample_random_erasing_params(4, 12, 10, p=1.5)
    with pytest.raises(ValueError, match=r"`p` must be a finite float in \[0, 1\], got nan"):
        sample_cutout_params(4, 12, 10, p=float("nan"))
    with pytest.raises(ValueError, match=r"`scale` values must be in \[0, 1\]"):
        sample_random_erasing_params(4, 12, 10, scale=(0.1, 1.5))
    with pytest.raises(ValueError, match=r"`scale` must be \(min, max\) with min <= max"):
        sample_random_erasing_params(4, 12, 10, scale=(0.4, 0.1))
    with pytest.raises(ValueError, match="`ratio` values must be > 0"):
        sample_random_erasing_params(4, 12, 10, ratio=(0.0, 2.0))
    with pytest.raises(TypeError, match=r"`ratio` must be a pair of floats"):
        sample_random_erasing_params(4, 12, 10, ratio=0.3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`scale` must be a pair of floats"):
        sample_random_erasing_params(4, 12, 10, scale=(0.1, "0.2"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`attempts` must be >= 1, got 0"):
        sample_random_erasing_params(4, 12, 10, attempts=0)
    with pytest.raises(TypeError, match=r"`generator` must be a torch\.Generator or None, got str"):
        sample_random_erasing_params(4, 12, 10, generator="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`generator` must be a torch\.Generator or None, got int"):
        sample_cutout_params(4, 12, 10, generator=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 per-channel entries but the images have C=3"):
        cutout_batch(x, None, cp, value=(0.1, 0.2))
    with pytest.raises(ValueError, match="'random', got 'noise'"):
        cutout_batch(x, None, cp, value="noise")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`value` must be a float"):
        cutout_batch(x, None, cp, value=True)
    with pytest.raises(ValueError, match="`value` must be finite"):
        cutout_batch(x, None, cp, value=math.inf)
    with pytest.raises(ValueError, match=r"`value` must contain finite floats, got \[0.1, nan"):
        cutout_batch(x, None, cp, value=(0.1, float("nan"), 0.2))
    with pytest.raises(TypeError, match="non-empty sequence of floats"):
        cutout_batch(x, None, cp, value=[])
    with pytest.raises(ValueError, match=r"drawn for N=4 images .* images have shape \(3, 3, 12"):
        cutout_batch(x[:3], None, cp)
    with pytest.raises(ValueError, match=r"size \(H, W\)=\(12, 10\)"):
        random_erasing_batch(x[..., :5], None, sample_random_erasing_params(4, 12, 10))
    with pytest.raises(TypeError, match=r"floating-point images.*torch\.int64"):
        cutout_batch(x.long(), None, cp)
    with pytest.raises(TypeError, match=r"`params` must be a CutoutParams .*got NoneType"):
        cutout_batch(x, None, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`params` must be a RandomErasingParams .*CutoutParams"):
        random_erasing_batch(x, None, cp)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scale", "ratio", "match"),
    [
        ((float("nan"), 0.1), (0.3, 3.0), r"`scale` values must be finite, got \(nan, 0.1\)"),
        ((0.1, float("inf")), (0.3, 3.0), r"`scale` values must be finite, got \(0.1, inf\)"),
        ((0.1, 0.2), (float("nan"), 2.0), r"`ratio` values must be finite, got \(nan, 2.0\)"),
        ((0.1, 0.2), (0.3, float("inf")), r"`ratio` values must be finite, got \(0.3, inf\)"),
        ((0.1, 0.2), (-float("inf"), 2.0), r"`ratio` values must be finite"),
    ],
)
def test_random_erasing_rejects_nan_and_inf(scale, ratio, match) -> None:
    with pytest.raises(ValueError, match=match):
        sample_random_erasing_params(4, 12, 10, scale=scale, ratio=ratio)


def test_params_reject_boxes_outside_the_image() -> None:
    msg = r"`boxes` must satisfy 0 <= top <= bottom <= height=12 and 0 <= left <= right <= width=10"
    for box in ([0, 0, 13, 2], [0, 0, 2, 11], [3, 0, 2, 2], [0, -1, 2, 2], [0, 4, 2, 3]):
        with pytest.raises(ValueError, match=rf"`RandomErasingParams`: {msg}"):
            RandomErasingParams(torch.tensor([box] * 4), 12, 10)
        with pytest.raises(ValueError, match=rf"`CutoutParams`: {msg}"):
            CutoutParams(torch.tensor([[[0, 0, 0, 0], box]] * 4), 12, 10)
    with pytest.raises(ValueError, match=r"`RandomErasingParams`: `boxes` must end in 4 corners"):
        RandomErasingParams(torch.zeros(4, 2).long(), 12, 10)
    with pytest.raises(TypeError, match="`CutoutParams`: `boxes` must be an int64 tensor with 3"):
        CutoutParams(torch.zeros(4, 4).long(), 12, 10)
    with pytest.raises(TypeError, match="`RandomErasingParams`: `boxes` must be an int64 tensor"):
        RandomErasingParams(torch.zeros(4, 4), 12, 10)
    with pytest.raises(ValueError, match="`height` must be >= 1, got 0"):
        CutoutParams(torch.zeros(4, 1, 4).long(), 0, 10)
    # the edges themselves are fine: a box may fill the image, an empty box erases nothing
    full = RandomErasingParams(torch.tensor([[0, 0, 12, 10], [12, 10, 12, 10]]), 12, 10)
    out, _ = random_erasing_batch(torch.ones(2, 1, 12, 10), None, full)
    assert out.flatten(1).sum(1).tolist() == [0.0, 120.0]


def test_params_are_frozen() -> None:
    p = sample_cutout_params(2, 8, 8)
    with pytest.raises(AttributeError):
        p.boxes = p.boxes  # type: ignore[misc]


def test_docstring_examples_run() -> None:
    result = doctest.testmod(erasing_module, extraglobs={"torch": torch}, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
