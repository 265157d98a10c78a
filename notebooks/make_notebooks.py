"""Write the example notebooks (outputs stripped) from the cells below.

    python notebooks/make_notebooks.py          # rewrite notebooks/*.ipynb
    python notebooks/make_notebooks.py --check  # exit 1 if a notebook differs from this file

Edit the cells here, not the .ipynb files: ``tests/test_notebooks.py`` checks that the
committed notebooks match this script, carry no outputs, and run end to end.
Each notebook runs in well under two minutes on a laptop CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# Cells: ("md", text) or ("py", code).
QUICKSTART = [
    (
        "md",
        """# Quick start: tricks for your own LightningModule

Every trick of `lightning-tricks` is a Lightning **callback**: add it to the `Trainer` and
leave your module alone. The label-changing tricks (label smoothing, MixUp, CutMix, RICAP)
keep the targets looking like labels: inside your `training_step`, `y` is still int64 `(N,)`,
so accuracy, torchmetrics and logging work as before, while `F.cross_entropy`, `F.nll_loss`
and `F.binary_cross_entropy_with_logits` on that `y` compute the mixed (or smoothed) loss.
No `num_classes` attribute, no special targets.

This notebook trains a small CNN on the digits bundled with scikit-learn (no download), plots
the learning-rate schedule that `WarmupCosine` put in place, and previews what the batch
tricks do to a batch. CPU only, a few seconds of training.""",
    ),
    (
        "py",
        """import logging
import warnings

import lightning.pytorch as pl
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from lightning_tricks.callbacks import BatchCropFlip, CutMix, Cutout, LabelSmoothing, MixUp, WarmupCosine
from lightning_tricks.commands.preview import format_label
from lightning_tricks.data import DigitsDataModule

for message in (".*does not have many workers.*", ".*set_vital.*", ".*LeafSpec.*"):
    warnings.filterwarnings("ignore", message)
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
_ = pl.seed_everything(0)""",
    ),
    ("md", "## Your own module: nothing trick-specific in it"),
    (
        "py",
        """class MyNet(pl.LightningModule):
    def __init__(self, lr: float = 0.05, num_classes: int = 10):
        super().__init__()
        self.save_hyperparameters()
        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.net = nn.Sequential(
            *block(1, 16), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch  # int64 labels (N,), also under the label tricks
        logits = self(x)
        loss = F.cross_entropy(logits, y)  # the smoothed / mixed loss when a trick ran
        self.log("train/loss", loss)
        self.log("train/acc", (logits.argmax(1) == y).float().mean())  # on the hard labels
        return loss

    def evaluate(self, batch, stage):
        x, y = batch
        self.log(f"{stage}/acc", (self(x).argmax(1) == y).float().mean())

    def validation_step(self, batch, batch_idx):
        self.evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self.evaluate(batch, "test")

    def configure_optimizers(self):
        # a constant LR here: WarmupCosine wraps this method and adds the schedule
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9,
                               nesterov=True, weight_decay=5e-4)""",
    ),
    (
        "md",
        """## Add the tricks as callbacks

* `WarmupCosine`: linear warmup then cosine decay, stepped every optimizer step;
* `LabelSmoothing`: the loss sees `0.9 · one_hot + 0.1 / K` (K from the logits), the rest of
  the step sees the labels;
* `BatchCropFlip`: a random crop (translation by up to 2 pixels) per image, on the device,
  for the whole batch at once (mirroring off: digits are not mirror-symmetric).

A small callback records the learning rate of every step so that we can plot it.""",
    ),
    (
        "py",
        """class LRRecorder(pl.Callback):
    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


