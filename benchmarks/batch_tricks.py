"""Batch tricks on CPU: each trick next to its peer, the stack's share of a step, the mixed loss.

Run: ``.venv/bin/python benchmarks/batch_tricks.py [--repeats N] [--quick]``

Everything runs in one process with ``torch.set_num_threads(1)``, on float32 batches, timing
ours and the other implementation alternately on the same inputs (the order swaps every
repeat) and printing medians. Three Markdown tables (issue 13, "Speed"):

1. **Each trick against its peer** at (256, 3, 32, 32) with K=10 and (64, 3, 224, 224) with
   K=1000: ours is the callback's full training path (``on_train_batch_start`` on a list
   batch: per-batch generator, parameters, images and targets); ``peer / ours`` is the median
   over repeats of the peer's time over ours in the same repeat (> 1: we are faster). Like
   with like: our ``inplace=True`` against the peers that write into their input (timm),
   our default (a new image tensor) against those that do not (torchvision, the RICAP
   reference). timm and torchvision build dense ``(N, K)`` targets; ours build
   ``MixedTargets`` (hard labels carrying the mixture), whose cost at the loss is table 3.
2. **The whole stack's share of a training step**: OneOf(MixUp, CutMix) + LabelSmoothing +
   Cutout + RandomErasing on the batch of a CIFAR ResNet-20 SGD step (forward, backward,
   ``step``) on (128, 3, 32, 32).
3. **The mixed-label cross-entropy** at N=256, K=1000, forward + backward:
   ``F.cross_entropy(logits, mixed_targets)`` against the plain index cross-entropy and the
   dense soft-target cross-entropy on the same probabilities.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import timm
import torch
import torch.nn.functional as F
import torchvision
from timm.data.mixup import Mixup as TimmMixup
from timm.data.random_erasing import RandomErasing as TimmRandomErasing
from torch import Tensor
from torchvision.transforms import v2

from lightning_tricks.callbacks import (
    RICAP,
    BatchTrick,
    CutMix,
    Cutout,
    LabelSmoothing,
    MixUp,
    OneOf,
    RandomErasing,
)
from lightning_tricks.functional import mix_targets, smooth_targets
from lightning_tricks.models import CifarResNet

Fn = Callable[[Tensor, Tensor], Any]
TRICK_GOAL = 0.8  # each trick >= 0.8x the peer (peer / ours)
STACK_GOAL = 1.0  # the stack <= 1 % of a step
CE_GOAL = 1.3  # mixed CE <= 1.3x index CE, and < dense CE


def train_hook(*tricks: BatchTrick) -> Fn:
    """Our callbacks as a ``Trainer`` runs them: ``on_train_batch_start`` on a list batch."""
    module = torch.nn.Identity()
    trainer = SimpleNamespace(
        global_rank=0, max_epochs=1, current_epoch=0, global_step=0,
        callbacks=list(tricks), lightning_module=module,
    )  # fmt: skip
    for trick in tricks:
        trick.setup(trainer, module, "fit")  # type: ignore[arg-type]

    def run(x: Tensor, y: Tensor) -> list[Tensor]:
        batch = [x, y]
        for trick in tricks:
            trick.on_train_batch_start(trainer, module, batch, 0)  # type: ignore[arg-type]
        return batch

    return run


def per_image(transform: Callable[[Tensor], Tensor]) -> Fn:
    """A torchvision per-image transform over the batch, stacked into a new tensor."""
    return lambda x, y: (torch.stack([transform(img) for img in x]), y)


def ricap_reference(x: Tensor, y: Tensor, beta: float = 0.3) -> tuple[Tensor, list, list]:
    """RICAP as in the paper's listing (Takahashi et al. 2019; H and W used consistently)."""
    i_h, i_w = x.shape[2:]
    w = int(np.round(i_w * np.random.beta(beta, beta)))
    h = int(np.round(i_h * np.random.beta(beta, beta)))
    w_ = [w, i_w - w, w, i_w - w]
    h_ = [h, h, i_h - h, i_h - h]
    cropped, labels, weights = [], [], []
    for k in range(4):
        index = torch.randperm(x.size(0))
        x_k = np.random.randint(0, i_w - w_[k] + 1)
        y_k = np.random.randint(0, i_h - h_[k] + 1)
        cropped.append(x[index][:, :, y_k : y_k + h_[k], x_k : x_k + w_[k]])
        labels.append(y[index])
        weights.append(w_[k] * h_[k] / (i_w * i_h))
    top = torch.cat((cropped[0], cropped[1]), 3)
    bottom = torch.cat((cropped[2], cropped[3]), 3)
    return torch.cat((top, bottom), 2), labels, weights


