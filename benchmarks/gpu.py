"""The GPU check: one Markdown table of what our tricks cost on a CUDA device (``make gpu-bench``).

Measures, in about five minutes on one GPU:

1. **The batch-trick stack's share of a training step**: ``BatchCropFlip → OneOf(MixUp,
   CutMix) → RandomErasing → LabelSmoothing`` (each through its callback's public
   ``transform_batch(x, y)``, as the training loop applies it before the forward) plus one
   SGD step, against the same step without the tricks, for a CIFAR ResNet-20 at 32×32 and a
   torchvision ResNet-50 at 224×224, under bf16 autocast and fp16 autocast (with a
   GradScaler), in NCHW and channels-last.
2. **Each batch trick against its peers** on CUDA tensors: timm (``timm.data.Mixup``,
   ``timm.data.random_erasing.RandomErasing``), torchvision v2 (``MixUp``, ``CutMix``,
   ``RandomErasing``) and Kornia (``RandomMixUpV2``, ``RandomCutMixV2``, ``RandomErasing``).
   RICAP has no peer in these libraries (ours alone). torchvision's ``RandomErasing`` on a
   batch tensor erases one box for the whole batch, ours one per image (noted in the table).
3. **AdaBound**: ``lightning_tricks.optim.AdaBound.step()`` against the ``adabound`` package
   and ``torch.optim.Adam(fused=True)`` on the parameters of both models.
4. **The distillation step** (teacher forward under no_grad + student step with
   ``DistillationLoss``) against a student step with cross-entropy plus a teacher forward.

Timing: ``torch.cuda.Event`` pairs around each call, warm-up calls first, then ours and the
peer alternate call by call; every cell is a median. ``peer / ours > 1`` means ours is faster
(for the share rows "peer" is the step without tricks, so ``peer / ours < 1`` and the note
gives the share). Nothing is asserted: read the table.

Usage::

    python benchmarks/gpu.py                      # the GPU measurement (needs CUDA)
    python benchmarks/gpu.py --device cpu --tiny  # a smoke run of every row on the CPU, tiny sizes

Without a CUDA device (and without ``--device cpu``) it prints one line, ``benchmarks/gpu.py:
needs a CUDA device ...``, and exits with status 0, so ``make gpu-bench`` is harmless on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NEEDS_CUDA = (
    "benchmarks/gpu.py: needs a CUDA device (torch.cuda.is_available() is False); nothing "
    "measured. `--device cpu --tiny` runs a smoke test of every row on the CPU."
)


# ----------------------------------------------------------------------------- timing
class Clock:
    """Times one call: CUDA events on a GPU, ``perf_counter`` on the CPU (milliseconds)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __call__(self, fn: Callable[[], Any]) -> float:
        if self.cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        t0 = time.perf_counter()
        fn()
        return 1000.0 * (time.perf_counter() - t0)