data = DigitsDataModule(image_size=16, train_per_class=20, batch_size=25)
recorder = LRRecorder()
tricks = [
    WarmupCosine(warmup_epochs=2),
    LabelSmoothing(smoothing=0.1),
    BatchCropFlip(padding=2, padding_mode="reflect", flip_p=0.0),
]
trainer = pl.Trainer(
    max_epochs=20, accelerator="cpu", devices=1, callbacks=[*tricks, recorder],
    logger=False, enable_checkpointing=False, enable_progress_bar=False,
    enable_model_summary=False, num_sanity_val_steps=0, check_val_every_n_epoch=5,
)
model = MyNet(lr=0.05)
trainer.fit(model, datamodule=data)
train_acc = float(trainer.callback_metrics["train/acc"])  # logged on the hard labels
test_acc = trainer.test(model, datamodule=data, verbose=False)[0]["test/acc"]
print(f"{trainer.global_step} steps, last train-batch accuracy {100 * train_acc:.1f} %, "
      f"test accuracy {100 * test_acc:.1f} % ({len(data.train_set)} training images)")""",
    ),
    ("md", "## The learning-rate schedule the callback put in place"),
    (
        "py",
        """steps_per_epoch = trainer.num_training_batches
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.plot(recorder.lrs)
ax.axvline(2 * steps_per_epoch, color="gray", linestyle=":", label="end of warmup (2 epochs)")
ax.set_xlabel("optimizer step")
ax.set_ylabel("learning rate")
ax.legend()
plt.show()""",
    ),
    (
        "md",
        """From the command line, `lightning-tricks plot-lr --config <base.yaml> --config
configs/tricks/warmup_cosine.yaml --out lr.png` draws the same plan without training.

## What the batch tricks do to a batch

`transform_batch` applies a batch trick outside the `Trainer` (it is what
`lightning-tricks preview` uses). Captions show the targets. A mixing trick returns hard
labels that carry the mixture; `y.to_dense(10)` spells the mixture out as `(N, 10)`
probabilities, which is what the captions show.""",
    ),
    (
        "py",
        """x, y = next(iter(data.train_dataloader()))
x, y = x[:8], y[:8]
x_mix, y_mix = MixUp(alpha=1.0, seed=0).transform_batch(x, y)
x_cut, y_cut = CutMix(alpha=1.0, seed=0).transform_batch(x, y)
previews = {
    "original": (x, y),
    "BatchCropFlip": BatchCropFlip(padding=2, flip_p=0.0, seed=0).transform_batch(x, y),
    "Cutout": Cutout(length=8, seed=0).transform_batch(x, y),
    "MixUp (α=1)": (x_mix, y_mix.to_dense(10)),  # the mixture as (N, 10) probabilities
    "CutMix": (x_cut, y_cut.to_dense(10)),
}
mean, std = data.mean[0], data.std[0]
fig, axes = plt.subplots(len(previews), 8, figsize=(8, 1.25 * len(previews)))
for row, (name, (xb, yb)) in zip(axes, previews.items()):
    for i, ax in enumerate(row):
        ax.imshow((xb[i, 0] * std + mean).clamp(0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(format_label(yb[i]), fontsize=6)
        ax.set_axis_off()
    row[0].text(-0.3, 0.5, name, transform=row[0].transAxes, ha="right", va="center", fontsize=8)
fig.tight_layout()
plt.show()""",
    ),
    (
        "md",
        """## What your `training_step` sees after MixUp

The mixed `y` is an ordinary-looking label tensor: its values are, per image, the label with
the larger weight. Comparisons and metrics use those labels; the cross-entropy uses the
mixture, and equals the cross-entropy on the dense probabilities.""",
    ),
    (
        "py",
        """with torch.no_grad():
    logits = model(x_mix)
print("y after MixUp:     ", y_mix.dtype, tuple(y_mix.shape), y_mix.tolist())
print("accuracy on y:     ", (logits.argmax(1) == y_mix).float().mean().item())
print("F.cross_entropy:   ", round(F.cross_entropy(logits, y_mix).item(), 5))
print("on y.to_dense(10): ", round(F.cross_entropy(logits, y_mix.to_dense(10)).item(), 5))""",
    ),
    (
        "md",
        """The same holds for `F.nll_loss` on log-probabilities and for a one-logit
`F.binary_cross_entropy_with_logits` head on `y.view(-1, 1).float()`. A loss of your own
reads the mixture with `y.to_dense(num_classes)` (or construct the trick with
`targets="dense"`); if a training step's loss never used the mixture, the trick warns once.""",
    ),
    (
        "md",
        """Next: `02_distillation.ipynb` (teacher → student with the mixin) and `03_ablation.ipynb`
(which of these tricks actually help on your data, measured over several seeds).""",
    ),
]