def alternate(fns: dict[str, Fn], x: Tensor, y: Tensor, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each fn, one call each per repeat, the order rotating."""
    items = list(fns.items())
    for _, fn in items:  # warm-up
        for _ in range(3):
            fn(x, y)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeats):
        shift = r % len(items)
        for name, fn in items[shift:] + items[:shift]:
            start = time.perf_counter()
            fn(x, y)
            times[name].append(time.perf_counter() - start)
    return times


def ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def paired(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median over repeats of ``num``'s time / ``den``'s time in the same repeat."""
    return statistics.median(a / b for a, b in zip(times[num], times[den], strict=True))


def comparisons(h: int, w: int, k: int) -> list[tuple[str, str, BatchTrick, str, Fn]]:
    """(trick, our mode, our callback, peer name, peer) for one image size and K."""
    cut = max(1, h // 2)  # Cutout's side: 16 at 32 px (the paper's CIFAR-10 value)
    area = cut * cut / (h * w)
    timm_args = {"prob": 1.0, "mode": "batch", "label_smoothing": 0.0, "num_classes": k}
    timm_cutout = TimmRandomErasing(1.0, area, area, 1.0, 1.0, device="cpu")
    timm_erasing = TimmRandomErasing(0.5, 0.02, 0.4, 0.3, device="cpu")
    return [
        ("MixUp", "inplace", MixUp(alpha=1.0, inplace=True, seed=0), "timm Mixup (mixup only)",
         TimmMixup(mixup_alpha=1.0, cutmix_alpha=0.0, **timm_args)),
        ("MixUp", "default", MixUp(alpha=1.0, seed=0), "torchvision v2.MixUp",
         v2.MixUp(alpha=1.0, num_classes=k)),
        ("CutMix", "inplace", CutMix(alpha=1.0, inplace=True, seed=0), "timm Mixup (cutmix only)",
         TimmMixup(mixup_alpha=0.0, cutmix_alpha=1.0, **timm_args)),
        ("CutMix", "default", CutMix(alpha=1.0, seed=0), "torchvision v2.CutMix",
         v2.CutMix(alpha=1.0, num_classes=k)),
        ("RICAP", "default", RICAP(beta=0.3, seed=0), "reference (paper's listing)",
         ricap_reference),
        ("Cutout", "inplace", Cutout(length=cut, inplace=True, seed=0), "timm RandomErasing",
         lambda x, y: (timm_cutout(x), y)),
        ("Cutout", "default", Cutout(length=cut, seed=0), "torchvision v2.RandomErasing per image",
         per_image(v2.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0)))),
        ("RandomErasing", "inplace", RandomErasing(p=0.5, inplace=True, seed=0),
         "timm RandomErasing", lambda x, y: (timm_erasing(x), y)),
        ("RandomErasing", "default", RandomErasing(p=0.5, seed=0),
         "torchvision v2.RandomErasing per image",
         per_image(v2.RandomErasing(p=0.5, scale=(0.02, 0.4), ratio=(0.3, 1 / 0.3)))),
    ]  # fmt: skip


def goal_cells(ok: bool, goal: str) -> str:
    """The goal and whether it is met; callers judge the figures as printed (2 decimals)."""
    return f"{goal} | {'yes' if ok else '**no**'}"


