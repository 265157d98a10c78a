"""Every label trick on every zoo module, unchanged (issue 13): it trains, the first step's
loss equals the loss on the dense probabilities, and metrics see the hard labels."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from helpers.fit import make_trainer
from torch import Tensor
from zoo.label_styles import (
    NUM_CLASSES,
    STYLES,
    BinaryHeadModule,
    CriterionAttributeModule,
    HandAccuracyModule,
    NLLModule,
    OwnLossModule,
    TorchmetricsModule,
    ViewsLoader,
    loader,
)

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
from lightning_tricks.functional import MixedTargets

TRICKS: dict[str, Any] = {
    "MixUp": lambda: [MixUp(alpha=1.0, seed=1)],
    "CutMix": lambda: [CutMix(alpha=1.0, mode="elem", seed=2)],
    "RICAP": lambda: [RICAP(seed=3)],
    "LabelSmoothing": lambda: [LabelSmoothing(0.1)],
    "OneOf": lambda: [OneOf([MixUp(alpha=1.0), CutMix(alpha=1.0)], seed=4)],
    "stack": lambda: [
        RandomErasing(p=1.0, seed=5),
        OneOf([MixUp(alpha=0.4), RICAP()], seed=6),
        LabelSmoothing(0.1),
        Cutout(length=3, seed=7),
    ],
}


def _fit(module: Any, callbacks: list[BatchTrick], precision: str, steps: int = 3) -> None:
    trainer = make_trainer(None, max_steps=steps, precision=precision, callbacks=callbacks)
    trainer.fit(module, train_dataloaders=loader(module))


def _dense_reference(module: Any, logits: Tensor, y: MixedTargets) -> Tensor:
    """The module's loss on the equivalent dense probabilities, computed independently."""
    if isinstance(module, BinaryHeadModule):
        return F.binary_cross_entropy_with_logits(logits.float(), y.to_dense(2)[:, 1:])
    probs = y.to_dense(NUM_CLASSES)
    if isinstance(module, NLLModule):
        return -(probs * logits.float()).sum(1).mean()
    smoothing = 0.1 if isinstance(module, CriterionAttributeModule) else 0.0
    return F.cross_entropy(logits.float(), probs, label_smoothing=smoothing)


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
@pytest.mark.parametrize("trick", list(TRICKS))
@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.__name__)
def test_label_trick_on_zoo_module(style: type, trick: str, precision: str) -> None:
    torch.manual_seed(0)
    module = style()
    before = [p.detach().clone() for p in module.parameters()]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*saw hard labels.*")
        _fit(module, TRICKS[trick](), precision)
    # it trains
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    assert all(torch.isfinite(p).all() for p in module.parameters())
    first = module.first
    y, logits = first["y"], first["logits"]
    # the loss used the mixture: it equals the dense reference (to 1e-6) ...
    assert isinstance(y, MixedTargets) and y.dtype == torch.int64 and y.shape == (8,)
    torch.testing.assert_close(first["loss"].float(), _dense_reference(module, logits, y),
                               rtol=1e-6, atol=1e-6)  # fmt: skip
    # ... and the metrics were computed on the hard labels
    hard = y.hard()
    if isinstance(module, TorchmetricsModule | HandAccuracyModule) or "acc" in first:
        pred = (logits.squeeze(1) > 0).long() if logits.shape[1] == 1 else logits.argmax(-1)
        assert type(first["acc"]) is torch.Tensor
        assert float(first["acc"]) == pytest.approx(float((pred == hard).float().mean()))


def test_metrics_on_hard_labels_when_batch_size_equals_num_classes() -> None:
    """With N == K the old (N, K) targets broadcast silently in ``argmax == y``."""
    module = HandAccuracyModule()
    trainer = make_trainer(None, max_steps=1, callbacks=[MixUp(alpha=1.0, seed=0)])
    trainer.fit(module, train_dataloaders=loader(module, batch_size=NUM_CLASSES))
    first = module.first
    assert first["y"].shape == (NUM_CLASSES,)
    expected = (first["logits"].argmax(-1) == first["y"].hard()).float().mean()
    assert float(first["acc"]) == float(expected)
    assert float(trainer.callback_metrics["train_acc"]) == float(expected)


class _DenseTargetsModule(HandAccuracyModule):
    """Wants probabilities for a soft-target loss of its own; declares ``num_classes``."""

    num_classes = NUM_CLASSES

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        self.record(y=y)
        return -(y * F.log_softmax(self(x), 1)).sum(1).mean()


def test_targets_dense_mode_reads_num_classes_from_the_module() -> None:
    module = _DenseTargetsModule()
    _fit(module, [MixUp(alpha=1.0, seed=0, targets="dense"), LabelSmoothing(0.1)], "32-true")
    y = module.first["y"]
    assert type(y) is torch.Tensor and y.dtype == torch.float32 and y.shape == (8, NUM_CLASSES)
    torch.testing.assert_close(y.sum(1), torch.ones(8))


def test_warns_once_when_the_loss_never_consumed_the_mixture() -> None:
    module = OwnLossModule()
    with pytest.warns(UserWarning, match=r"MixUp and LabelSmoothing: the loss of this training "
                      r"step saw hard labels.*to_dense\(num_classes\)") as record:  # fmt: skip
        _fit(module, [MixUp(alpha=1.0, seed=0), LabelSmoothing(0.1)], "32-true", steps=3)
    assert sum("saw hard labels" in str(w.message) for w in record) == 1


def test_loader_views_are_never_modified() -> None:
    """A loader yielding views of tensors it keeps: no trick writes into them, not even
    with ``inplace=True`` (refused for views, with a warning)."""
    data = ViewsLoader()
    kept_x, kept_y = data.x.clone(), data.y.clone()
    callbacks = [
        MixUp(alpha=1.0, seed=1),
        CutMix(seed=2),
        RICAP(seed=3),
        Cutout(length=3, seed=4),
        RandomErasing(p=1.0, seed=5),
        LabelSmoothing(0.1),
    ]
    trainer = make_trainer(None, max_epochs=1, callbacks=callbacks)
    trainer.fit(HandAccuracyModule(), train_dataloaders=data)
    assert torch.equal(data.x, kept_x) and torch.equal(data.y, kept_y)
    inplace = [Cutout(length=3, seed=4, inplace=True), MixUp(alpha=1.0, seed=1, inplace=True)]
    trainer = make_trainer(None, max_epochs=1, callbacks=inplace)
    with pytest.warns(UserWarning, match=r"view of another tensor.*new tensor is written"):
        trainer.fit(HandAccuracyModule(), train_dataloaders=data)
    assert torch.equal(data.x, kept_x)


@pytest.mark.parametrize("trick", list(TRICKS))
def test_batch_tricks_on_a_pytorch_lightning_module(trick: str) -> None:
    """``import pytorch_lightning as pl`` modules and Trainers take the same callbacks."""
    import pytorch_lightning as pl
    from zoo.pl_standalone import PLClassifier

    module = PLClassifier()
    seen: list[Any] = []
    step = module.training_step

    def recording_step(batch: Any, batch_idx: int) -> Tensor:
        seen.append(batch[1])
        return step(batch, batch_idx)

    module.training_step = recording_step  # type: ignore[method-assign]
    before = [p.detach().clone() for p in module.parameters()]
    trainer = pl.Trainer(
        max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        callbacks=TRICKS[trick](),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*saw hard labels.*")
        trainer.fit(module)
    assert trainer.global_step == 2 and isinstance(seen[0], MixedTargets)
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    assert "train_acc" in trainer.callback_metrics
