"""Batch tricks on CUDA tensors and with CUDA generators (skipped without a CUDA device).

The same parameters applied on CPU and on CUDA give the same images and targets (mixed
labels, their dense form and the mixed loss); samplers fed a CUDA generator keep their
draws on the device, follow the same arithmetic as on CPU and stay inside their bounds; the
whole callback stack trains under ``16-mixed``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from helpers import RandomImageDataModule, TinyClassifier, fit

from functional.test_erasing import naive_cutout_boxes, naive_erasing_boxes
from lightning_tricks.callbacks import RICAP, CutMix, Cutout, LabelSmoothing, MixUp, OneOf
from lightning_tricks.callbacks import RandomErasing as RandomErasingCallback
from lightning_tricks.functional import (
    MixedTargets,
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


LABEL_CASES: list[tuple[str, Callable[[torch.Generator], Any], Callable]] = [
    ("mixup_batch", lambda g: sample_mixup_params(N, 0.4, "batch", g), mixup_batch),
    ("mixup_elem", lambda g: sample_mixup_params(N, 0.4, "elem", g), mixup_batch),
    ("cutmix_batch", lambda g: sample_cutmix_params(N, H, W, 1.0, "batch", g), cutmix_batch),
    ("cutmix_elem", lambda g: sample_cutmix_params(N, H, W, 1.0, "elem", g), cutmix_batch),
    ("ricap", lambda g: sample_ricap_params(N, H, W, 0.3, g), ricap_batch),
]


@pytest.mark.parametrize(("name", "sample", "apply"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("inplace", [False, True])
def test_label_tricks_on_cuda_equal_cpu(name, sample, apply, channels_last, inplace) -> None:
    x = torch.randn(N, C, H, W, generator=_cpu_gen(0))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, K, (N,), generator=_cpu_gen(1))
    logits = torch.randn(N, K, generator=_cpu_gen(2))
    for seed in range(5):
        params = sample(_cpu_gen(seed))  # CPU params, applied to a CUDA batch
        x_cpu, y_cpu = apply(x.clone(), y, params, inplace=inplace)
        x_gpu, y_gpu = apply(x.cuda(), y.cuda(), params, inplace=inplace)
        assert x_gpu.device.type == "cuda" and y_gpu.device.type == "cuda"
        if name.startswith("mixup"):  # a lerp: the CUDA kernel may round differently
            torch.testing.assert_close(x_gpu.cpu(), x_cpu)
        else:  # pure copies
            assert torch.equal(x_gpu.cpu(), x_cpu), name
        if channels_last:
            assert x_gpu.is_contiguous(memory_format=torch.channels_last)
        assert isinstance(y_gpu, MixedTargets) and torch.equal(y_gpu.hard().cpu(), y_cpu.hard())
        torch.testing.assert_close(y_gpu.to_dense(K).cpu(), y_cpu.to_dense(K))
        torch.testing.assert_close(
            F.cross_entropy(logits.cuda(), y_gpu).cpu(), F.cross_entropy(logits, y_cpu)
        )
        _, dense_gpu = apply(x.cuda(), y.cuda(), params, num_classes=K)
        assert dense_gpu.device.type == "cuda" and dense_gpu.dtype == torch.float32
        torch.testing.assert_close(dense_gpu.cpu(), y_cpu.to_dense(K))


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
    # CUDA params drive a CPU batch as well as a CUDA one
    x = torch.randn(N, C, H, W, generator=_cpu_gen(3))
    y = torch.arange(N) % K
    for params, apply in ((mix, mixup_batch), (cm, cutmix_batch), (ricap, ricap_batch)):
        out_cpu, y_cpu = apply(x, y, params)
        out_gpu, y_gpu = apply(x.cuda(), y.cuda(), params)
        torch.testing.assert_close(out_gpu.cpu(), out_cpu)
        torch.testing.assert_close(y_gpu.to_dense(K).cpu(), y_cpu.to_dense(K))


def test_random_erasing_boxes_on_cuda_follow_the_naive_arithmetic() -> None:
    """A CUDA generator keeps the box arithmetic on the device; it gives the boxes of the
    per-image loop on the same uniforms."""
    n, attempts, p = 64, 10, 0.5
    scale, ratio = (0.02, 0.4), (0.3, 1 / 0.3)
    params = sample_random_erasing_params(n, 224, 224, p, scale, ratio, attempts, _cuda_gen(3))
    assert params.boxes.device.type == "cuda"
    g = _cuda_gen(3)
    u = torch.rand((2, n, attempts), dtype=torch.float64, device="cuda", generator=g)
    v = torch.rand((3, n), dtype=torch.float64, device="cuda", generator=g)
    expected = naive_erasing_boxes(u.tolist(), v.tolist(), n, 224, 224, p, scale, ratio, attempts)
    assert params.boxes.cpu().tolist() == expected


def test_cutout_boxes_on_cuda_follow_the_naive_arithmetic() -> None:
    n, n_holes, length, p = 64, 2, 16, 0.5
    params = sample_cutout_params(n, 32, 32, n_holes, length, p, generator=_cuda_gen(4))
    assert params.boxes.device.type == "cuda"
    g = _cuda_gen(4)
    centres = torch.rand((2, n, n_holes), dtype=torch.float64, device="cuda", generator=g)
    gates = torch.rand((n, 1), device="cuda", generator=g)[:, 0]
    expected = naive_cutout_boxes(centres.tolist(), gates.tolist(), n, n_holes, 32, 32, length, p)
    assert params.boxes.cpu().tolist() == expected


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
    for x, y in model.seen:  # mixed targets are recorded as their probabilities
        assert x.dtype == torch.float32 and x.shape == (8, 3, 8, 8)
        assert y.dtype == torch.float32 and y.shape == (8, 4)
        torch.testing.assert_close(y.sum(1), torch.ones(8))
        assert bool((y >= 0.1 / 4 - 1e-6).all())  # smoothed: every class keeps ε / K
