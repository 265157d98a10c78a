"""Optimizer step time over ResNet-18's parameters on CPU: our AdaBound vs the `adabound`
package vs ``torch.optim.Adam(foreach=True)``, side by side in one process.

Each optimizer owns a copy of the 11.7 M parameters with the same fixed gradients; the three
(four with ``--compile``) steps are timed alternately, round after round, so machine noise
hits them alike; the table gives medians and the ratios the issue sets goals for:
``ours / package <= 0.5`` and ``ours / Adam(foreach) <= 1.5``, on 1 and 2 threads.

    python benchmarks/optimizers.py [--rounds 40] [--threads 1 2] [--compile] [--amsbound]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import torchvision

from lightning_tricks.optim import AdaBound


def _copy(params: list[torch.Tensor], grads: list[torch.Tensor]) -> list[torch.nn.Parameter]:
    out = []
    for p, g in zip(params, grads):
        q = torch.nn.Parameter(p.detach().clone())
        q.grad = g.clone()
        out.append(q)
    return out


def _quiet(step: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with warnings.catch_warnings():  # the package uses deprecated torch signatures
            warnings.simplefilter("ignore")
            return step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds (default 40)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--compile", action="store_true", help="also time AdaBound(compile=True)")
    parser.add_argument("--amsbound", action="store_true", help="AMSBound variant for both")
    args = parser.parse_args()

    import adabound  # the peer implementation (a test-only dependency, extra `dev`)

    torch.manual_seed(0)
    params = [p.detach() for p in torchvision.models.resnet18().parameters()]
    grads = [torch.randn_like(p) * 1e-2 for p in params]
    n = sum(p.numel() for p in params)
    kw = {"lr": 1e-3, "final_lr": 0.1, "amsbound": args.amsbound}
    optimizers: dict[str, torch.optim.Optimizer] = {
        "ours": AdaBound(_copy(params, grads), **kw),
        "adabound pkg": adabound.AdaBound(_copy(params, grads), **kw),
        "Adam foreach": torch.optim.Adam(_copy(params, grads), lr=1e-3, foreach=True),
    }
    if args.compile:
        optimizers["ours compile"] = AdaBound(_copy(params, grads), compile=True, **kw)
    steps = {name: _quiet(opt.step) for name, opt in optimizers.items()}

    print(
        f"# AdaBound step time, ResNet-18 ({n / 1e6:.1f} M float32 parameters, {len(params)} tensors)"
    )
    print(
        f"date {datetime.date.today()}, torch {torch.__version__}, "
        f"{torch.backends.cpu.get_cpu_capability()}, amsbound={args.amsbound}, "
        f"median of {args.rounds} alternating rounds\n"
    )
    print("| threads | " + " | ".join(f"{k} (ms)" for k in steps) + " | ours / pkg | ours / Adam |")
    print("|---" * (len(steps) + 3) + "|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for step in steps.values():  # warm-up (and the compile, if any)
            for _ in range(3):
                step()
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(args.rounds):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        cells = " | ".join(f"{v:.1f}" for v in med.values())
        ratio_pkg = med["ours"] / med["adabound pkg"]
        ratio_adam = med["ours"] / med["Adam foreach"]
        extra = ""
        if "ours compile" in med:
            extra = (
                f" (compile: {med['ours compile'] / med['adabound pkg']:.2f} / "
                f"{med['ours compile'] / med['Adam foreach']:.2f})"
            )
        print(
            f"| {torch.get_num_threads()} | {cells} | {ratio_pkg:.2f} | {ratio_adam:.2f} |{extra}"
        )


if __name__ == "__main__":
    main()
