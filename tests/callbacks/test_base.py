"""Unit tests of the shared batch-trick base class (layouts, gate, window, seeds, state)."""

from __future__ import annotations

import pickle
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor

from lightning_tricks.callbacks import BatchTrick


class AddNoise(BatchTrick):
    """Keeps labels: adds generator noise to the images."""

    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        noise = torch.rand(x.shape[0], generator=generator).to(x.device, x.dtype)
        return x + noise.view(-1, 1, 1, 1), y


class Flatten(BatchTrick):
    """Changes labels: returns the soft targets it received, unchanged."""

    changes_labels = True
    mixes_labels = True

    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        return x, y


def fake_trainer(callbacks: list[Any], rank: int = 0, max_epochs: int | None = 10) -> Any:
    return SimpleNamespace(
        global_rank=rank, max_epochs=max_epochs, current_epoch=0, global_step=0, callbacks=callbacks
    )


def fake_module(**attrs: Any) -> Any:
    return SimpleNamespace(**attrs)


def list_batch(n: int = 4, k: int = 3) -> list[Tensor]:
    return [torch.zeros(n, 2, 4, 4), torch.arange(n) % k]


def run(cb: BatchTrick, batch: Any, trainer: Any = None, module: Any = None) -> Any:
    trainer = trainer or fake_trainer([cb])
    if cb._base_seed is None:
        cb.setup(trainer, module, "fit")
    cb.on_train_batch_start(trainer, module or fake_module(), batch, 0)
    return batch


def test_list_batch_rewritten_in_place_and_index_targets_kept() -> None:
    batch = list_batch()
    y0 = batch[1].clone()
    run(AddNoise(seed=0), batch)
    assert batch[0].abs().sum() > 0
    assert torch.equal(batch[1], y0) and batch[1].dtype == torch.int64


def test_dict_batch_with_keys() -> None:
    batch = {"image": torch.zeros(3, 1, 2, 2), "label": torch.tensor([0, 1, 2]), "id": 7}
    run(Flatten(input_key="image", target_key="label", num_classes=3), batch)
    assert batch["label"].shape == (3, 3) and batch["label"].dtype == torch.float32
    assert torch.equal(batch["label"], torch.eye(3)) and batch["id"] == 7


def test_tuple_and_tensor_batches_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"list batch.*dict batch.*got a tuple"):
        run(AddNoise(), (torch.zeros(2, 1, 2, 2), torch.tensor([0, 1])))
    with pytest.raises(TypeError, match="got a Tensor"):
        run(AddNoise(), torch.zeros(2, 1, 2, 2))


