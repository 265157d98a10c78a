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
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 6, c: int = 3, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=gen(seed))


def naive_fill(x: torch.Tensor, boxes: torch.Tensor, value) -> torch.Tensor:
    """Per-sample, per-box loop with torchvision's own ``erase`` as the filler."""
    out = x.clone()
    for i in range(x.shape[0]):
        for t, lf, b, r in boxes[i].view(-1, 4).tolist():
            if b > t and r > lf:
                v = torch.tensor(value, dtype=x.dtype).view(-1, 1, 1)
                out[i] = TF.erase(out[i], t, lf, b - t, r - lf, v)
    return out


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("n_holes", [1, 3])
@pytest.mark.parametrize("value", [0.0, -1.5, (0.1, 0.2, 0.3)])
def test_cutout_equals_naive_loop(n: int, n_holes: int, value) -> None:
    x = images(n)
    params = sample_cutout_params(n, 12, 10, n_holes=n_holes, length=5, generator=gen(n))
    out, y = cutout_batch(x, torch.arange(n), params, value=value)
    assert torch.equal(out, naive_fill(x, params.boxes, value))
    assert torch.equal(y, torch.arange(n))


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("value", [0.0, (0.5, -0.5, 2.0)])
def test_random_erasing_equals_naive_loop(n: int, value) -> None:
    x = images(n)
    params = sample_random_erasing_params(n, 12, 10, p=0.7, generator=gen(n))
    out, _ = random_erasing_batch(x, None, params, value=value)
    assert torch.equal(out, naive_fill(x, params.boxes, value))


@pytest.mark.parametrize("size", [(12, 10), (40, 36)], ids=["mask-path", "slice-path"])
@pytest.mark.parametrize("inplace", [False, True])
def test_both_cpu_paths_and_inplace(size: tuple[int, int], inplace: bool) -> None:
    h, w = size
    x = images(5, h=h, w=w).contiguous(memory_format=torch.channels_last)
    x0 = x.clone()
    cp = sample_cutout_params(5, h, w, n_holes=2, length=7, generator=gen(1))
    rp = sample_random_erasing_params(5, h, w, p=0.8, generator=gen(2))
    for fn, params, value in (
        (cutout_batch, cp, (1.0, 2.0, 3.0)),
        (random_erasing_batch, rp, -2.0),
    ):
        x_in = x.clone(memory_format=torch.channels_last)
        out, _ = fn(x_in, None, params, value=value, inplace=inplace)
        assert torch.equal(out, naive_fill(x0, params.boxes, value))
        assert (out is x_in) == inplace
        assert torch.equal(x_in, out if inplace else x0)
        assert out.is_contiguous(memory_format=torch.channels_last)


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
    cut, _ = cutout_batch(x, None, sample_cutout_params(16, 32, 32, generator=gen(2)), "random")
    assert (cut != 7.0).any()


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


def naive_erasing_boxes(uv, n, h, w, p, scale, ratio, attempts) -> list[list[int]]:
    """Random Erasing boxes from the same uniforms, one image and one attempt at a time."""
    u = uv[: 2 * n * attempts].view(2, n, attempts).tolist()
    v = uv[2 * n * attempts :].view(3, n).tolist()
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    boxes = []
    for i in range(n):
        box = [0, 0, 0, 0]
        for a in range(attempts):
            area = (u[0][i][a] * (scale[1] - scale[0]) + scale[0]) * (h * w)
            aspect = math.exp(u[1][i][a] * (log_hi - log_lo) + log_lo)
            eh, ew = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if eh < h and ew < w:
                if v[0][i] < p:
                    top = min(int(v[1][i] * (h - eh + 1)), h - eh)
                    left = min(int(v[2][i] * (w - ew + 1)), w - ew)
                    box = [top, left, top + eh, left + ew]
                break
        boxes.append(box)
    return boxes


