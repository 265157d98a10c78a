"""Sphinx extension of the lightning-tricks docs: pages generated at build time.

On ``builder-inited`` it writes, under ``docs/_generated/`` (git-ignored):

* ``api/<package>.rst``: the API reference of every name in each public package's
  ``__all__`` (so the reference follows the code: nothing to list by hand);
* ``gallery/<trick>.png`` and ``gallery.md``: a seeded before/after image per augmentation
  trick on the embedded digits (top row: the images, bottom row: after the trick; each
  captioned with its label as ``lightning-tricks preview`` writes it);
* ``notebooks/*.ipynb``: copies of ``notebooks/`` (rendered by myst-nb, not executed).

On ``source-read`` it appends its before/after image to the method card of each
augmentation trick (``docs/tricks/<trick>.md``), so the cards stay the only text.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
#: seed of every gallery image (1: MixUp and CutMix draw a mix that is easy to see)
SEED = 1

#: public packages and modules documented in the API reference, in page order
API_MODULES = [
    ("lightning_tricks.callbacks", "Callbacks"),
    ("lightning_tricks.functional", "Functional core"),
    ("lightning_tricks.transforms", "Transforms"),
    ("lightning_tricks.schedulers", "Schedulers"),
    ("lightning_tricks.optim", "Optimizers"),
    ("lightning_tricks.losses", "Losses"),
    ("lightning_tricks.mixins", "Mixins"),
    ("lightning_tricks.models", "Models"),
    ("lightning_tricks.data", "Data"),
    ("lightning_tricks.cli", "Command line"),
    ("lightning_tricks.commands.ablate", "lightning-tricks ablate"),
    ("lightning_tricks.commands.preview", "lightning-tricks preview"),
    ("lightning_tricks.commands.plot_lr", "lightning-tricks plot-lr"),
    ("lightning_tricks.commands.demo", "lightning-tricks demo"),
]


# --------------------------------------------------------------------------- API pages
def _directive(module: str, name: str, obj: Any) -> str:
    target = f"{module}.{name}"
    if inspect.isclass(obj):
        return f".. autoclass:: {target}\n   :members:\n   :show-inheritance:\n"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return f".. autofunction:: {target}\n"
    return f".. autodata:: {target}\n   :no-value:\n"


def write_api_pages(out: Path) -> list[str]:
    """One page per public package from its ``__all__``; returns the page names."""
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for module_name, title in API_MODULES:
        module = importlib.import_module(module_name)
        names = list(getattr(module, "__all__", []))
        if not names:
            raise RuntimeError(f"{module_name} has no __all__: the API reference needs one")
        heading = f"{title} (``{module_name}``)"
        lines = [heading, "=" * len(heading), "", f".. module:: {module_name}", ""]
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names] + [""]
        for name in names:
            lines.append(_directive(module_name, name, getattr(module, name)))
        page = module_name.replace("lightning_tricks.", "").replace(".", "_")
        (out / f"{page}.rst").write_text("\n".join(lines))
        pages.append(page)
    (out / "index.rst").write_text(
        "API reference\n=============\n\nEvery name in the ``__all__`` of each public package, "
        "from its docstring.\n\n.. toctree::\n   :maxdepth: 1\n\n"
        + "".join(f"   {p}\n" for p in pages)
    )
    return pages


# --------------------------------------------------------------------------- gallery
def _digits(n: int = 8, size: int = 32) -> tuple[Any, Any]:
    import torch

    from lightning_tricks.data.digits import load_digits_tensors

    images, labels = load_digits_tensors(size)
    # the first image of each of the classes 0 .. n-1: a fixed, readable batch
    index = torch.stack([torch.nonzero(labels == k)[0, 0] for k in range(n)])
    return images[index].clone(), labels[index].clone()


def _per_image(make: Callable[[], Any], rgb: bool = False) -> Callable[[Any, Any], Any]:
    """A batch function from a per-image torchvision v2 transform on uint8 images."""

    def apply(x: Any, y: Any) -> tuple[Any, Any]:
        import torch

        transform = make()
        imgs = (x * 255).round().to(torch.uint8)
        out = torch.stack([transform(img) for img in imgs])
        return out.float() / 255 if out.dtype == torch.uint8 else out, y

    apply.rgb = rgb  # type: ignore[attr-defined]
    return apply


def _batch(make: Callable[[], Any]) -> Callable[[Any, Any], Any]:
    """A batch function from a batch callback's public ``transform_batch(x, y)``."""

    def apply(x: Any, y: Any) -> tuple[Any, Any]:
        return make().transform_batch(x, y)

    return apply


