"""Unit tests of the batch-trick base class: layouts and keys, window, seeds and resume,
state keys, in-place policy, the label contract (mixed / dense) and its warnings."""

from __future__ import annotations

import pickle
import warnings
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_tricks.callbacks import BatchTrick, LabelSmoothing, MixUp
from lightning_tricks.functional import MixedTargets, mix_targets


class AddNoise(BatchTrick):
    """Keeps labels: adds generator noise to the images (a new tensor, or in place)."""

    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        noise = torch.rand(x.shape[0], generator=generator).to(x.device, x.dtype).view(-1, 1, 1, 1)
        return (x.add_(noise) if inplace else x + noise), y


class Swap(BatchTrick):
    """Changes labels: mixes each sample half-and-half with the next one."""

    changes_labels = True
    mixes_labels = True

    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        perm = torch.roll(torch.arange(x.shape[0]), 1)
        return x, mix_targets(y, [(None, 0.5), (perm, 0.5)])


def fake_trainer(
    callbacks: list[Any], rank: int = 0, max_epochs: int | None = 10, **kw: Any
) -> Any:
    return SimpleNamespace(
        global_rank=rank,
        max_epochs=max_epochs,
        current_epoch=kw.get("epoch", 0),
        global_step=0,
        callbacks=callbacks,
        lightning_module=kw.get("module", nn.Linear(1, 1)),
        datamodule=kw.get("datamodule"),
    )


def run(cb: BatchTrick, batch: Any, trainer: Any = None, module: Any = None) -> Any:
    trainer = trainer or fake_trainer([cb])
    module = module if module is not None else nn.Linear(1, 1)
    if cb._base_seed is None:
        cb.setup(trainer, module, "fit")
    cb.on_train_batch_start(trainer, module, batch, 0)
    return batch


def list_batch(n: int = 4) -> list[Tensor]:
    return [torch.zeros(n, 2, 4, 4), torch.arange(n) % 3]


def test_list_batch_gets_a_new_image_tensor_and_keeps_index_targets() -> None:
    batch = list_batch()
    x, y = batch
    run(AddNoise(seed=0), batch)
    assert batch[0] is not x and torch.equal(x, torch.zeros_like(x))  # the loader's tensor
    assert (batch[0] > 0).all() and batch[1] is y
    run(Swap(seed=0), batch)
    assert isinstance(batch[1], MixedTargets) and batch[1].tolist() == [0, 1, 2, 0]


def test_inplace_is_opt_in_and_refused_for_views_and_grad() -> None:
    batch = list_batch()
    x = batch[0]
    run(AddNoise(seed=0, inplace=True), batch)
    assert batch[0] is x and (x > 0).all()
    for images in (torch.zeros(1, 2, 4, 4).expand(4, 2, 4, 4), torch.zeros(4, 2, 4, 4)[:, :1]):
        batch = [images, torch.arange(4)]
        with pytest.warns(UserWarning, match="view of another tensor or require grad"):
            run(AddNoise(seed=0, inplace=True), batch)
        assert batch[0] is not images and torch.equal(images, torch.zeros_like(images))
    images = torch.zeros(4, 2, 4, 4, requires_grad=True)
    batch = [images, torch.arange(4)]
    with pytest.warns(UserWarning, match="require grad"):
        run(AddNoise(seed=0, inplace=True), batch)
    batch[0].sum().backward()
    assert images.grad is not None and torch.equal(images.grad, torch.ones_like(images))


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (("image", "label"), ("image", "label")),
        (("pixel_values", "labels"), ("pixel_values", "labels")),
        (("images", "targets"), ("images", "targets")),
        (("x", "y"), ("x", "y")),
    ],
)
def test_dict_batch_keys_found_without_arguments(keys: tuple, expected: tuple) -> None:
    batch = {keys[0]: torch.zeros(4, 2, 4, 4), keys[1]: torch.arange(4), "meta": "kept"}
    run(Swap(seed=0), batch)
    assert isinstance(batch[expected[1]], MixedTargets) and batch["meta"] == "kept"