DISTILLATION = [
    (
        "md",
        """# Knowledge distillation: teacher → student with `DistillationMixin`

A student that sees only 10 images per class learns from a teacher trained on all the
training digits (Hinton et al., 2015, <https://arxiv.org/abs/1503.02531>). Put the mixin in
front of *your* module: `class Student(DistillationMixin, MyNet)`. The teacher is frozen and
kept out of `parameters()`, `state_dict()`, the optimizer and DDP; the loss is
`α · T² · KL(teacher ‖ student) + (1 − α) · CE(student, y)`. CPU only, a few seconds of
training.""",
    ),
    (
        "py",
        """import logging
import warnings

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from lightning_tricks.data import DigitsDataModule
from lightning_tricks.mixins import DistillationMixin
from lightning_tricks.models import ImageClassifier

for message in (".*does not have many workers.*", ".*set_vital.*", ".*LeafSpec.*",
                ".*no `validation_step`.*"):
    warnings.filterwarnings("ignore", message)
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)


def trainer(max_epochs):
    return pl.Trainer(
        max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0,
    )


def test_accuracy(model, data):
    return trainer(1).test(model, datamodule=data, verbose=False)[0]["test/acc"]""",
    ),
    (
        "md",
        """## 1. The teacher: the reference `ImageClassifier` on all ~1,250 training digits""",
    ),
    (
        "py",
        """pl.seed_everything(0)
full = DigitsDataModule(image_size=8, batch_size=64)  # the digits' native 8×8
teacher = ImageClassifier("simple_cnn", num_classes=10, in_channels=1, lr=0.05)
trainer(3).fit(teacher, datamodule=full)
print(f"teacher test accuracy: {100 * test_accuracy(teacher, full):.1f} %")""",
    ),
    (
        "md",
        """## 2. The student: a much smaller network of your own, 10 images per class

`MyNet` has a plain cross-entropy `training_step`. The distilled student is the same class
with the mixin in front: the mixin's `training_step` replaces the loss, every other method
(validation, test, optimizers) stays yours.""",
    ),
    (
        "py",
        """class MyNet(pl.LightningModule):
    def __init__(self, lr: float = 0.05):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test/acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9, nesterov=True)


class Student(DistillationMixin, MyNet):
    pass


scarce = DigitsDataModule(image_size=8, train_per_class=10, batch_size=25)
results = {}
for name in ("student alone", "distilled student"):
    pl.seed_everything(0)  # same initialisation and batches for both
    if name == "student alone":
        model = MyNet(lr=0.05)
    else:
        model = Student(teacher=teacher, temperature=4.0, alpha=0.9, lr=0.05)
    trainer(25).fit(model, datamodule=scarce)
    results[name] = test_accuracy(model, scarce)
    print(f"{name:>17}: test accuracy {100 * results[name]:.1f} %")""",
    ),
    (
        "py",
        """# The teacher stays frozen and outside the student's parameters and checkpoint:
student_params = {id(p) for p in model.parameters()}
assert not any(id(p) in student_params for p in teacher.parameters())
assert not any(k.startswith("teacher") for k in model.state_dict())
print("trainable student parameters:", sum(p.numel() for p in model.parameters()))
print("teacher parameters (frozen):  ", sum(p.numel() for p in teacher.parameters()))""",
    ),
    (
        "md",
        """One seed is an anecdote: run it over several seeds with `lightning-tricks ablate` and
`configs/tricks/distill.yaml` (see `03_ablation.ipynb`). From the command line, the same
teacher → student recipe is `configs/digits_teacher.yaml` then `configs/digits_distill.yaml`.
Under DDP each rank holds its own frozen copy of the teacher; only the student is wrapped.""",
    ),
]

