"""Batch tricks on CPU: ours next to the peer implementation of the same trick (issue 3).

Run: ``.venv/bin/python benchmarks/batch_tricks.py [--repeats N] [--quick] [--only NAME]
[--threads 1 2] [--mode alternate|cold|steady] [--processes K] [--pin-malloc]``

For shapes (256, 3, 32, 32) and (64, 3, 224, 224) float32, each trick runs side by side with
its peer in one process, on the same batch, alternating ours / peer (``--mode`` also times
every call from cold caches, as in a training loop, or in short runs of one implementation;
see :func:`timeit`), first with ``torch.set_num_threads(1)`` then 2. Printed: median ms per
batch, the ratio of the medians peer / ours (> 1 means ours is faster) and the paired ratio
(median over repeats of peer / ours within one repeat, which cancels slow spells of a shared
machine); a goal column marks the rows below issue 3's goal. ``--processes K`` repeats the
whole measurement in K fresh processes and prints medians over them (a peer's time depends on
its process's allocator state, see :func:`run_processes`); ``--pin-malloc`` runs them with
glibc's mmap threshold pinned, the peers' best case. Peers:

* MixUp (batch): torchvision v2 ``MixUp`` and timm ``Mixup(mode="batch")``;
* MixUp (elem): timm ``Mixup(mode="elem")``;
* CutMix: torchvision v2 ``CutMix`` and timm ``Mixup(cutmix_alpha=1, mixup_alpha=0)``;
* RICAP: the loop of the seed article (axes corrected), one crop position per patch;
* Cutout: torchvision ``RandomErasing`` per image in a loop (square of the same area) and
  timm's batch ``RandomErasing(device="cpu")``;
* Random Erasing: torchvision ``RandomErasing`` per image and timm ``RandomErasing``;
* Label smoothing: the article's one-hot + scatter smoothing.

Finally the overhead of all batch tricks stacked on one training step (forward, backward,
SGD) of the project's ``cifar_resnet20`` on (128, 3, 32, 32).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.data.mixup import Mixup as TimmMixup
from timm.data.random_erasing import RandomErasing as TimmRandomErasing
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
from lightning_tricks.models import build_backbone

K = 10


def article_ricap(images: torch.Tensor, targets: torch.Tensor, beta: float = 0.3):
    """The seed article's RICAP loop (with H/W axes used consistently), as the baseline."""
    i_h, i_w = images.shape[2:]
    w = int(np.round(i_w * np.random.beta(beta, beta)))
    h = int(np.round(i_h * np.random.beta(beta, beta)))
    w_ = [w, i_w - w, w, i_w - w]
    h_ = [h, h, i_h - h, i_h - h]
    cropped, c_, W_ = {}, {}, {}
    for k in range(4):
        index = torch.randperm(images.size(0))
        x_k = np.random.randint(0, i_w - w_[k] + 1)
        y_k = np.random.randint(0, i_h - h_[k] + 1)
        cropped[k] = images[index][:, :, y_k : y_k + h_[k], x_k : x_k + w_[k]]
        c_[k] = targets[index]
        W_[k] = w_[k] * h_[k] / (i_w * i_h)
    patched = torch.cat(
        (torch.cat((cropped[0], cropped[1]), 3), torch.cat((cropped[2], cropped[3]), 3)), 2
    )
    return patched, c_, W_


def article_smooth(target: torch.Tensor, length: int, eps: float) -> torch.Tensor:
    """The article's LSR one-hot smoothing (zeros + scatter_add + add)."""
    one_hot = torch.zeros(target.size(0), length)
    value = torch.full((target.size(0), 1), 1 - eps)
    one_hot.scatter_add_(1, target.view(-1, 1), value)
    return one_hot + eps / length


