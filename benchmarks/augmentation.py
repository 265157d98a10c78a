"""Batch random crop + flip on the device vs per-image torchvision v2 transforms (issue 6).

Run: ``.venv/bin/python benchmarks/augmentation.py [--repeats N] [--quick]``

For a (256, 3, 32, 32) float32 batch, in one process, on the same batch, alternating ours /
peer, first with ``torch.set_num_threads(1)`` then 2:

* **ours**: ``BatchCropFlip(padding=4).transform_batch(x, y)`` — the callback's full path
  (validation, per-batch generator seeding, parameter draw, one vectorised gather) — and
  the bare functional ``crop_flip_batch`` with its parameter draw;
* **peer**: torchvision v2 ``Compose([RandomCrop(32, padding=4, padding_mode=...),
  RandomHorizontalFlip()])`` applied to every image of the batch in a loop, then stacked —
  the per-image pipeline the callback replaces (per-sample randomness in both).

Both padding modes of interest are measured: ``reflect`` (our default, airbench's) and
``constant`` (torchvision's default). With CUDA available the same comparison also runs on
the GPU (synchronised timings). Printed: median ms per batch and the ratio peer / ours
(> 1 means ours is faster), as a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torchvision.transforms import v2

from lightning_tricks.callbacks import BatchCropFlip
from lightning_tricks.functional import crop_flip_batch, sample_crop_flip_params

SHAPE = (256, 3, 32, 32)
PADDING = 4


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    def run(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) * 1e3

    return run


def measure(device: torch.device, mode: str, repeats: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*SHAPE, generator=gen).to(device)
    y = torch.randint(0, 10, (SHAPE[0],), generator=gen).to(device)
    callback = BatchCropFlip(padding=PADDING, padding_mode=mode, seed=0)  # type: ignore[arg-type]
    peer_t = v2.Compose(
        [v2.RandomCrop(SHAPE[-1], padding=PADDING, padding_mode=mode), v2.RandomHorizontalFlip()]
    )
    fgen = torch.Generator().manual_seed(1)

    def ours() -> object:
        return callback.transform_batch(x, y)

    def functional() -> object:
        params = sample_crop_flip_params(SHAPE[0], PADDING, 0.5, fgen, device=x.device)
        return crop_flip_batch(x, params, mode)  # type: ignore[arg-type]

    def peer() -> object:
        return torch.stack([peer_t(img) for img in x])

    run = _timer(device)
    times: dict[str, list[float]] = {"ours": [], "functional": [], "peer": []}
    for fn in (ours, functional, peer):  # warm-up
        fn()
    for _ in range(repeats):  # alternate on the same batch
        times["ours"].append(run(ours))
        times["peer"].append(run(peer))
        times["functional"].append(run(functional))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="5 repeats (a smoke run)")
    args = parser.parse_args()
    repeats = 5 if args.quick else args.repeats

    print(
        f"# BatchCropFlip vs per-image torchvision v2 — {datetime.date.today()}, "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"batch {SHAPE}, padding {PADDING}, {repeats} alternating repeats, medians; "
        f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    print(
        "| device | threads | padding_mode | ours: BatchCropFlip (ms) | ours: functional (ms) "
        "| peer: v2 per image (ms) | peer / ours |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for mode in ("reflect", "constant"):
            m = measure(torch.device("cpu"), mode, repeats)
            rows.append(("cpu", torch.get_num_threads(), mode, m))
    if torch.cuda.is_available():
        torch.set_num_threads(2)
        for mode in ("reflect", "constant"):
            m = measure(torch.device("cuda"), mode, repeats)
            rows.append((torch.cuda.get_device_name(), torch.get_num_threads(), mode, m))
    for device, threads, mode, m in rows:
        print(
            f"| {device} | {threads} | {mode} | {m['ours']:.2f} | {m['functional']:.2f} "
            f"| {m['peer']:.2f} | {m['peer'] / m['ours']:.1f}× |"
        )


if __name__ == "__main__":
    main()
