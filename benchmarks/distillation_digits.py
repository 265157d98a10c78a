"""Does distillation help a small student on data-scarce digits? Student alone vs distilled.

A ResNet-20 teacher is trained once on the full digits training split (about 125 images per
class); then a small student is trained on only ``--per-class`` images per class, once with
plain cross-entropy (:class:`ImageClassifier`) and once against the frozen teacher
(:class:`DistillationModule`, ``T`` and ``alpha`` below), with the same seed, steps, optimizer
and schedule. Test accuracy on the fixed test split, mean ± std over ``--seeds``.

Note the setting: with ``--teacher-data all`` (default) the teacher has seen more labelled
images than the student; distillation passes what it learnt from them to the student through
its soft predictions on the student's few images. ``--teacher-data same`` is the control: the
teacher is trained (seed 0, ``--steps`` steps) on exactly the student's few images, so any
gain comes from the soft targets alone.

    nice python benchmarks/distillation_digits.py                    # defaults below
    nice python benchmarks/distillation_digits.py --per-class 10 --seeds 0 1 2 3 4
    nice python benchmarks/distillation_digits.py --teacher-data same
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
import warnings

import lightning.pytorch as pl
import torch

from lightning_tricks.data import DigitsDataModule
from lightning_tricks.models import DistillationModule, ImageClassifier

QUIET = {
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "enable_checkpointing": False,
    "num_sanity_val_steps": 0,
    "accelerator": "cpu",
    "devices": 1,
    "deterministic": True,
}


def _fit_test(model: pl.LightningModule, dm: DigitsDataModule, max_steps: int, seed: int) -> float:
    trainer = pl.Trainer(max_steps=max_steps, limit_val_batches=0, **QUIET)
    trainer.fit(model, datamodule=dm)
    (res,) = trainer.test(model, datamodule=dm, verbose=False)
    return float(res["test/acc"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--image-size", type=int, default=16)
    ap.add_argument("--teacher", default="cifar_resnet20")
    ap.add_argument("--student", default="cifar_resnet8")
    ap.add_argument("--teacher-epochs", type=int, default=15, help="with --teacher-data all")
    ap.add_argument("--teacher-data", choices=["all", "same"], default="all")
    ap.add_argument("--steps", type=int, default=300, help="student optimizer steps")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    t0 = time.perf_counter()

    def train_teacher(per_class: int | None) -> tuple[dict[str, torch.Tensor], float]:
        pl.seed_everything(0, verbose=False)
        teacher = ImageClassifier(args.teacher, num_classes=10, in_channels=1, lr=args.lr)
        if per_class is None:
            dm = DigitsDataModule(image_size=args.image_size, batch_size=64)
            trainer = pl.Trainer(max_epochs=args.teacher_epochs, limit_val_batches=0, **QUIET)
        else:
            dm = DigitsDataModule(
                image_size=args.image_size, batch_size=args.batch_size, train_per_class=per_class
            )
            trainer = pl.Trainer(max_steps=args.steps, limit_val_batches=0, **QUIET)
        trainer.fit(teacher, datamodule=dm)
        (res,) = trainer.test(teacher, datamodule=dm, verbose=False)
        acc = float(res["test/acc"])
        seen = "all digits" if per_class is None else f"{per_class} per class"
        print(f"teacher {args.teacher} on {seen}: test acc {acc:.4f}", flush=True)
        return {k: v.clone() for k, v in teacher.state_dict().items()}, acc

    if args.teacher_data == "all":
        state, teacher_acc = train_teacher(None)
    teacher_accs = {}
    rows = []
    for per_class in args.per_class:
        if args.teacher_data == "same":
            state, teacher_acc = train_teacher(per_class)
        teacher_accs[per_class] = teacher_acc
        accs: dict[str, list[float]] = {"alone": [], "distilled": []}
        for seed in args.seeds:
            dm = DigitsDataModule(
                image_size=args.image_size,
                batch_size=args.batch_size,
                train_per_class=per_class,
                seed=seed,
            )
            common = {"num_classes": 10, "in_channels": 1, "lr": args.lr}
            pl.seed_everything(seed, verbose=False)
            alone = ImageClassifier(args.student, **common)
            accs["alone"].append(_fit_test(alone, dm, args.steps, seed))
            pl.seed_everything(seed, verbose=False)
            frozen = ImageClassifier(args.teacher, num_classes=10, in_channels=1)
            frozen.load_state_dict(state)
            student = DistillationModule(
                args.student,
                **common,
                teacher=frozen,
                temperature=args.temperature,
                alpha=args.alpha,
            )
            accs["distilled"].append(_fit_test(student, dm, args.steps, seed))
            print(
                f"per_class={per_class} seed={seed}: alone {accs['alone'][-1]:.4f}  "
                f"distilled {accs['distilled'][-1]:.4f}",
                flush=True,
            )
        rows.append((per_class, accs))

    def fmt(xs: list[float]) -> str:
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        return f"{100 * statistics.mean(xs):.1f} ± {100 * sd:.1f}"

    print()
    print(
        f"Distillation on data-scarce digits ({datetime.date.today()}, "
        f"torch.get_num_threads()={torch.get_num_threads()}, {len(args.seeds)} seeds "
        f"{args.seeds}, {args.image_size}×{args.image_size}, student {args.student} "
        f"{args.steps} steps bs {args.batch_size}, teacher {args.teacher} trained on "
        + (
            f"all ~125/class for {args.teacher_epochs} epochs"
            if args.teacher_data == "all"
            else f"the student's images for {args.steps} steps"
        )
        + f", T={args.temperature}, alpha={args.alpha}; {time.perf_counter() - t0:.0f} s)"
    )
    print()
    print(
        "| train images / class | teacher trained on | teacher test acc % "
        "| student alone (test acc %) | distilled student (test acc %) | Δ mean |"
    )
    print("|---|---|---|---|---|---|")
    seen = "all (~125/class)" if args.teacher_data == "all" else "the same images"
    for per_class, accs in rows:
        delta = 100 * (statistics.mean(accs["distilled"]) - statistics.mean(accs["alone"]))
        print(
            f"| {per_class} | {seen} | {100 * teacher_accs[per_class]:.1f} "
            f"| {fmt(accs['alone'])} | {fmt(accs['distilled'])} | {delta:+.1f} |"
        )


if __name__ == "__main__":
    main()
