"""Knowledge distillation on CPU: one distillation step vs (student step + teacher forward).

Run: ``.venv/bin/python benchmarks/distillation.py [--repeats N] [--quick]``

Claim (issue 5): one training step of :class:`DistillationModule` (student forward, teacher
forward under ``no_grad``, :class:`DistillationLoss`, backward, SGD step) costs at most
1.1 × (a plain student step + a teacher forward), i.e. the distillation machinery itself
adds (almost) nothing. Peer: timm's ``LogitDistillationTask`` (timm >= 1.0.20), the same
work in timm's training-task API.

For each setting, on the same batch, alternating in rotating order:

* ``student``: ``F.cross_entropy(student(x), y)``, backward, SGD step;
* ``teacher``: ``teacher(x)`` under ``torch.no_grad()``;
* ``ours``: what ``DistillationModule.training_step`` does (teacher logits first, then
  ``student.distillation_loss(student(x), x, y, teacher_logits=...)``), backward, SGD step;
* ``timm``: ``LogitDistillationTask(x, y)["loss"]``, backward, SGD step;

first with ``torch.set_num_threads(1)`` then 2. Printed: median ms per step, the ratio
ours / (student + teacher) (the claim: <= 1.1) and timm / ours (> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from timm.task.distillation import DistillationTeacher, LogitDistillationTask
from torch import nn

from lightning_tricks.models import DistillationModule, ImageClassifier

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}

#: (student backbone, teacher backbone, batch shape)
SETTINGS = [
    ("cifar_resnet8", "cifar_resnet20", (128, 3, 32, 32)),
    ("simple_cnn", "cifar_resnet20", (64, 3, 16, 16)),
]


def _sgd(module: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)


def bench_setting(
    student_name: str, teacher_name: str, shape: tuple[int, ...], repeats: int
) -> dict[str, float]:
    torch.manual_seed(0)
    k = 10
    x = torch.randn(*shape)
    y = torch.randint(0, k, (shape[0],))
    teacher = ImageClassifier(teacher_name, num_classes=k, in_channels=shape[1])
    student = DistillationModule(student_name, num_classes=k, in_channels=shape[1], teacher=teacher)
    student.train()
    opt_ours = _sgd(student)

    # timm's task on its own copies (same architecture and weights), the same optimizer
    peer_student = ImageClassifier(student_name, num_classes=k, in_channels=shape[1]).model
    peer_student.load_state_dict(student.model.state_dict())
    peer_student.pretrained_cfg = IMAGENET  # equal to the teacher's: no re-normalisation
    peer_teacher = ImageClassifier(teacher_name, num_classes=k, in_channels=shape[1])
    peer_teacher.load_state_dict(teacher.state_dict())
    peer_teacher.requires_grad_(False)
    task = LogitDistillationTask(
        peer_student,
        DistillationTeacher(peer_teacher),
        criterion=nn.CrossEntropyLoss(),
        task_loss_weight=0.1,  # = 1 - alpha
        temperature=4.0,
        verbose=False,
    )
    task.train()
    opt_peer = _sgd(peer_student)

    def student_step() -> None:
        loss = F.cross_entropy(student(x), y)
        loss.backward()
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def teacher_forward() -> None:
        with torch.no_grad():
            teacher(x)

    def ours() -> None:  # DistillationModule.training_step without the logging
        t_logits = student.teacher_logits(x)
        loss = student.distillation_loss(student(x), x, y, teacher_logits=t_logits, log=False)
        loss.backward()
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def peer() -> None:
        loss = task(x, y)["loss"]
        loss.backward()
        opt_peer.step()
        opt_peer.zero_grad(set_to_none=True)

    fns: dict[str, Callable[[], None]] = {
        "student": student_step,
        "teacher": teacher_forward,
        "ours": ours,
        "timm": peer,
    }
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for fn in fns.values():  # warm-up
        fn()
    for r in range(repeats):
        for name in names[r % 4 :] + names[: r % 4]:  # rotate the order
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--quick", action="store_true", help="5 repeats, for a smoke run")
    args = ap.parse_args()
    repeats = 5 if args.quick else args.repeats
    warnings.filterwarnings("ignore", category=UserWarning)

    print(
        f"Distillation step on CPU ({datetime.date.today()}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, median of {repeats} alternating "
        "repeats, ms per step)\n"
    )
    print(
        "| threads | student ← teacher, batch | student step | teacher fwd | sum "
        "| ours (distill step) | ours / sum | timm task | timm / ours |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for student_name, teacher_name, shape in SETTINGS:
            m = bench_setting(student_name, teacher_name, shape, repeats)
            total = m["student"] + m["teacher"]
            print(
                f"| {torch.get_num_threads()} | {student_name} ← {teacher_name}, "
                f"{tuple(shape)} | {m['student']:.1f} | {m['teacher']:.1f} | {total:.1f} "
                f"| {m['ours']:.1f} | {m['ours'] / total:.3f} | {m['timm']:.1f} "
                f"| {m['timm'] / m['ours']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
