"""crop_flip_batch equals a naive per-sample torchvision pad/crop/flip with the same params."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from lightning_tricks.functional import CropFlipParams, crop_flip_batch, sample_crop_flip_params

MODES = ["constant", "edge", "reflect", "symmetric"]


def _naive(x: torch.Tensor, params: CropFlipParams, mode: str, fill: float) -> torch.Tensor:
    """Per-sample loop with torchvision's own padding (the peer implementation)."""
    _, _, h, w = x.shape
    out = []
    for n in range(x.shape[0]):
        padded = TF.pad(x[n], [params.padding], fill=fill, padding_mode=mode)
        top, left = int(params.top[n]), int(params.left[n])
        crop = padded[:, top : top + h, left : left + w]
        out.append(crop.flip(-1) if bool(params.flip[n]) else crop)
    return torch.stack(out)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("padding", "shape"), [(0, (5, 2, 6, 6)), (2, (17, 3, 7, 5)), (4, (9, 1, 9, 12))]
)
def test_equals_naive_per_sample_loop(mode: str, padding: int, shape: tuple) -> None:
    gen = torch.Generator().manual_seed(padding)
    x = torch.randn(*shape, generator=gen)
    params = sample_crop_flip_params(shape[0], padding, 0.5, generator=gen)
    out = crop_flip_batch(x, params, mode, fill=0.75)
    assert torch.equal(out, _naive(x, params, mode, 0.75))


def test_equals_torchvision_random_crop_and_flip_classes() -> None:
    """The v2 classes with the same drawn offsets give the same pixels."""
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    params = sample_crop_flip_params(6, 3, 0.5, generator=torch.Generator().manual_seed(1))
    crop = v2.RandomCrop(8, padding=3, padding_mode="reflect")
    for n in range(6):
        padded = crop._call_kernel(TF.pad, x[n], padding=[3, 3, 3, 3], padding_mode="reflect")
        ref = TF.crop(padded, int(params.top[n]), int(params.left[n]), 8, 8)
        ref = v2.RandomHorizontalFlip(p=1.0)(ref) if bool(params.flip[n]) else ref
        assert torch.equal(crop_flip_batch(x, params, "reflect")[n], ref)


def test_uint8_bf16_and_channels_last_keep_dtype_format_and_values() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(8, 3, 6, 6, generator=gen)
    params = sample_crop_flip_params(8, 2, 0.5, generator=gen)
    ref = crop_flip_batch(x, params, "constant")
    cl = crop_flip_batch(x.to(memory_format=torch.channels_last), params, "constant")
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(cl, ref)
    bf = crop_flip_batch(x.bfloat16(), params, "reflect")
    assert bf.dtype == torch.bfloat16 and torch.equal(
        bf, crop_flip_batch(x, params, "reflect").bfloat16()
    )
    u8 = (x.abs() * 40).to(torch.uint8)
    assert torch.equal(crop_flip_batch(u8, params, "edge"), _naive(u8, params, "edge", 0))
    assert crop_flip_batch(x[:0], sample_crop_flip_params(0, 2), "reflect").shape == (0, 3, 6, 6)


def test_parameters_differ_per_sample_and_cover_the_range() -> None:
    params = sample_crop_flip_params(256, 4, 0.5, generator=torch.Generator().manual_seed(0))
    assert params.top.dtype == torch.int64 and params.flip.dtype == torch.bool
    assert set(params.top.tolist()) == set(range(9)) and set(params.left.tolist()) == set(range(9))
    assert len(set(zip(params.top.tolist(), params.left.tolist()))) > 50
    assert 90 < int(params.flip.sum()) < 166
    # the same image repeated comes out differently per sample
    x = torch.randn(1, 3, 8, 8).expand(256, 3, 8, 8)
    out = crop_flip_batch(x, params, "reflect")
    assert len({tuple(o.flatten().tolist()) for o in out[:32]}) > 20


def test_generator_determinism_and_special_cases() -> None:
    a = sample_crop_flip_params(16, 2, generator=torch.Generator().manual_seed(5))
    b = sample_crop_flip_params(16, 2, generator=torch.Generator().manual_seed(5))
    c = sample_crop_flip_params(16, 2, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a.top, b.top) and torch.equal(a.flip, b.flip)
    assert not (torch.equal(a.top, c.top) and torch.equal(a.left, c.left))
    x = torch.randn(4, 2, 5, 5)
    none = sample_crop_flip_params(4, 0, 0.0)
    assert torch.equal(crop_flip_batch(x, none), x)
    always = sample_crop_flip_params(4, 0, 1.0)
    assert torch.equal(crop_flip_batch(x, always), x.flip(-1))
    moved = a.to("cpu")
    assert torch.equal(moved.left, a.left) and moved.padding == 2


def test_errors() -> None:
    x = torch.randn(2, 3, 4, 4)
    params = sample_crop_flip_params(2, 4)
    with pytest.raises(
        ValueError, match=r"reflect padding must be < the image size, got padding=4"
    ):
        crop_flip_batch(x, params, "reflect")
    with pytest.raises(ValueError, match=r"symmetric padding must be <= the image size"):
        crop_flip_batch(x, sample_crop_flip_params(2, 5), "symmetric")
    with pytest.raises(ValueError, match=r"`padding_mode` must be one of"):
        crop_flip_batch(x, params, "wrap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expected images of shape \(N, C, H, W\)"):
        crop_flip_batch(x[0], params, "edge")
    with pytest.raises(ValueError, match=r"drawn for 3 samples but the batch has 2"):
        crop_flip_batch(x, sample_crop_flip_params(3, 1), "edge")
    with pytest.raises(ValueError, match=r"`padding` must be >= 0, got -1"):
        sample_crop_flip_params(2, -1)
    with pytest.raises(TypeError, match=r"`padding` must be an integer"):
        sample_crop_flip_params(2, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`flip_p` must be a finite float in \[0, 1\], got 2"):
        sample_crop_flip_params(2, 1, flip_p=2)
    with pytest.raises(ValueError, match=r"`batch_size` must be an integer >= 0"):
        sample_crop_flip_params(-1, 1)
    with pytest.raises(ValueError, match=r"1-D of the same length"):
        CropFlipParams(
            1,
            torch.zeros(2, dtype=torch.long),
            torch.zeros(3, dtype=torch.long),
            torch.zeros(2, dtype=torch.bool),
        )
