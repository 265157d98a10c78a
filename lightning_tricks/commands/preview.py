"""``lightning-tricks preview``: look at one augmented training batch before training.

Usage::

    lightning-tricks preview --config configs/digits_augment.yaml --out preview.png
    lightning-tricks preview --config base.yaml --config configs/tricks/random_crop.yaml \\
        --num 16 --cols 4 --seed 0 --trainer.callbacks+=lightning_tricks.callbacks.MixUp

The data module and the trainer's callbacks are built from the config exactly as
``lightning-tricks fit`` builds them (any other ``--key=value`` is passed to the CLI). One
training batch is drawn through the data module's transforms, the configured batch callbacks
(every callback with a ``transform_batch(x, y, num_classes)`` method, in the order of
``trainer.callbacks``) are applied to it as the training loop would, and the first ``--num``
images are drawn in a grid, each captioned with its (soft) label, e.g. ``0.62·3 + 0.38·8``.
Images are un-normalised with the data module's ``mean`` / ``std`` for display.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from ..functional.targets import MixedTargets, hard_targets

__all__ = ["format_label", "main", "render_grid"]

_SAFE_TRAINER = [
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.num_nodes=1",
    "--trainer.strategy=auto",
    "--trainer.precision=32-true",
    "--trainer.logger=false",
]
_CAPTION_TERMS = 3


def format_label(y: Tensor, min_prob: float = 0.005) -> str:
    """Caption of one target: ``"3"`` for an index or one-hot, ``"0.62·3 + 0.38·8"`` for a mix.

    Classes are listed by decreasing probability; terms below ``min_prob`` are left out and
    at most three are shown (``+ …`` marks the rest, e.g. the small mass label smoothing
    spreads over every class).

    Example::

        >>> format_label(torch.tensor(7))
        '7'
        >>> format_label(torch.tensor([0.0, 0.0, 0.0, 0.62, 0.0, 0.0, 0.0, 0.0, 0.38]))
        '0.62·3 + 0.38·8'
    """
    if y.ndim == 0:
        return str(int(y))
    probs = y.detach().float().cpu()
    order = torch.argsort(probs, descending=True, stable=True)
    terms = [(int(k), float(probs[k])) for k in order if float(probs[k]) >= min_prob]
    if len(terms) == 1 and abs(terms[0][1] - 1.0) < 1e-6:
        return str(terms[0][0])
    text = " + ".join(f"{p:.2f}·{k}" for k, p in terms[:_CAPTION_TERMS])
    return text + (" + …" if len(terms) > _CAPTION_TERMS else "")


def _display_images(x: Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> Tensor:
    """``(N, H, W, C)`` float images in [0, 1] for ``imshow`` (un-normalised, clipped)."""
    x = x.detach().float().cpu()
    if mean is not None and std is not None:
        c = x.shape[1]
        m = torch.tensor(list(mean), dtype=x.dtype).view(1, -1, 1, 1).expand(1, c, 1, 1)
        s = torch.tensor(list(std), dtype=x.dtype).view(1, -1, 1, 1).expand(1, c, 1, 1)
        x = x * s + m
    return x.clamp(0.0, 1.0).permute(0, 2, 3, 1)


def render_grid(
    images: Tensor,
    captions: Sequence[str],
    out: str | Path,
    cols: int = 8,
    tile: float = 1.5,
    dpi: int = 100,
    title: str = "",
) -> tuple[int, int]:
    """Save a grid of ``(N, H, W, C)`` images in [0, 1] with one caption each; return its size.

    The PNG is exactly ``cols·tile`` inches wide and ``rows·1.25·tile + 0.4`` inches high
    (``rows = ceil(N / cols)``; the 0.4 inch band holds ``title``) at ``dpi``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = images.shape[0]
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    band = 0.4
    width, height = cols * tile, rows * 1.25 * tile + band
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.text(0.5, 1 - band / 2 / height, title, ha="center", va="center", fontsize=8)
    fontsize = max(5.0, 6.5 * tile / 1.5)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        # axes in figure coordinates: the image square, the caption below it
        left = (c * tile + 0.05 * tile) / width
        bottom = (height - band - (r + 1) * 1.25 * tile + 0.25 * tile) / height
        ax = fig.add_axes((left, bottom, 0.9 * tile / width, 0.9 * tile / height))
        ax.set_axis_off()
        if i >= n:
            continue
        img = images[i]
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(img[..., :3].numpy())
        ax.set_title(captions[i], fontsize=fontsize, y=-0.02, va="top", pad=0)
    fig.savefig(str(out), dpi=dpi)
    return round(width * dpi), round(height * dpi)


