"""Batch tricks on CUDA tensors and with CUDA generators (skipped without a CUDA device).

The same parameters applied on CPU and on CUDA give the same images and targets; samplers
fed a CUDA generator keep their draws on the device and stay inside their bounds; Random
Erasing's on-device box arithmetic equals the CPU one on the same uniforms; all batch tricks
stacked train under ``16-mixed``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit

import lightning_tricks.functional.erasing as erasing_module
from lightning_tricks.callbacks import RICAP, CutMix, Cutout, LabelSmoothing, MixUp, OneOf
from lightning_tricks.callbacks import RandomErasing as RandomErasingCallback
from lightning_tricks.functional import (
    cutmix_batch,
    cutout_batch,
    mixup_batch,
    random_erasing_batch,
    ricap_batch,
    sample_cutmix_params,
    sample_cutout_params,
    sample_mixup_params,
    sample_random_erasing_params,
    sample_ricap_params,
)

pytestmark = pytest.mark.gpu

K = 5
N, C, H, W = 7, 3, 12, 10


def _cpu_gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cuda_gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cuda").manual_seed(seed)


def _label_cases() -> list[tuple[str, Callable[[torch.Generator], Any], Callable]]:
    return [
        ("mixup_batch", lambda g: sample_mixup_params(N, 0.4, "batch", g), mixup_batch),
        ("mixup_elem", lambda g: sample_mixup_params(N, 0.4, "elem", g), mixup_batch),
        ("cutmix_batch", lambda g: sample_cutmix_params(N, H, W, 1.0, "batch", g), cutmix_batch),
        ("cutmix_elem", lambda g: sample_cutmix_params(N, H, W, 1.0, "elem", g), cutmix_batch),
        ("ricap", lambda g: sample_ricap_params(N, H, W, 0.3, g), ricap_batch),
    ]


@pytest.mark.parametrize("case", range(5), ids=[c[0] for c in _label_cases()])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("inplace", [False, True])
def test_label_tricks_on_cuda_equal_cpu(case: int, channels_last: bool, inplace: bool) -> None:
    name, sample, apply = _label_cases()[case]
    x = torch.randn(N, C, H, W, generator=_cpu_gen(0))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, K, (N,), generator=_cpu_gen(1))
    for seed in range(5):
        params = sample(_cpu_gen(seed))
        x_cpu, y_cpu = apply(x.clone(), y, params, num_classes=K, inplace=inplace)
        xg = x.cuda()
        scratch = torch.empty_like(xg) if inplace else None
        x_gpu, y_gpu = apply(xg, y.cuda(), params, num_classes=K, inplace=inplace, scratch=scratch)
        assert x_gpu.device.type == "cuda" and y_gpu.device.type == "cuda"
        if name.startswith("mixup"):  # a lerp: the CUDA kernel may round differently
            torch.testing.assert_close(x_gpu.cpu(), x_cpu)
        else:  # pure copies
            assert torch.equal(x_gpu.cpu(), x_cpu), name
        torch.testing.assert_close(y_gpu.cpu(), y_cpu)
        if channels_last:
            assert x_gpu.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("inplace", [False, True])
def test_erasing_on_cuda_equals_cpu(inplace: bool) -> None:
    x = torch.randn(N, C, H, W, generator=_cpu_gen(0))
    for seed in range(5):
        cut = sample_cutout_params(N, H, W, n_holes=2, length=5, generator=_cpu_gen(seed))
        erase = sample_random_erasing_params(N, H, W, p=0.7, generator=_cpu_gen(seed))
        for params, apply, value in (
            (cut, cutout_batch, 0.5),
            (erase, random_erasing_batch, (0.1, 0.2, 0.3)),
        ):
            expected, _ = apply(x.clone(), None, params, value)
            got, _ = apply(x.cuda(), None, params, value, inplace=inplace)
            assert got.device.type == "cuda"
            assert torch.equal(got.cpu(), expected)


def test_samplers_with_a_cuda_generator_stay_on_the_device_and_in_bounds() -> None:
    g = _cuda_gen(0)
    mix = sample_mixup_params(N, 0.4, "batch", g)
    assert isinstance(mix.lam, float) and 0.0 <= mix.lam <= 1.0
    assert mix.perm.device.type == "cuda" and sorted(mix.perm.tolist()) == list(range(N))
    elem = sample_mixup_params(N, 0.4, "elem", g)
    assert elem.lam.device.type == "cuda" and bool(((elem.lam >= 0) & (elem.lam <= 1)).all())
    for mode in ("batch", "elem"):
        cm = sample_cutmix_params(N, H, W, 1.0, mode, g)
        b = cm.boxes.cpu()
        assert cm.boxes.device.type == "cuda"
        assert bool(((b[:, 0] <= b[:, 2]) & (b[:, 2] <= H) & (b[:, 1] <= b[:, 3])).all())
        assert bool(((b >= 0).all()) and (b[:, 3] <= W).all())
    ricap = sample_ricap_params(N, H, W, 0.3, g)
    assert ricap.perms.device.type == "cuda" and ricap.offsets.device.type == "cuda"
    for k, (ph, pw) in enumerate(ricap.patch_sizes()):
        top, left = ricap.offsets[k, :, 0].cpu(), ricap.offsets[k, :, 1].cpu()
        assert bool(((top >= 0) & (top + ph <= H) & (left >= 0) & (left + pw <= W)).all())
    cut = sample_cutout_params(N, H, W, n_holes=2, length=5, generator=g)
    assert cut.boxes.device.type == "cuda"


def test_random_erasing_device_arithmetic_equals_cpu() -> None:
    """A CUDA generator keeps the box arithmetic on the device (torch); it gives the boxes
    that the CPU (NumPy) code gives for the same uniforms."""
    n, attempts = 64, 10
    params = sample_random_erasing_params(n, 224, 224, p=0.5, generator=_cuda_gen(3))
    assert params.boxes.device.type == "cuda"
    uv = torch.rand(
        n * (2 * attempts + 3) + 1, dtype=torch.float64, device="cuda", generator=_cuda_gen(3)
    )
    expected = erasing_module._erasing_boxes(
        uv[:-1].cpu().numpy(), n, 224, 224, 0.5, (0.02, 0.4), (0.3, 1 / 0.3)
    )
    assert params.boxes.cpu().tolist() == expected.tolist()


def test_cutout_device_arithmetic_equals_cpu() -> None:
    """Same for Cutout: the boxes drawn with a CUDA generator (torch arithmetic on the
    device) are those the NumPy code gives for the same uniforms."""
    n, n_holes = 64, 2
    params = sample_cutout_params(n, 32, 32, n_holes, 16, 0.5, generator=_cuda_gen(4))
    assert params.boxes.device.type == "cuda"
    uv = torch.rand(
        n * (2 * n_holes + 1) + 1, dtype=torch.float64, device="cuda", generator=_cuda_gen(4)
    )
    expected = erasing_module._cutout_boxes(uv[:-1].cpu().numpy(), n, 32, 32, 16, 0.5)
    assert params.boxes.cpu().tolist() == expected.tolist()


def test_all_batch_tricks_stacked_train_under_16_mixed_on_cuda(tmp_path: Path) -> None:
    model = TinyClassifier(record_batches=True)
    callbacks = [
        OneOf([MixUp(alpha=0.4), CutMix(alpha=1.0)]),
        RICAP(p=0.5),
        LabelSmoothing(0.1),
        Cutout(length=3),
        RandomErasingCallback(p=0.5),
    ]
    trainer = fit(
        model,
        RandomImageDataModule(n_train=32, batch_size=8),
        tmp_path,
        accelerator="gpu",
        precision="16-mixed",
        max_steps=4,
        limit_val_batches=1,
        callbacks=callbacks,
    )
    assert trainer.global_step == 4
    assert len(model.seen) == 4
    for _, y in model.seen:
        assert y.dtype == torch.float32 and y.shape == (8, 4)
        torch.testing.assert_close(y.sum(1), torch.ones(8))