def gallery_tricks() -> dict[str, tuple[str, Callable[[Any, Any], Any], bool]]:
    """card name -> (what is shown, batch function, RGB input)."""
    from lightning_tricks import callbacks as cb
    from lightning_tricks.transforms import TrainTransforms

    def tt(**kw: Any) -> Callable[[], Any]:
        return lambda: TrainTransforms(**{"padding": 0, "hflip": 0.0, **kw})

    k = {"num_classes": 10, "seed": SEED}
    return {
        "mixup": ("MixUp(alpha=1.0)", _batch(lambda: cb.MixUp(alpha=1.0, **k)), False),
        "cutmix": ("CutMix(alpha=1.0)", _batch(lambda: cb.CutMix(alpha=1.0, **k)), False),
        "ricap": ("RICAP(beta=0.3)", _batch(lambda: cb.RICAP(beta=0.3, **k)), False),
        "one_of": (
            "OneOf([MixUp(alpha=1.0), CutMix(alpha=1.0)]), one call",
            _batch(lambda: cb.OneOf([cb.MixUp(alpha=1.0), cb.CutMix(alpha=1.0)], **k)),
            False,
        ),
        "cutout": ("Cutout(length=12)", _batch(lambda: cb.Cutout(length=12, seed=SEED)), False),
        "random_erasing": (
            "RandomErasing(p=1.0)",
            _batch(lambda: cb.RandomErasing(p=1.0, seed=SEED)),
            False,
        ),
        "random_crop": (
            "BatchCropFlip(padding=4, flip_p=0.0)",
            _batch(lambda: cb.BatchCropFlip(padding=4, flip_p=0.0, seed=SEED)),
            False,
        ),
        "mirroring": (
            "TrainTransforms(hflip=1.0)",
            _per_image(tt(hflip=1.0)),
            False,
        ),
        "rotation": (
            "TrainTransforms(rotation=25)",
            _per_image(tt(rotation=25)),
            False,
        ),
        "color_jitter": (
            "TrainTransforms(color_jitter=0.4), RGB digits",
            _per_image(tt(color_jitter=0.4)),
            True,
        ),
        "pca_lighting": (
            "TrainTransforms(pca_lighting=1.0), RGB digits (10× the usual 0.1)",
            _per_image(tt(pca_lighting=1.0)),
            True,
        ),
        "autoaugment": (
            "TrainTransforms(auto_augment='autoaugment-cifar10'), RGB digits",
            _per_image(tt(auto_augment="autoaugment-cifar10")),
            True,
        ),
    }


def write_gallery(out: Path) -> list[str]:
    """Draw the before/after image of every gallery trick (seeded); returns the card names."""
    import torch

    from lightning_tricks.commands.preview import format_label, render_grid

    out.mkdir(parents=True, exist_ok=True)
    x0, y0 = _digits()
    names = []
    for name, (shown, apply, rgb) in gallery_tricks().items():
        torch.manual_seed(SEED)
        x = x0.expand(-1, 3, -1, -1).clone() if rgb else x0.clone()
        x_aug, y_aug = apply(x.clone(), y0.clone())
        images = torch.cat([x, x_aug.detach().float().clamp(0, 1)]).permute(0, 2, 3, 1)
        captions = [str(int(v)) for v in y0] + [format_label(t) for t in y_aug]
        render_grid(
            images,
            captions,
            out / f"{name}.png",
            cols=len(x0),
            tile=1.2,
            dpi=110,
            title=f"{shown} (seed {SEED})",
        )
        names.append(name)
    lines = [
        "# Augmentation gallery",
        "",
        f"Each augmentation trick on the same eight embedded digits (32×32, seed {SEED}), drawn",
        "when the docs are built (`docs/_ext/lt_docs.py`). Top row: the digits with their labels;",
        "bottom row: after the trick, captioned with the (mixed) label. Strengths are chosen to",
        "be visible, not recommended settings: see each method card. `TrainTransforms` is shown",
        "with `padding=0, hflip=0.0` unless named, so only the named step acts.",
        "",
    ]
    for name in names:
        lines += [
            f"## {gallery_tricks()[name][0].split('(')[0]}",
            "",
            f"Method card: [{name}](../tricks/{name}.md)",
            "",
            f"![{name}](gallery/{name}.png)",
            "",
        ]
    (out.parent / "gallery.md").write_text("\n".join(lines))
    return names


# --------------------------------------------------------------------------- hooks
def _builder_inited(app: Any) -> None:
    if GENERATED.exists():
        shutil.rmtree(GENERATED)
    write_api_pages(GENERATED / "api")
    app.env.lt_gallery = write_gallery(GENERATED / "gallery")
    notebooks = GENERATED / "notebooks"
    notebooks.mkdir(parents=True)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(nb, notebooks / nb.name)


def _source_read(app: Any, docname: str, source: list[str]) -> None:
    if docname.startswith("tricks/") and docname.split("/", 1)[1] in getattr(
        app.env, "lt_gallery", ()
    ):
        name = docname.split("/", 1)[1]
        source[0] += (
            "\n\n## Before / after\n\n"
            "Top row: eight embedded digits; bottom row: after the trick.\n\n"
            f"![{name}, before and after](../_generated/gallery/{name}.png)\n\n"
            "Generated from the embedded digits when the docs are built "
            "([the gallery](../_generated/gallery.md)).\n"
        )


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _builder_inited)
    app.connect("source-read", _source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