def table_tricks(shapes: list[tuple[tuple[int, int, int, int], int]], repeats: int) -> None:
    print("| batch | K | trick | ours | peer | ours ms | peer ms | peer / ours | goal | met |")
    print("|---|---:|---|---|---|---:|---:|---:|---|---|")
    for shape, k in shapes:
        n, _, h, w = shape
        reps = repeats if h <= 64 else max(3, repeats // 3)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(*shape, generator=g)
        y = torch.randint(0, k, (n,), generator=g)
        for trick, mode, ours, peer_name, peer in comparisons(h, w, k):
            fns = {"ours": train_hook(ours), "peer": peer}
            times = alternate(fns, x.clone(), y, reps)  # in-place ones write into the copy
            ratio = paired(times, "peer", "ours")
            print(
                f"| {tuple(shape)} | {k} | {trick} | {mode} | {peer_name} | "
                f"{ms(times['ours']):.3f} | {ms(times['peer']):.3f} | {ratio:.2f}x | "
                f"{goal_cells(round(ratio, 2) >= TRICK_GOAL, f'≥ {TRICK_GOAL}x')} |"
            )


def table_stack(batch: tuple[int, int, int, int], repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*batch, generator=g)
    y = torch.randint(0, 10, (batch[0],), generator=g)
    model = CifarResNet(depth=20)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    stack = train_hook(
        OneOf([MixUp(), CutMix()], seed=0), LabelSmoothing(0.1, seed=1), Cutout(seed=2),
        RandomErasing(seed=3),
    )  # fmt: skip

    def step(a: Tensor, b: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(a), b).backward()
        opt.step()

    times = alternate({"step": step, "stack": stack}, x, y, repeats)
    share = paired(times, "stack", "step") * 100
    print("| batch | training step | stack ms | step ms | stack / step | goal | met |")
    print("|---|---|---:|---:|---:|---|---|")
    print(
        f"| {tuple(batch)} | CIFAR ResNet-20, SGD | {ms(times['stack']):.2f} | "
        f"{ms(times['step']):.1f} | {share:.2f} % | "
        f"{goal_cells(round(share, 2) <= STACK_GOAL, f'≤ {STACK_GOAL:g} %')} |"
    )


def table_loss(n: int, k: int, repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(n, k, generator=g, requires_grad=True)
    y = torch.randint(0, k, (n,), generator=g)
    mixed = mix_targets(y, [(None, 0.7), (torch.randperm(n, generator=g), 0.3)])
    smoothed = smooth_targets(mixed, 0.1)

    def loss(target: Tensor) -> Fn:
        def run(_x: Tensor, _y: Tensor) -> None:
            logits.grad = None
            F.cross_entropy(logits, target).backward()

        return run

    fns = {
        "index": loss(y),
        "mixed": loss(mixed),
        "smoothed": loss(smoothed),
        "dense": loss(mixed.to_dense(k)),
        "dense smoothed": loss(smoothed.to_dense(k)),
    }
    times = alternate(fns, logits, y, repeats)
    print("| N | K | targets | ms | / index CE | / dense CE | goal | met |")
    print("|---:|---:|---|---:|---:|---:|---|---|")
    rows = [  # (fn, targets, its dense counterpart)
        ("index", "index labels `(N,)`", ""),
        ("mixed", "`MixedTargets`: MixUp (2 components)", "dense"),
        ("dense", "dense `(N, K)` probabilities: MixUp", ""),
        ("smoothed", "`MixedTargets`: MixUp + smoothing 0.1", "dense smoothed"),
        ("dense smoothed", "dense `(N, K)` probabilities: MixUp + smoothing 0.1", ""),
    ]
    goal = f"≤ {CE_GOAL}x index, < 1x dense"
    for name, targets, dense in rows:
        vs_index = paired(times, name, "index")
        if dense:
            vs_dense = paired(times, name, dense)
            met = round(vs_index, 2) <= CE_GOAL and round(vs_dense, 2) < 1
            tail = f"{vs_dense:.2f}x | {goal_cells(met, goal)}"
        else:
            tail = "- | - | -"
        print(f"| {n} | {k} | {targets} | {ms(times[name]):.3f} | {vs_index:.2f}x | {tail} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=61, help="alternating repeats (32 px)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 3 repeats")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    if args.quick:
        shapes = [((16, 3, 16, 16), 10), ((8, 3, 32, 32), 100)]
        repeats, step_batch, step_repeats, ce = 3, (8, 3, 32, 32), 2, (16, 100)
    else:
        shapes = [((256, 3, 32, 32), 10), ((64, 3, 224, 224), 1000)]
        repeats, step_batch, step_repeats, ce = args.repeats, (128, 3, 32, 32), 21, (256, 1000)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"# Batch tricks, {datetime.date.today()}: torch {torch.__version__}, torchvision "
        f"{torchvision.__version__}, timm {timm.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load}; 1 thread, medians of {repeats} "
        f"alternating repeats ({max(3, repeats // 3)} at 224 px)\n"
    )
    print("## Each trick against its peer\n")
    table_tricks(shapes, repeats)
    print("\n## The stack's share of a training step\n")
    table_stack(step_batch, step_repeats)
    print("\n## Mixed-label cross-entropy, forward + backward\n")
    table_loss(*ce, repeats)


if __name__ == "__main__":
    main()