ABLATION = [
    (
        "md",
        """# Which tricks help on *my* data? A small ablation

`lightning-tricks ablate` takes a base LightningCLI config and an ordered list of trick
snippets, fits every row (baseline, + A, + A + B, …) for several seeds, each as an ordinary
`lightning-tricks fit` in its own process, and writes `results.csv`, `results.md` (mean ±
std and the gain over the previous row, as in the Bag of Tricks paper) and `results.png`.

This notebook runs a deliberately small ablation (2 tricks × 2 seeds, 150 steps on 8×8
digits per run, a few seconds each, mostly process start-up). The real one is

```bash
lightning-tricks ablate --config configs/ablation/digits.yaml
```""",
    ),
    (
        "py",
        """from pathlib import Path

from IPython.display import Image, Markdown, display

from lightning_tricks.commands.ablate import main as ablate

work = Path("runs/notebook_ablation")
work.mkdir(parents=True, exist_ok=True)""",
    ),
    (
        "md",
        """## The base config and two trick snippets

A snippet is a partial config. `callbacks+:` appends callbacks (jsonargparse's syntax, so the
snippet also stacks with `lightning-tricks fit --config base.yaml --config trick.yaml`); the
runner concatenates `trainer.callbacks` either way and merges everything else key by key.""",
    ),
    (
        "py",
        """(work / "base.yaml").write_text('''
trainer:
  accelerator: cpu
  devices: 1
  max_steps: 150
  logger: false
  enable_checkpointing: false
  enable_progress_bar: false
  enable_model_summary: false
  num_sanity_val_steps: 0
  check_val_every_n_epoch: 1000   # the runner validates and tests after fit
model:
  class_path: lightning_tricks.models.ImageClassifier
  init_args: {backbone: simple_cnn}
data:
  class_path: lightning_tricks.data.DigitsDataModule
  init_args: {image_size: 8, train_per_class: 10, batch_size: 25}
optimizer:
  class_path: torch.optim.SGD
  init_args: {lr: 0.03, momentum: 0.9, nesterov: true, weight_decay: 0.0005}
''')
(work / "label_smoothing.yaml").write_text('''
trainer:
  callbacks+:
    - class_path: lightning_tricks.callbacks.LabelSmoothing
      init_args: {smoothing: 0.1}
''')
_ = (work / "random_crop.yaml").write_text('''
trainer:
  callbacks+:
    - class_path: lightning_tricks.callbacks.BatchCropFlip
      init_args: {padding: 1, flip_p: 0.0}
''')""",
    ),
    ("md", "## Run it (a progress line per run)"),
    (
        "py",
        """argv = [
    "--base", str(work / "base.yaml"),
    "--tricks", str(work / "label_smoothing.yaml"), str(work / "random_crop.yaml"),
    "--mode", "cumulative", "--seeds", "2", "--out", str(work / "out"),
    "--jobs", "2", "--env", "OMP_NUM_THREADS=1",  # two runs at a time, one thread each
]
assert ablate(argv) == 0""",
    ),
    ("md", "## The table and the chart"),
    (
        "py",
        """display(Markdown((work / "out" / "results.md").read_text()))
display(Image(filename=str(work / "out" / "results.png")))
print((work / "out" / "results.csv").read_text())""",
    ),
    (
        "md",
        """Short runs and two seeds: read each gain against its ± before believing it (augmentation
in particular needs a longer schedule to pay off). The point here is the mechanics; the
README shows the full digits ablation (450 steps at 16×16, 3 seeds).

## Resuming

Every finished run leaves `runs/<row>/seed_<k>/result.json`; running the same command again
skips those and only fits what is missing (an interrupted run starts again from scratch).""",
    ),
    (
        "py",
        """assert ablate(argv) == 0  # every run is "done earlier, skipped": nothing is refit""",
    ),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_distillation.ipynb": DISTILLATION,
    "03_ablation.ipynb": ABLATION,
}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook without outputs from ``(kind, source)`` pairs."""
    nb = new_notebook(
        cells=[
            new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells
        ],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives identical files
        cell["id"] = f"cell-{i:02d}"
    return nb


def render(cells: list[tuple[str, str]]) -> str:
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = HERE / name
        text = render(cells)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {stale}; run `python notebooks/make_notebooks.py`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