def test_key_errors() -> None:
    with pytest.raises(TypeError, match="`input_key`='image' is a str"):
        run(AddNoise(input_key="image", target_key="label"), list_batch())
    with pytest.raises(KeyError, match="`target_key`='y' is not a key"):
        run(AddNoise(input_key="x", target_key="y"), {"x": torch.zeros(1, 1, 2, 2)})
    with pytest.raises(ValueError, match="`target_key`=5 is out of range"):
        run(AddNoise(target_key=5), list_batch())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"p": 1.5}, ValueError, r"`p` must be in \[0, 1\], got 1.5"),
        ({"p": "1"}, TypeError, "`p` must be a float"),
        ({"p": True}, TypeError, "`p` must be a float"),
        ({"start_epoch": -1}, ValueError, "`start_epoch` must be >= 0, got -1"),
        ({"start_epoch": 2, "stop_epoch": 2}, ValueError, "`stop_epoch` must be > `start_epoch`"),
        ({"stop_epoch": 1.5}, TypeError, "`stop_epoch` must be an integer or None"),
        ({"off_last_epochs": -2}, ValueError, "`off_last_epochs` must be >= 0, got -2"),
        ({"num_classes": 0}, ValueError, "`num_classes` must be >= 1, got 0"),
        ({"input_key": 1.0}, TypeError, "`input_key` must be an int"),
        ({"input_key": 1, "target_key": 1}, ValueError, "must differ"),
        ({"seed": -1}, ValueError, "`seed` must be >= 0"),
    ],
)
def test_init_validation(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AddNoise(**kwargs)


def test_image_and_target_validation() -> None:
    cb = Flatten(num_classes=3)
    with pytest.raises(TypeError, match=r"floating-point images.*got dtype torch.uint8"):
        cb.transform_batch(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\), got shape \(2, 2, 2\)"):
        cb.transform_batch(torch.zeros(2, 2, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"N=2 images, got shape \(3,\)"):
        cb.transform_batch(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match=r"integer dtype, got dtype torch\.float32"):
        cb.transform_batch(torch.zeros(2, 1, 2, 2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="target class 3 is out of range"):
        cb.transform_batch(torch.zeros(2, 1, 2, 2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="4 columns but num_classes=3"):
        cb.transform_batch(torch.zeros(2, 1, 2, 2), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"needs the number of classes.*Flatten\(num_classes=K\)"):
        Flatten().transform_batch(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]))
    # multi-hot integer targets become float32, probabilities keep their values
    _, y = Flatten().transform_batch(torch.zeros(2, 1, 2, 2), torch.tensor([[1, 1], [0, 1]]))
    assert y.dtype == torch.float32 and y.tolist() == [[1.0, 1.0], [0.0, 1.0]]


def test_num_classes_resolution_order() -> None:
    batch = list_batch(k=3)
    run(Flatten(), batch, module=fake_module(num_classes=5))
    assert batch[1].shape == (4, 5)
    batch = list_batch(k=3)
    run(Flatten(), batch, module=fake_module(hparams={"num_classes": 6}))
    assert batch[1].shape == (4, 6)
    batch = list_batch(k=3)
    run(Flatten(num_classes=3), batch, module=fake_module(num_classes=5))
    assert batch[1].shape == (4, 3)
    with pytest.raises(ValueError, match="needs the number of classes"):
        run(Flatten(), list_batch(), module=fake_module(hparams={}))
    with pytest.raises(ValueError, match="read num_classes='3'"):
        run(Flatten(), list_batch(), module=fake_module(num_classes="3"))


def test_p_gate_and_window() -> None:
    never = AddNoise(p=0.0)
    batch = list_batch()
    run(never, batch)
    assert batch[0].abs().sum() == 0

    half = AddNoise(p=0.5, seed=3)
    trainer = fake_trainer([half])
    half.setup(trainer, None, "fit")
    applied = 0
    for _ in range(400):
        batch = list_batch()
        half.on_train_batch_start(trainer, fake_module(), batch, 0)
        applied += int(batch[0].abs().sum() > 0)
    assert 150 < applied < 250

    windowed = AddNoise(start_epoch=1, stop_epoch=5, off_last_epochs=6)
    trainer = fake_trainer([windowed], max_epochs=10)
    windowed.setup(trainer, None, "fit")
    active = []
    for epoch in range(10):
        trainer.current_epoch = epoch
        batch = list_batch()
        windowed.on_train_batch_start(trainer, fake_module(), batch, 0)
        active.append(bool(batch[0].abs().sum() > 0))
    assert active == [False, True, True, True, False, False, False, False, False, False]

    with pytest.raises(ValueError, match="`off_last_epochs`=2 needs a finite"):
        AddNoise(off_last_epochs=2).setup(fake_trainer([], max_epochs=-1), None, "fit")


def test_should_apply_is_the_override_point() -> None:
    class EvenSteps(AddNoise):
        def should_apply(self, epoch: int, step: int) -> bool:
            return step % 2 == 0

    cb = EvenSteps(seed=0)
    trainer = fake_trainer([cb])
    cb.setup(trainer, None, "fit")
    out = []
    for step in range(4):
        trainer.global_step = step
        batch = list_batch()
        cb.on_train_batch_start(trainer, fake_module(), batch, step)
        out.append(bool(batch[0].abs().sum() > 0))
    assert out == [True, False, True, False]


def draws(cb: BatchTrick, rank: int = 0, n: int = 3, state: dict | None = None) -> list[Tensor]:
    trainer = fake_trainer([cb], rank=rank)
    cb.setup(trainer, None, "fit")
    if state is not None:
        cb.load_state_dict(state)
    out = []
    for i in range(n):
        batch = list_batch()
        cb.on_train_batch_start(trainer, fake_module(), batch, i)
        out.append(batch[0][:, 0, 0, 0].clone())
    return out


def test_seeds_ranks_and_resume() -> None:
    a, b = draws(AddNoise(seed=1)), draws(AddNoise(seed=1))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))  # reruns identical
    assert not torch.equal(a[0], a[1])  # a new stream each batch
    r1 = draws(AddNoise(seed=1), rank=1)
    assert not torch.equal(a[0], r1[0])  # ranks differ
    assert not torch.equal(a[0], draws(AddNoise(seed=2))[0])  # seeds differ
    assert not torch.equal(a[0], draws(AddNoise(seed=1, p=0.999))[0])  # instances differ

    # resume from the state after 2 batches reproduces batch 3, on every rank
    cb = AddNoise(seed=1)
    full = draws(cb, rank=1, n=3)
    cb2 = AddNoise(seed=1)
    draws(cb2, rank=1, n=2)
    state = cb2.state_dict()
    assert state == {"seed": 1, "counter": 2}
    resumed = draws(AddNoise(seed=1), rank=1, n=1, state=state)
    assert torch.equal(resumed[0], full[2])
    # loading a state with the keys missing falls back to defaults
    cb3 = AddNoise(seed=4)
    cb3.load_state_dict({})
    assert cb3.state_dict()["counter"] == 0