def _split(batch: Any) -> tuple[Tensor, Tensor]:
    if isinstance(batch, dict):
        return batch["image"], batch["label"]
    return batch[0], batch[1]


def main(argv: list[str]) -> int:
    """Entry point of ``lightning-tricks preview`` (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="lightning-tricks preview",
        description="Draw one training batch after the data transforms and batch callbacks.",
        epilog="Other --key=value arguments are passed to the LightningCLI (e.g. "
        "--data.init_args.batch_size=16 or --trainer.callbacks+=...).",
    )
    parser.add_argument("--config", action="append", required=True, help="config file(s)")
    parser.add_argument("--out", default="preview.png", help="PNG to write (preview.png)")
    parser.add_argument("--num", type=int, default=32, help="images to show (32)")
    parser.add_argument("--cols", type=int, default=8, help="grid columns (8)")
    parser.add_argument("--tile", type=float, default=1.5, help="tile width in inches (1.5)")
    parser.add_argument("--dpi", type=int, default=100, help="resolution (100)")
    parser.add_argument("--seed", type=int, default=None, help="seed_everything value")
    args, rest = parser.parse_known_args(argv)
    for name in ("num", "cols", "dpi"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if not args.tile > 0:
        parser.error(f"--tile must be > 0, got {args.tile}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        parser.error("preview needs matplotlib: pip install 'lightning-tricks[examples]'")

    from ..cli import TricksCLI

    cli_args = [item for cfg in args.config for item in ("--config", cfg)]
    cli_args += _SAFE_TRAINER
    if args.seed is not None:
        cli_args.append(f"--seed_everything={args.seed}")
    cli = TricksCLI(run=False, args=cli_args + rest, save_config_callback=None)
    trainer, dm = cli.trainer, cli.datamodule
    if hasattr(dm, "num_workers"):
        dm.num_workers = 0  # one batch: worker processes would only cost start-up time
    dm.prepare_data()
    dm.setup("fit")
    x, y = _split(next(iter(dm.train_dataloader())))
    x, y = x[: args.num], y[: args.num]
    num_classes = getattr(dm, "num_classes", None)
    applied = []
    for cb in cast(Any, trainer).callbacks:
        transform_batch = getattr(cb, "transform_batch", None)
        if callable(transform_batch):
            x, y = transform_batch(x, y, num_classes=num_classes)
            applied.append(type(cb).__name__)

    normalized = bool(getattr(dm, "normalize", False))
    mean = getattr(dm, "mean", None) if normalized else None
    std = getattr(dm, "std", None) if normalized else None
    images = _display_images(x, mean, std)
    if isinstance(y, MixedTargets):  # caption the mixture, not only the hard labels
        y = y.to_dense(num_classes or int(hard_targets(y).max()) + 1)
    captions = [format_label(t) for t in y]
    user = getattr(dm, "user_train_transforms", None)
    steps = [type(user).__name__] if user is not None else []
    title = (
        f"{type(dm).__name__}: "
        + " → ".join(steps + applied or ["no augmentation"])
        + f"  ({images.shape[0]} of a batch of {getattr(dm, 'batch_size', '?')})"
    )
    size = render_grid(images, captions, args.out, args.cols, args.tile, args.dpi, title)
    print(f"wrote {args.out} ({size[0]}×{size[1]} px): {title}")
    return 0