def nonempty(boxes: list[list[int]]) -> list[list[int]]:
    """Boxes with every empty box (no pixel erased) written as [0, 0, 0, 0]."""
    return [b if b[2] > b[0] and b[3] > b[1] else [0, 0, 0, 0] for b in boxes]


def test_random_erasing_sampler_equals_naive_loop_in_numpy_and_torch() -> None:
    """The two implementations of the vectorised box arithmetic (NumPy for a CPU generator,
    torch for a generator on an accelerator) give the same boxes from the same draws, and
    those of a per-image, per-attempt loop."""
    for seed in range(300):
        n, attempts = 1 + seed % 9, 1 + seed % 11
        if seed % 50 == 0:  # a larger batch
            n, attempts = 150, 10
        h, w = 1 + (seed * 7) % 60, 1 + (seed * 13) % 60
        p = (0.0, 0.5, 1.0)[seed % 3]
        scale = ((0.02, 0.4), (0.0, 1.0), (0.25, 0.25))[seed // 3 % 3]
        ratio = ((0.3, 1 / 0.3), (1.0, 1.0), (0.1, 10.0))[seed // 9 % 3]
        uv = torch.rand(n * (2 * attempts + 3) + 1, dtype=torch.float64, generator=gen(seed))
        expected = naive_erasing_boxes(uv[:-1], n, h, w, p, scale, ratio, attempts)
        args = (n, h, w, p, scale, ratio)
        in_torch = erasing_module._erasing_boxes(uv[:-1], *args)
        in_numpy = erasing_module._erasing_boxes(uv[:-1].numpy(), *args)
        assert in_torch.dtype == torch.int64 and in_numpy.dtype == "int64"
        assert in_torch.tolist() == in_numpy.tolist()  # empty boxes included
        params = sample_random_erasing_params(n, h, w, p, scale, ratio, attempts, gen(seed))
        assert params.boxes.dtype == torch.int64 and params.boxes.tolist() == in_numpy.tolist()
        assert params.noise_seed == int(float(uv[-1]) * 2**53)
        # an image that is not erased has an empty box, wherever its corner
        assert nonempty(in_numpy.tolist()) == nonempty(expected)


def naive_cutout_boxes(uv, n, n_holes, h, w, length, p) -> list[list[list[int]]]:
    """Cutout boxes from the same uniforms, one image and one hole at a time."""
    centres = uv[: 2 * n * n_holes].view(2, n, n_holes).tolist()
    gates = uv[2 * n * n_holes :].tolist()
    boxes = []
    for i in range(n):
        holes = []
        for k in range(n_holes):
            cy = min(math.floor(centres[0][i][k] * h), h - 1)
            cx = min(math.floor(centres[1][i][k] * w), w - 1)
            top, left = min(max(cy - length // 2, 0), h), min(max(cx - length // 2, 0), w)
            bottom = min(max(cy - length // 2 + length, 0), h)
            right = min(max(cx - length // 2 + length, 0), w)
            holes.append([top, left, bottom if gates[i] < p else top, right])
        boxes.append(holes)
    return boxes


def test_cutout_sampler_equals_naive_loop_in_numpy_and_torch() -> None:
    """As for Random Erasing: the NumPy (CPU generator) and torch (accelerator) versions of
    the Cutout box arithmetic agree with each other and with a per-image, per-hole loop."""
    for seed in range(200):
        n, n_holes = 1 + seed % 7, 1 + seed % 3
        h, w = 1 + (seed * 7) % 50, 1 + (seed * 13) % 50
        length, p = 1 + (seed * 5) % 40, (0.0, 0.5, 1.0)[seed % 3]
        uv = torch.rand(n * (2 * n_holes + 1) + 1, dtype=torch.float64, generator=gen(seed))
        expected = naive_cutout_boxes(uv[:-1], n, n_holes, h, w, length, p)
        in_torch = erasing_module._cutout_boxes(uv[:-1], n, h, w, length, p)
        in_numpy = erasing_module._cutout_boxes(uv[:-1].numpy(), n, h, w, length, p)
        assert in_torch.dtype == torch.int64 and in_numpy.dtype == "int64"
        assert in_torch.tolist() == in_numpy.tolist() == expected
        params = sample_cutout_params(n, h, w, n_holes, length, p, gen(seed))
        assert params.boxes.dtype == torch.int64 and params.boxes.tolist() == expected
        assert params.noise_seed == int(float(uv[-1]) * 2**53)


@settings(max_examples=80, deadline=None)
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
    assert ((eh >= 0) & (eh < h) & (ew >= 0) & (ew < w)).all()
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


@settings(max_examples=80, deadline=None)
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


def test_cutout_p_is_per_sample() -> None:
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
    for out in (cutout_batch(x, None, cp, value)[0], random_erasing_batch(x, None, rp, value)[0]):
        assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
        assert not torch.equal(out, x)
    assert torch.equal(x, x0)


def test_errors() -> None:
    x = images(4)
    cp = sample_cutout_params(4, 12, 10, generator=gen())
    with pytest.raises(ValueError, match="`length` must be >= 1, got 0"):
        sample_cutout_params(4, 12, 10, length=0)
    with pytest.raises(ValueError, match="`n_holes` must be >= 1, got 0"):
        sample_cutout_params(4, 12, 10, n_holes=0)
    with pytest.raises(TypeError, match="`length` must be an integer, got float"):
        sample_cutout_params(4, 12, 10, length=2.5)
    with pytest.raises(ValueError, match=r"`p` must be in \[0, 1\], got 1.5"):
        sample_random_erasing_params(4, 12, 10, p=1.5)
    with pytest.raises(ValueError, match=r"`scale` values must be in \[0, 1\]"):
        sample_random_erasing_params(4, 12, 10, scale=(0.1, 1.5))
    with pytest.raises(ValueError, match=r"`scale` must be \(min, max\) with min <= max"):
        sample_random_erasing_params(4, 12, 10, scale=(0.4, 0.1))
    with pytest.raises(ValueError, match="`ratio` values must be > 0"):
        sample_random_erasing_params(4, 12, 10, ratio=(0.0, 2.0))
    with pytest.raises(TypeError, match=r"`ratio` must be a pair of floats"):
        sample_random_erasing_params(4, 12, 10, ratio=0.3)
    with pytest.raises(ValueError, match="`attempts` must be >= 1, got 0"):
        sample_random_erasing_params(4, 12, 10, attempts=0)
    with pytest.raises(ValueError, match="2 per-channel entries but the images have C=3"):
        cutout_batch(x, None, cp, value=(0.1, 0.2))
    with pytest.raises(ValueError, match="'random', got 'noise'"):
        cutout_batch(x, None, cp, value="noise")
    with pytest.raises(TypeError, match="`value` must be a float"):
        cutout_batch(x, None, cp, value=True)
    with pytest.raises(ValueError, match="`value` must be finite"):
        cutout_batch(x, None, cp, value=math.inf)
    with pytest.raises(ValueError, match=r"drawn for batch_size=4, but the images have N=3"):
        cutout_batch(x[:3], None, cp)
    with pytest.raises(ValueError, match=r"size \(H, W\)=\(12, 10\)"):
        random_erasing_batch(x[..., :5], None, sample_random_erasing_params(4, 12, 10))
    with pytest.raises(TypeError, match=r"floating-point images.*torch\.int64"):
        cutout_batch(x.long(), None, cp)
    with pytest.raises(ValueError, match=r"`boxes` must have shape \(N, 4\)"):
        random_erasing_batch(x, None, RandomErasingParams(torch.zeros(4, 2).long(), 12, 10))
    with pytest.raises(ValueError, match=r"`boxes` must have shape \(N, n_holes, 4\)"):
        cutout_batch(x, None, CutoutParams(torch.zeros(4, 4).long(), 12, 10))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(erasing_module, extraglobs={"torch": torch}, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