def test_batch_seeds_are_splitmix64_of_one_stream_key() -> None:
    from lightning_tricks.callbacks.base import _splitmix64

    # reference outputs of SplitMix64 (Vigna's splitmix64.c): from state 0, and the first
    # two from state 1234567
    golden = 0x9E3779B97F4A7C15
    assert _splitmix64(0) == 0xE220A8397B1DCDAF
    assert [_splitmix64(1234567), _splitmix64(1234567 + golden)] == [
        6457827717110365317,
        3203168211198807973,
    ]
    cb = AddNoise(seed=3)
    cb.setup(fake_trainer([cb], rank=1), fake_module(), "fit")
    seeds = [cb._next_generator().initial_seed() for _ in range(3)]
    key = cb._stream_key
    assert key is not None and key[0] == (3, 1)
    assert seeds == [_splitmix64(key[1] + c) >> 1 for c in range(3)]
    assert len(set(seeds)) == 3
    # the key hashes the state_key: another instance of the class gets another stream
    other = AddNoise(seed=3, p=0.5)
    other.setup(fake_trainer([other], rank=1), fake_module(), "fit")
    assert other._next_generator().initial_seed() != seeds[0]
    # setup re-derives the key (hyperparameters may have changed between fits)
    cb.p = 0.5
    cb.setup(fake_trainer([cb], rank=1), fake_module(), "fit")
    assert cb._next_generator().initial_seed() == other._generator.initial_seed()


def test_scratch_like_is_kept_per_layout_and_never_the_batch_itself() -> None:
    cb = AddNoise()
    x = torch.zeros(4, 3, 8, 8)
    s = cb.scratch_like(x)
    assert s.shape == x.shape and s.dtype == x.dtype and s.data_ptr() != x.data_ptr()
    assert cb.scratch_like(torch.ones(4, 3, 8, 8)) is s  # reused from batch to batch
    assert cb.scratch_like(torch.zeros(5, 3, 8, 8)) is not s  # another shape
    s = cb.scratch_like(x)
    assert cb.scratch_like(x.half()) is not s  # another dtype
    last = cb.scratch_like(x.to(memory_format=torch.channels_last))  # another layout
    assert last.stride() == x.to(memory_format=torch.channels_last).stride()
    assert cb.scratch_like(last) is not last  # handed its own buffer: a new one
    # a strided view: the buffer (dense) differs in strides from the batch, yet is kept
    view, other_view = torch.zeros(4, 3, 8, 16)[..., ::2], torch.ones(4, 3, 8, 16)[..., ::2]
    assert cb.scratch_like(view) is cb.scratch_like(other_view)


def test_global_seed_used_when_seed_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PL_GLOBAL_SEED", "11")
    cb = AddNoise()
    first = draws(cb)
    assert cb.state_dict()["seed"] == 11
    monkeypatch.setenv("PL_GLOBAL_SEED", "12")
    assert not torch.equal(draws(AddNoise())[0], first[0])


def test_state_key_pickle_and_transform_batch() -> None:
    a, b = AddNoise(p=0.5), AddNoise(p=0.7)
    assert a.state_key != b.state_key and "AddNoise" in a.state_key
    x, y = torch.zeros(2, 1, 3, 3), torch.tensor([1, 0])
    out1, y1 = a.transform_batch(x, y)
    assert torch.equal(x, torch.zeros(2, 1, 3, 3))  # input untouched
    assert torch.equal(y1, y)
    clone = pickle.loads(pickle.dumps(a))
    assert clone._generator is None and clone.state_key == a.state_key
    fresh = AddNoise(p=0.5)
    assert torch.equal(fresh.transform_batch(x, y)[0], out1)  # same seed -> same sequence


def test_transform_batch_num_classes_argument() -> None:
    _, y = Flatten().transform_batch(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]), num_classes=4)
    assert y.shape == (2, 4)
    with pytest.raises(ValueError, match="`num_classes` must be >= 1"):
        Flatten().transform_batch(torch.zeros(1, 1, 2, 2), torch.tensor([0]), num_classes=0)
    x, y = Flatten().transform_batch(torch.zeros(0, 1, 2, 2), torch.zeros(0, dtype=torch.long), 2)
    assert x.shape[0] == 0 and y.shape == (0, 2)


def test_warns_for_two_always_on_mixing_callbacks() -> None:
    a, b, c = Flatten(), Flatten(p=0.999), Flatten(seed=3)
    trainer = fake_trainer([a, b, AddNoise(), c])
    a.setup(trainer, None, "fit")
    b.setup(trainer, None, "fit")
    with pytest.warns(UserWarning, match="Two label-mixing callbacks.*OneOf"):
        c.setup(trainer, None, "fit")


def test_subclass_must_implement_apply_batch() -> None:
    with pytest.raises(NotImplementedError, match="BatchTrick must implement `apply_batch`"):
        BatchTrick().transform_batch(torch.zeros(1, 1, 2, 2), torch.tensor([0]))


def test_docstring_examples_run() -> None:
    import doctest

    import lightning_tricks.callbacks.base as base_module

    result = doctest.testmod(base_module, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0