def test_explicit_keys_and_clear_key_errors() -> None:
    batch = {"img": torch.zeros(4, 2, 4, 4), "cls": torch.arange(4)}
    run(Swap(input_key="img", target_key="cls", seed=0), batch)
    assert isinstance(batch["cls"], MixedTargets)
    with pytest.raises(KeyError, match=r"no images found in the dict batch.*pass `input_key=`"):
        run(Swap(seed=0), {"img": torch.zeros(4, 2, 4, 4), "label": torch.arange(4)})
    with pytest.raises(KeyError, match=r"no targets found.*\['cls', 'image'\].*`target_key=`"):
        run(Swap(seed=0), {"image": torch.zeros(4, 2, 4, 4), "cls": torch.arange(4)})
    with pytest.raises(TypeError, match="got a list batch but `input_key`='image' is a str"):
        run(Swap(input_key="image", seed=0), list_batch())
    with pytest.raises(ValueError, match="`target_key`=5 is out of range for a list batch"):
        run(Swap(target_key=5, seed=0), list_batch())
    with pytest.raises(TypeError, match=r"needs a list batch.*got a tuple.*list\(default_collate"):
        run(Swap(seed=0), tuple(list_batch()))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start_epoch": -1}, ValueError, "`start_epoch` must be >= 0, got -1"),
        ({"start_epoch": 1.5}, TypeError, "`start_epoch` must be an integer, got float"),
        ({"start_epoch": 2, "stop_epoch": 2}, ValueError, "`stop_epoch` must be > `start_epoch`"),
        ({"off_last_epochs": -2}, ValueError, "`off_last_epochs` must be >= 0, got -2"),
        ({"input_key": 1.0}, TypeError, "`input_key` must be an int .* got float"),
        ({"input_key": "a", "target_key": "a"}, ValueError, "must differ, both are 'a'"),
        ({"seed": -1}, ValueError, "`seed` must be >= 0, got -1"),
        ({"seed": 1.0}, TypeError, "`seed` must be an integer or None"),
        ({"inplace": 1}, TypeError, "`inplace` must be a bool, got int 1"),
        ({"targets": "soft"}, ValueError, "`targets` must be 'mixed' or 'dense', got 'soft'"),
        ({"num_classes": 0}, ValueError, "`num_classes` must be an integer >= 1, got 0"),
    ],
)
def test_init_validation(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Swap(**kwargs)


def test_label_arguments_refused_on_tricks_that_keep_labels() -> None:
    with pytest.raises(ValueError, match="`AddNoise` does not change labels: `targets` and"):
        AddNoise(targets="dense")
    with pytest.raises(ValueError, match="does not change labels"):
        AddNoise(num_classes=3)


def test_window_and_should_apply_override() -> None:
    cb = AddNoise(start_epoch=1, stop_epoch=3, off_last_epochs=1, seed=0)
    trainer = fake_trainer([cb], max_epochs=3)
    cb.setup(trainer, nn.Linear(1, 1), "fit")
    assert [cb.should_apply(e, 0) for e in range(4)] == [False, True, False, False]

    class EvenSteps(AddNoise):
        def should_apply(self, epoch: int, step: int) -> bool:
            return step % 2 == 0

    assert [EvenSteps().should_apply(0, s) for s in range(4)] == [True, False, True, False]
    batch = list_batch()
    run(AddNoise(start_epoch=1, seed=0), batch, fake_trainer([], epoch=0))
    assert torch.equal(batch[0], torch.zeros(4, 2, 4, 4))  # not active: untouched
    with pytest.raises(ValueError, match=r"`off_last_epochs`=1 needs a finite `Trainer\(max_"):
        AddNoise(off_last_epochs=1).setup(fake_trainer([], max_epochs=-1), None, "fit")


def test_seeds_ranks_and_exact_resume() -> None:
    def draws(cb: BatchTrick, rank: int = 0, steps: int = 3) -> list[Tensor]:
        trainer = fake_trainer([cb], rank=rank)
        return [run(cb, list_batch(), trainer)[0][:, 0, 0, 0] for _ in range(steps)]

    a, b = draws(AddNoise(seed=3)), draws(AddNoise(seed=3))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    other_rank = draws(AddNoise(seed=3), rank=1)
    assert not any(torch.equal(u, v) for u, v in zip(a, other_rank))
    assert not torch.equal(a[0], a[1])  # a new stream per batch
    # resume: a fresh instance loading the state after 2 batches continues the stream
    first = AddNoise(seed=3)
    draws(first, steps=2)
    resumed = AddNoise(seed=3)
    resumed.setup(fake_trainer([resumed]), None, "fit")
    resumed.load_state_dict(pickle.loads(pickle.dumps(first.state_dict())))
    assert torch.equal(run(resumed, list_batch())[0][:, 0, 0, 0], a[2])
    assert resumed.state_dict() == {"seed": 3, "counter": 3}


def test_global_seed_used_when_seed_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PL_GLOBAL_SEED", "11")
    cb = AddNoise()
    cb.setup(fake_trainer([cb]), None, "fit")
    assert cb.state_dict()["seed"] == 11


def test_state_key_derived_from_constructor_arguments_and_pickle() -> None:
    keys = {MixUp(alpha=0.2).state_key, MixUp(alpha=0.4).state_key, MixUp(p=0.5).state_key}
    keys |= {MixUp(alpha=0.2, seed=1).state_key, LabelSmoothing(0.1).state_key}
    assert len(keys) == 5 and MixUp(alpha=0.2).state_key == MixUp(alpha=0.2).state_key
    assert "alpha" in MixUp().state_key and "inplace" in MixUp().state_key
    cb = pickle.loads(pickle.dumps(MixUp(alpha=0.3, seed=2)))
    images = torch.rand(4, 3, 4, 4)
    x, y = cb.transform_batch(images, torch.arange(4))
    x2, y2 = MixUp(alpha=0.3, seed=2).transform_batch(images, torch.arange(4))
    assert torch.equal(x, x2) and torch.equal(y.to_dense(4), y2.to_dense(4))


def test_dense_mode_reads_num_classes_from_argument_module_or_datamodule() -> None:
    batch = run(Swap(targets="dense", num_classes=5, seed=0), list_batch())
    assert batch[1].shape == (4, 5) and batch[1].dtype == torch.float32
    module = nn.Linear(1, 1)
    module.num_classes = 3  # type: ignore[assignment]
    assert run(Swap(targets="dense", seed=0), list_batch(), module=module)[1].shape == (4, 3)
    cb = Swap(targets="dense", seed=0)
    trainer = fake_trainer([cb], datamodule=SimpleNamespace(num_classes=6))
    assert run(cb, list_batch(), trainer)[1].shape == (4, 6)
    with pytest.raises(ValueError, match=r"`Swap\(targets='dense'\)` needs the number of classes"):
        run(Swap(targets="dense", seed=0), list_batch())
    # probability targets stay probabilities in either mode
    probs = torch.softmax(torch.randn(4, 3), 1)
    out = run(Swap(seed=0), [torch.zeros(4, 2, 4, 4), probs])[1]
    assert type(out) is Tensor and out.shape == (4, 3)
    torch.testing.assert_close(out, 0.5 * probs + 0.5 * probs.roll(1, 0))


def test_unconsumed_mixture_warns_once_naming_the_tricks() -> None:
    swap, smooth = Swap(seed=0), LabelSmoothing(0.1)
    trainer = fake_trainer([swap, smooth])
    for cb in (swap, smooth):
        cb.setup(trainer, nn.Linear(1, 1), "fit")

    def step(index: int, consume: bool) -> list[str]:
        batch = list_batch()
        for cb in (swap, smooth):
            cb.on_train_batch_start(trainer, None, batch, index)
        if consume:
            F.cross_entropy(torch.zeros(4, 3), batch[1])
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            for cb in (swap, smooth):
                cb.on_train_batch_end(trainer, None, None, batch, index)
        return [str(w.message) for w in record]

    assert step(0, consume=True) == []  # the loss used the mixture
    messages = step(1, consume=False)
    assert len(messages) == 1
    assert messages[0].startswith("Swap and LabelSmoothing: the loss of this training step saw")
    assert "`y.to_dense(num_classes)`" in messages[0] and "targets='dense'" in messages[0]
    assert step(2, consume=False) == []  # once


def test_stack_warnings() -> None:
    a, b = MixUp(seed=0), MixUp(alpha=1.0, seed=1)
    trainer = fake_trainer([a, b])
    a.setup(trainer, None, "fit")
    with pytest.warns(UserWarning, match="Two label-mixing callbacks fire on every batch: MixUp"):
        b.setup(trainer, None, "fit")
    module = nn.Module()
    module.criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    smooth = LabelSmoothing(0.1)
    with pytest.warns(UserWarning, match=r"smooths labels itself \(label_smoothing=0.1\)"):
        smooth.setup(fake_trainer([smooth], module=module), None, "fit")


def test_empty_batch_is_passed_through() -> None:
    batch = [torch.zeros(0, 2, 4, 4), torch.zeros(0, dtype=torch.long)]
    run(MixUp(seed=0), batch)
    assert batch[0].shape == (0, 2, 4, 4)