def hook(cb: BatchTrick) -> Callable:
    """Ours as the Trainer runs it: ``on_train_batch_start`` rewriting a list batch in place
    (per-batch re-seeding, validation, soft targets, the trick itself)."""
    trainer = SimpleNamespace(global_rank=0, max_epochs=1, current_epoch=0, global_step=0)
    trainer.callbacks = [cb]
    module = SimpleNamespace(num_classes=K)
    cb.setup(trainer, module, "fit")  # type: ignore[arg-type]

    def run(x: torch.Tensor, y: torch.Tensor):
        batch = [x, y]
        cb.on_train_batch_start(trainer, module, batch, 0)  # type: ignore[arg-type]
        return batch

    return run


def per_image(transform: Callable) -> Callable:
    def run(x: torch.Tensor, y: torch.Tensor):
        return torch.stack([transform(img) for img in x]), y

    return run


class Flush:
    """Streams a buffer bigger than the last-level cache, as a training step does between two
    batches: the next call then starts with cold caches (code and data), like a batch trick
    in a real training loop."""

    def __init__(self, megabytes: int = 64) -> None:
        self.buffer = torch.empty(megabytes * 2**20 // 4)

    def __call__(self) -> None:
        self.buffer.fill_(1.0)


MODES = {
    # mode: (consecutive calls per turn, flush caches before each call)
    "alternate": (1, False),
    "cold": (1, True),
    "steady": (5, False),
}


def timeit(
    fns: dict[str, Callable],
    x: torch.Tensor,
    y: torch.Tensor,
    repeats: int,
    mode: str = "alternate",
) -> dict[str, list[float]]:
    """Seconds per call of each fn, ``repeats * block`` samples each, alternating the fns.

    The order of the fns rotates from one repeat to the next, and sample ``r * block + i``
    of every fn comes from the same repeat (for paired ratios). Modes (:data:`MODES`):

    * ``alternate`` (default): one call per fn per turn, ours and the peers in turn. Each fn
      is timed after whatever the previous one left in the caches.
    * ``cold``: every call follows the same :class:`Flush`, so each fn starts from cold
      caches (code and data), as a batch trick does in a training loop after the previous
      step's forward and backward. This favours implementations with few distinct calls.
    * ``steady``: each fn runs 5 times in a row per turn, so it is timed mostly in its own
      steady state (warm caches, its own allocator pattern); peers that allocate and free
      batch-sized tensors on every call pay their page faults in full here.
    """
    block, flush_first = MODES[mode]
    flush = Flush() if flush_first else None
    times: dict[str, list[float]] = {name: [] for name in fns}
    items = list(fns.items())
    for _, fn in items:  # warm-up
        for _ in range(5):
            fn(x, y)
    for r in range(repeats):
        shift = r % len(items)
        for name, fn in items[shift:] + items[:shift]:
            for _ in range(block):
                if flush is not None:
                    flush()
                t0 = time.perf_counter()
                fn(x, y)
                times[name].append(time.perf_counter() - t0)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(ts) for name, ts in times.items()}


def paired_ratio(times: dict[str, list[float]], peer: str, ours: str = "ours") -> float:
    """Median over repeats of peer time / our time within the same repeat.

    Both ran back to back in each repeat, so a slow spell of the shared machine (another
    tenant on the second core) inflates both and cancels out of the ratio.
    """
    return statistics.median(p / o for p, o in zip(times[peer], times[ours], strict=True))