def alternate(
    clock: Clock, fns: Sequence[Callable[[], Any]], warmup: int, reps: int
) -> list[float]:
    """Median time of each function; the functions alternate call by call, order rotated."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(reps):
        order = list(range(len(fns)))
        order = order[r % len(fns) :] + order[: r % len(fns)]
        for i in order:
            times[i].append(clock(fns[i]))
    return [statistics.median(t) for t in times]


@dataclass
class Row:
    benchmark: str
    ours_ms: float | None
    peer: str
    peer_ms: float | None
    note: str = ""

    def markdown(self) -> str:
        def ms(v: float | None) -> str:
            return "—" if v is None else f"{v:.3f}"

        ratio = (
            f"{self.peer_ms / self.ours_ms:.2f}x"
            if self.ours_ms and self.peer_ms is not None
            else "—"
        )
        return (
            f"| {self.benchmark} | {ms(self.ours_ms)} | {self.peer} | {ms(self.peer_ms)} | "
            f"{ratio} | {self.note} |"
        )


HEADER = "| benchmark | ours (ms) | peer | peer (ms) | peer / ours | note |\n|---|---:|---|---:|---:|---|"


# ----------------------------------------------------------------------------- set-up
@dataclass
class Sizes:
    cifar_batch: int
    cifar_model: str
    imagenet_batch: int
    imagenet_side: int
    imagenet_model: str
    trick_shapes: tuple[tuple[int, int, int, int], ...]
    warmup: int
    reps: int
    step_reps: int


FULL = Sizes(
    cifar_batch=256,
    cifar_model="cifar_resnet20",
    imagenet_batch=64,
    imagenet_side=224,
    imagenet_model="resnet50",
    trick_shapes=((256, 3, 32, 32), (64, 3, 224, 224)),
    warmup=10,
    reps=50,
    step_reps=20,
)
#: a smoke run of every code path on a CPU in seconds (the 5-layer simple_cnn for every model)
TINY = Sizes(
    cifar_batch=4,
    cifar_model="simple_cnn",
    imagenet_batch=2,
    imagenet_side=16,
    imagenet_model="simple_cnn",
    trick_shapes=((4, 3, 8, 8),),
    warmup=1,
    reps=2,
    step_reps=1,
)


def _model(name: str, num_classes: int) -> nn.Module:
    from lightning_tricks.models import build_backbone

    return build_backbone(name, num_classes=num_classes)


def _stack(num_classes: int) -> list[Any]:
    """The batch-trick stack of a training run, built from the public callbacks."""
    from lightning_tricks import callbacks as cb

    return [
        cb.BatchCropFlip(padding=4, flip_p=0.5, seed=0),
        cb.OneOf([cb.MixUp(alpha=0.2), cb.CutMix(alpha=1.0)], num_classes=num_classes, seed=1),
        cb.RandomErasing(p=0.25, seed=2),
        cb.LabelSmoothing(smoothing=0.1, num_classes=num_classes, seed=3),
    ]


def _apply(tricks: Sequence[Any], x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    for trick in tricks:
        x, y = trick.transform_batch(x, y)
    return x, y


# ----------------------------------------------------------------------------- 1. stack share
def _step_times(
    device: torch.device,
    sizes: Sizes,
    clock: Clock,
    case: tuple[str, int, int, int],
    dtype: torch.dtype,
    channels_last: bool,
) -> tuple[float, float, float]:
    """(step with the stack, step without, stack alone) in ms for one model and precision."""
    name, batch, side, k = case
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = _model(name, k).to(device, memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type) if dtype is torch.float16 else None
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, side, side, generator=g).to(device, memory_format=fmt)
    y = torch.randint(0, k, (batch,), generator=g).to(device)
    tricks = _stack(k)

    def step(with_tricks: bool) -> None:
        xb, yb = _apply(tricks, x, y) if with_tricks else (x, y)
        with torch.autocast(device.type, dtype=dtype):
            loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    with_ms, without_ms = alternate(
        clock, [lambda: step(True), lambda: step(False)], sizes.warmup, sizes.step_reps
    )
    stack_ms = alternate(clock, [lambda: _apply(tricks, x, y)], sizes.warmup, sizes.reps)[0]
    return with_ms, without_ms, stack_ms


def stack_share_rows(device: torch.device, sizes: Sizes, clock: Clock) -> list[Row]:
    rows = []
    cases = [
        (sizes.cifar_model, sizes.cifar_batch, 32, 10),
        (sizes.imagenet_model, sizes.imagenet_batch, sizes.imagenet_side, 1000),
    ]
    if sizes.cifar_model == sizes.imagenet_model:  # --tiny: one small model stands for both
        cases = cases[:1]
    for case in cases:
        for dtype_name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
            for channels_last in (False, True):
                with_ms, without_ms, stack_ms = _step_times(
                    device, sizes, clock, case, dtype, channels_last
                )
                name, batch, side, _ = case
                layout = "channels-last" if channels_last else "NCHW"
                amp = f"{dtype_name} autocast" + (" + GradScaler" if dtype_name == "fp16" else "")
                rows.append(
                    Row(
                        f"step with the trick stack: {name} {side}², batch {batch}, {amp}, "
                        f"{layout}",
                        with_ms,
                        "same step, no tricks",
                        without_ms,
                        f"stack alone {stack_ms:.3f} ms = {100 * stack_ms / with_ms:.1f} % of "
                        f"the step; step difference {100 * (with_ms - without_ms) / with_ms:+.1f} %",
                    )
                )
    return rows


# ----------------------------------------------------------------------------- 2. tricks vs peers
def _peers(
    shape: tuple[int, int, int, int], k: int, device: torch.device
) -> list[tuple[str, str, Callable[[Tensor, Tensor], Any], str]]:
    """(trick, peer name, peer call, note) for one batch shape."""
    import kornia.augmentation as K
    from timm.data import Mixup
    from timm.data.random_erasing import RandomErasing as TimmErasing
    from torchvision.transforms import v2

    h = shape[2]
    side = max(1, h // 2)
    area = (side * side) / (h * h)
    timm_mix = Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0, num_classes=k)
    timm_cut = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0, num_classes=k)
    timm_re = TimmErasing(probability=1.0, mode="const", device=str(device))
    tv_mix = v2.MixUp(alpha=1.0, num_classes=k)
    tv_cut = v2.CutMix(alpha=1.0, num_classes=k)
    tv_re = v2.RandomErasing(p=1.0, value=0)
    tv_cutout = v2.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0), value=0)
    k_mix = K.RandomMixUpV2(p=1.0, data_keys=["input", "class"])
    k_cut = K.RandomCutMixV2(p=1.0, data_keys=["input", "class"], use_correct_lambda=True)
    k_re = K.RandomErasing(p=1.0)
    k_cutout = K.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0))
    one_box = "torchvision erases one box for the whole batch, ours one per image"
    return [
        (
            "MixUp",
            "timm Mixup",
            lambda x, y: timm_mix(x.clone(), y),
            "timm: in place, so on a copy",
        ),
        ("MixUp", "torchvision v2 MixUp", lambda x, y: tv_mix(x, y), ""),
        ("MixUp", "Kornia RandomMixUpV2", lambda x, y: k_mix(x, y), ""),
        (
            "CutMix",
            "timm Mixup (cutmix)",
            lambda x, y: timm_cut(x.clone(), y),
            "timm: in place, so on a copy",
        ),
        ("CutMix", "torchvision v2 CutMix", lambda x, y: tv_cut(x, y), ""),
        ("CutMix", "Kornia RandomCutMixV2", lambda x, y: k_cut(x, y), ""),
        (
            "Cutout",
            "torchvision v2 RandomErasing (square, fixed area)",
            lambda x, y: tv_cutout(x),
            one_box,
        ),
        ("Cutout", "Kornia RandomErasing (square, fixed area)", lambda x, y: k_cutout(x), ""),
        (
            "RandomErasing",
            "timm RandomErasing",
            lambda x, y: timm_re(x.clone()),
            "timm: a Python loop over images, in place, so on a copy",
        ),
        ("RandomErasing", "torchvision v2 RandomErasing", lambda x, y: tv_re(x), one_box),
        ("RandomErasing", "Kornia RandomErasing", lambda x, y: k_re(x), ""),
        ("RICAP", "none", lambda x, y: None, "no peer in timm, torchvision or Kornia"),
    ]


def _ours(name: str, k: int, h: int) -> Any:
    from lightning_tricks import callbacks as cb

    if name == "MixUp":
        return cb.MixUp(alpha=1.0, num_classes=k, seed=0)
    if name == "CutMix":
        return cb.CutMix(alpha=1.0, num_classes=k, seed=0)
    if name == "Cutout":
        return cb.Cutout(length=max(1, h // 2), seed=0)
    if name == "RandomErasing":
        return cb.RandomErasing(p=1.0, seed=0)
    return cb.RICAP(beta=0.3, num_classes=k, seed=0)


def trick_rows(device: torch.device, sizes: Sizes, clock: Clock) -> list[Row]:
    rows = []
    k = 1000
    for shape in sizes.trick_shapes:
        g = torch.Generator(device="cpu").manual_seed(0)
        x = torch.rand(shape, generator=g).to(device)
        y = torch.randint(0, k, (shape[0],), generator=g).to(device)
        for trick, peer, call, note in _peers(shape, k, device):
            ours = _ours(trick, k, shape[2])

            def run_ours(ours: Any = ours, x: Tensor = x, y: Tensor = y) -> Any:
                return ours.transform_batch(x, y)

            if peer == "none":
                ours_ms = alternate(clock, [run_ours], sizes.warmup, sizes.reps)[0]
                rows.append(Row(f"{trick} {tuple(shape)}", ours_ms, "—", None, note))
                continue
            ours_ms, peer_ms = alternate(
                clock, [run_ours, lambda call=call, x=x, y=y: call(x, y)], sizes.warmup, sizes.reps
            )
            rows.append(Row(f"{trick} {tuple(shape)}", ours_ms, peer, peer_ms, note))
    return rows


# ----------------------------------------------------------------------------- 3. AdaBound
def optimizer_rows(device: torch.device, sizes: Sizes, clock: Clock) -> list[Row]:
    import adabound

    from lightning_tricks.optim import AdaBound

    rows = []
    for name, k in ((sizes.cifar_model, 10), (sizes.imagenet_model, 1000)):
        params = [p for p in _model(name, k).to(device).parameters()]
        count = sum(p.numel() for p in params)

        def make(
            factory: Callable[[list[Tensor]], torch.optim.Optimizer], params: list[Tensor] = params
        ) -> Callable[[], Any]:
            ps = [p.detach().clone().requires_grad_(True) for p in params]
            for p in ps:
                p.grad = torch.randn_like(p) * 1e-2
            opt = factory(ps)
            return opt.step

        ours = make(lambda ps: AdaBound(ps, lr=1e-3, final_lr=0.1))
        peers = [
            ("adabound package", make(lambda ps: adabound.AdaBound(ps, lr=1e-3, final_lr=0.1))),
            ("torch Adam(fused=True)", make(lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True))),
        ]
        times = alternate(clock, [ours, *(f for _, f in peers)], sizes.warmup, sizes.reps)
        for (peer, _), peer_ms in zip(peers, times[1:]):
            rows.append(
                Row(
                    f"AdaBound.step(), {name} parameters ({count / 1e6:.2f} M)",
                    times[0],
                    peer,
                    peer_ms,
                )
            )
    return rows


# ----------------------------------------------------------------------------- 4. distillation
def distillation_rows(device: torch.device, sizes: Sizes, clock: Clock) -> list[Row]:
    from lightning_tricks.losses import DistillationLoss

    k, batch = 10, sizes.cifar_batch
    student = _model(sizes.cifar_model, k).to(device)
    teacher_name = "cifar_resnet56" if sizes is FULL else sizes.cifar_model
    teacher = _model(teacher_name, k).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
    loss_fn = DistillationLoss(alpha=0.9, temperature=4.0)
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, k, (batch,), generator=g).to(device)
    ctx = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if device.type == "cuda"
        else nullcontext()
    )

    def distill() -> None:
        with ctx:
            with torch.no_grad():
                t = teacher(x)
            loss = loss_fn(student(x), t, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def separate() -> None:
        with ctx:
            with torch.no_grad():
                teacher(x)
            loss = F.cross_entropy(student(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ours_ms, peer_ms = alternate(clock, [distill, separate], sizes.warmup, sizes.step_reps)
    amp = "bf16 autocast" if device.type == "cuda" else "fp32"
    return [
        Row(
            f"distillation step: {sizes.cifar_model} student, {teacher_name} teacher, "
            f"batch {batch}, {amp}",
            ours_ms,
            "student CE step + teacher forward",
            peer_ms,
            "the difference is the DistillationLoss",
        )
    ]


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, 2 repeats: a smoke run")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(NEEDS_CUDA)
        return 0
    device = torch.device(args.device)
    if device.type == "cpu" and not args.tiny:
        parser.error("--device cpu is a smoke run: add --tiny")
    sizes = TINY if args.tiny else FULL
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(1)  # a smoke run: no OpenMP threads fighting for busy cores
    clock = Clock(device)
    start = time.perf_counter()
    rows: list[Row] = []
    for part in (stack_share_rows, trick_rows, optimizer_rows, distillation_rows):
        rows += part(device, sizes, clock)
        print(f"  {part.__name__}: done at {time.perf_counter() - start:.0f} s", file=sys.stderr)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"benchmarks/gpu.py on {name}, torch {torch.__version__}"
        + (" (--tiny: smoke sizes, not a measurement)" if args.tiny else "")
        + f"; medians, ours and the peer alternating; {time.perf_counter() - start:.0f} s\n"
    )
    print(HEADER)
    for row in rows:
        print(row.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