def trick_rows(
    shape: tuple[int, ...], repeats: int, only: str = "", mode: str = "alternate"
) -> list[tuple[str, str, float, float, float]]:
    n, _, h, w = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    y = torch.randint(0, K, (n,), generator=g)
    cut_len = max(1, h // 2)  # Cutout: 16 on 32x32 (the paper), 112 on 224x224
    cut_area = cut_len * cut_len / (h * w)
    ours = {
        "MixUp (batch)": MixUp(alpha=1.0),
        "MixUp (elem)": MixUp(alpha=1.0, mode="elem"),
        "CutMix": CutMix(alpha=1.0),
        "RICAP": RICAP(beta=0.3),
        "Cutout": Cutout(length=cut_len, p=1.0),
        "Random Erasing": RandomErasing(p=0.5),
        "Label smoothing": LabelSmoothing(0.1),
    }
    timm_erasing = TimmRandomErasing(0.5, 0.02, 0.4, 0.3, device="cpu")
    timm_cutout = TimmRandomErasing(1.0, cut_area, cut_area, 1.0, 1.0, device="cpu")
    tv_mixup = v2.MixUp(alpha=1.0, num_classes=K)
    tv_cutmix = v2.CutMix(alpha=1.0, num_classes=K)
    timm_common = {"label_smoothing": 0.0, "num_classes": K, "prob": 1.0}
    peers: dict[str, dict[str, Callable]] = {
        "MixUp (batch)": {
            "torchvision v2 MixUp": tv_mixup,
            "timm Mixup batch": TimmMixup(mixup_alpha=1.0, mode="batch", **timm_common),
        },
        "MixUp (elem)": {
            "timm Mixup elem": TimmMixup(mixup_alpha=1.0, mode="elem", **timm_common),
        },
        "CutMix": {
            "torchvision v2 CutMix": tv_cutmix,
            "timm Mixup cutmix": TimmMixup(mixup_alpha=0.0, cutmix_alpha=1.0, **timm_common),
        },
        "RICAP": {"article loop": lambda a, b: article_ricap(a, b)},
        "Cutout": {
            "torchvision RandomErasing per image": per_image(
                v2.RandomErasing(p=1.0, scale=(cut_area, cut_area), ratio=(1.0, 1.0))
            ),
            "timm RandomErasing batch": lambda a, b: (timm_cutout(a), b),
        },
        "Random Erasing": {
            "torchvision RandomErasing per image": per_image(
                v2.RandomErasing(p=0.5, scale=(0.02, 0.4), ratio=(0.3, 1 / 0.3))
            ),
            "timm RandomErasing batch": lambda a, b: (timm_erasing(a), b),
        },
        "Label smoothing": {"article LSR": lambda a, b: (a, article_smooth(b, K, 0.1))},
    }
    rows = []
    for name, cb in ours.items():
        if only.lower() not in name.lower():
            continue
        fns: dict[str, Callable] = {"ours": hook(cb)}
        fns.update(peers[name])
        # timm and our erasing callbacks write into their input, so every implementation gets
        # `x` itself; values stay bounded (convex mixes / fills): timings are unaffected.
        times = timeit(fns, x, y, repeats, mode)
        med = medians(times)
        for peer in peers[name]:
            ratio = paired_ratio(times, peer)
            rows.append((name, peer, med["ours"] * 1e3, med[peer] * 1e3, ratio))
    return rows


def step_overhead(repeats: int) -> dict[str, float]:
    """Median seconds, cifar_resnet20 SGD step on (128, 3, 32, 32), without / with all tricks.

    Returns medians of: ``plain`` (step), ``both`` (tricks then step), ``tricks`` (tricks
    only) and ``clone`` (the batch copy every variant makes, so the erasing tricks, which
    write in place, always start from the same images).
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 3, 32, 32, generator=g)
    y = torch.randint(0, K, (128,), generator=g)
    model = build_backbone("cifar_resnet20", num_classes=K, in_channels=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    tricks = [
        hook(cb)
        for cb in (
            OneOf([MixUp(alpha=1.0), CutMix(alpha=1.0)]),
            RICAP(),
            LabelSmoothing(0.1),
            Cutout(length=16),
            RandomErasing(p=0.5),
        )
    ]

    def step(a: torch.Tensor, b: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(a), b).backward()
        opt.step()

    def apply_tricks(a: torch.Tensor, b: torch.Tensor) -> list:
        batch = [a.clone(), b]
        for trick in tricks:
            batch = trick(*batch)
        return batch

    fns = {
        "plain": lambda a, b: step(a.clone(), b),
        "both": lambda a, b: step(*apply_tricks(a, b)),
        "tricks": apply_tricks,
        "clone": lambda a, b: a.clone(),
    }
    return medians(timeit(fns, x, y, repeats, mode="alternate"))


# issue 3's goals: peer / ours must be at least this (Label smoothing has none)
GOALS = {
    ("MixUp (batch)", "torchvision v2 MixUp"): 1.0,
    ("MixUp (batch)", "timm Mixup batch"): 1.0,
    ("MixUp (elem)", "timm Mixup elem"): 3.0,
    ("CutMix", "torchvision v2 CutMix"): 1.0,
    ("CutMix", "timm Mixup cutmix"): 1.0,
    ("RICAP", "article loop"): 2.0,
    ("Cutout", "torchvision RandomErasing per image"): 5.0,
    ("Cutout", "timm RandomErasing batch"): 1.0,
    ("Random Erasing", "torchvision RandomErasing per image"): 5.0,
    ("Random Erasing", "timm RandomErasing batch"): 1.0,
}

# glibc settings for --pin-malloc: per-call allocations below 32 MiB are served from (and
# returned to) the heap instead of fresh mmap'd pages, whatever the process did before
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def goal_text(trick: str, peer: str, ratio: float) -> str:
    goal = GOALS.get((trick, peer))
    if goal is None:
        return "-"
    return f"≥ {goal:g}" + ("" if ratio >= goal else " **below**")


def measure(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The benchmark's records, one per (threads, shape, trick, peer), then the step overhead."""
    np.random.seed(0)
    torch.manual_seed(0)
    for threads in args.threads:
        torch.set_num_threads(threads)
        warm_up_threads()
        for shape in ((256, 3, 32, 32), (64, 3, 224, 224)):
            reps = args.repeats if shape[-1] <= 32 else max(3, args.repeats // 3)
            for name, peer, ours_ms, peer_ms, paired in trick_rows(
                shape, reps, args.only, args.mode
            ):
                yield {
                    "threads": threads,
                    "shape": list(shape),
                    "trick": name,
                    "peer": peer,
                    "ours_ms": ours_ms,
                    "peer_ms": peer_ms,
                    "paired": paired,
                }
        if args.only:
            continue
        med = step_overhead(args.step_repeats)
        yield {
            "threads": threads,
            "step_ms": med["plain"] * 1e3,
            "both_ms": med["both"] * 1e3,
            "tricks_ms": (med["tricks"] - med["clone"]) * 1e3,
            "direct_pct": (med["tricks"] - med["clone"]) / med["plain"] * 100,
            "end_to_end_pct": (med["both"] - med["plain"]) / med["plain"] * 100,
        }


def print_step(rec: dict[str, Any], prefix: str = "") -> None:
    print(
        "\nAll batch tricks stacked (OneOf(MixUp, CutMix), RICAP, LabelSmoothing, Cutout, "
        f"RandomErasing) on a cifar_resnet20 SGD step, (128, 3, 32, 32){prefix}: "
        f"step {rec['step_ms']:.1f} ms, tricks alone {rec['tricks_ms']:.2f} ms "
        f"(= {rec['direct_pct']:.2f}% of a step), step with tricks {rec['both_ms']:.1f} ms "
        f"({rec['end_to_end_pct']:+.1f}%, noisier)\n"
    )


def run_here(args: argparse.Namespace) -> None:
    """Measure in this process, printing each row as soon as it is measured."""
    if args.emit_json:
        for rec in measure(args):
            print(json.dumps(rec), flush=True)
        return
    threads = None
    for rec in measure(args):
        if rec["threads"] != threads:
            threads = rec["threads"]
            print(f"## torch.get_num_threads() = {torch.get_num_threads()}\n")
            print("| shape | trick | peer | ours ms | peer ms | peer / ours | paired | goal |")
            print("|---|---|---|---:|---:|---:|---:|---|")
        if "step_ms" in rec:
            print_step(rec)
            continue
        print(
            f"| {tuple(rec['shape'])} | {rec['trick']} | {rec['peer']} | {rec['ours_ms']:.3f} | "
            f"{rec['peer_ms']:.3f} | {rec['peer_ms'] / rec['ours_ms']:.2f}x | "
            f"{rec['paired']:.2f}x | {goal_text(rec['trick'], rec['peer'], rec['paired'])} |"
        )


def run_processes(args: argparse.Namespace, argv: list[str]) -> None:
    """Run the measurement in ``--processes`` fresh processes, one after the other, and print
    per row the medians over processes and the range of the paired ratio.

    A peer's time can depend on the state of the process it runs in, not only on the
    machine: glibc serves a batch-sized allocation from reused heap memory or from fresh
    pages (a page fault each) depending on what was allocated and freed before, so the same
    call can take 2x longer in one process than in the next. Several processes sample that.
    """
    env = dict(os.environ)
    if args.pin_malloc:
        env.update(PINNED_MALLOC)
    child = [sys.executable, str(Path(__file__).resolve()), *argv, "--processes", "1"]
    child += ["--emit-json"]
    runs: list[list[dict[str, Any]]] = []
    for k in range(args.processes):
        out = subprocess.run(child, env=env, capture_output=True, text=True, check=True).stdout
        runs.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
        print(f"process {k + 1}/{args.processes} done", file=sys.stderr, flush=True)
    n = len(runs)
    for i, rec in enumerate(runs[0]):
        recs = [run[i] for run in runs]
        if i == 0 or rec["threads"] != runs[0][i - 1]["threads"]:
            print(f"## torch.get_num_threads() = {rec['threads']}\n")
            print(
                f"| shape | trick | peer | ours ms | peer ms | paired, median of {n} | "
                "paired, min | paired, max | goal |"
            )
            print("|---|---|---|---:|---:|---:|---:|---:|---|")
        if "step_ms" in rec:
            merged = {key: statistics.median(r[key] for r in recs) for key in rec}
            print_step(merged, f", median of {n} processes")
            continue
        paired = [r["paired"] for r in recs]
        med = statistics.median(paired)
        print(
            f"| {tuple(rec['shape'])} | {rec['trick']} | {rec['peer']} | "
            f"{statistics.median(r['ours_ms'] for r in recs):.3f} | "
            f"{statistics.median(r['peer_ms'] for r in recs):.3f} | {med:.2f}x | "
            f"{min(paired):.2f}x | {max(paired):.2f}x | "
            f"{goal_text(rec['trick'], rec['peer'], med)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--step-repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="few repeats, to check it runs")
    parser.add_argument(
        "--only", default="", help="only the tricks whose name contains this (no step overhead)"
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--mode", choices=sorted(MODES), default="alternate", help="how calls are timed, see timeit"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="measure in this many fresh processes and print medians over them",
    )
    parser.add_argument(
        "--pin-malloc",
        action="store_true",
        help="measure in child processes with glibc's mmap threshold pinned at 32 MiB, so "
        "that every implementation's per-call allocations reuse heap memory (the peers' best "
        "case)",
    )
    parser.add_argument("--emit-json", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.step_repeats = 3, 2
    if args.processes < 1:
        parser.error(f"--processes must be >= 1, got {args.processes}")
    if not args.emit_json:
        print(
            f"# batch_tricks benchmark, {datetime.date.today()}, torch {torch.__version__}, "
            f"{platform.processor() or platform.machine()}, {repeats_note(args)}\n"
        )
    if args.emit_json or (args.processes == 1 and not args.pin_malloc):
        run_here(args)
    else:
        run_processes(args, [a for a in argv if a != "--pin-malloc"])


def warm_up_threads(seconds: float = 0.5) -> None:
    """Run parallel kernels for a moment after ``torch.set_num_threads``, so the first trick
    timed is not billed for starting the OpenMP thread pool."""
    a = torch.randn(64, 3, 224, 224)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a.mul_(1.0)


def repeats_note(args: argparse.Namespace) -> str:
    block = MODES[args.mode][0]
    note = (
        f"medians of {args.repeats} alternating repeats (224 px: {max(3, args.repeats // 3)}) "
        f"of {block} call(s) each, mode {args.mode!r}"
    )
    if args.processes > 1:
        note += f", in {args.processes} processes"
    if args.pin_malloc:
        note += ", glibc mmap threshold pinned (--pin-malloc)"
    return note


if __name__ == "__main__":
    main()
