"""Batch-trick callbacks: functional equivalence, labels contract, OneOf, warnings, config."""

from __future__ import annotations

import doctest
import pickle
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser

import lightning_tricks.callbacks.batch_tricks as batch_tricks_module
from lightning_tricks.callbacks import (
    RICAP,
    BatchCropFlip,
    BatchTrick,
    CutMix,
    Cutout,
    LabelSmoothing,
    MixUp,
    OneOf,
    RandomErasing,
)
from lightning_tricks.functional import (
    MixedTargets,
    cutmix_batch,
    cutout_batch,
    mixup_batch,
    random_erasing_batch,
    ricap_batch,
    sample_cutmix_params,
    sample_cutout_params,
    sample_mixup_params,
    sample_random_erasing_params,
    sample_ricap_params,
    smooth_targets,
)

K = 4


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(0)
    return torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, K, (n,), generator=g)


def soft(y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, K).float()


def hw(x: torch.Tensor) -> tuple[int, int, int]:
    return x.shape[0], x.shape[2], x.shape[3]


EQUIVALENT = [
    (
        MixUp(alpha=0.4, mode="elem"),
        lambda x, y, g: mixup_batch(x, y, sample_mixup_params(len(x), 0.4, "elem", g)),
    ),
    (
        MixUp(alpha=0.4),
        lambda x, y, g: mixup_batch(x, y, sample_mixup_params(len(x), 0.4, "batch", g)),
    ),
    (
        CutMix(alpha=0.7, mode="batch"),
        lambda x, y, g: cutmix_batch(x, y, sample_cutmix_params(*hw(x), 0.7, "batch", g)),
    ),
    (
        CutMix(alpha=0.7, mode="elem"),
        lambda x, y, g: cutmix_batch(x, y, sample_cutmix_params(*hw(x), 0.7, "elem", g)),
    ),
    (RICAP(beta=0.5), lambda x, y, g: ricap_batch(x, y, sample_ricap_params(*hw(x), 0.5, g))),
    (
        Cutout(n_holes=2, length=3, value=0.5, p=0.8),
        lambda x, y, g: cutout_batch(x, y, sample_cutout_params(*hw(x), 2, 3, 0.8, g), 0.5),
    ),
    (
        RandomErasing(p=0.9, scale=(0.1, 0.3), value="random"),
        lambda x, y, g: random_erasing_batch(
            x, y, sample_random_erasing_params(*hw(x), 0.9, (0.1, 0.3), generator=g), "random"
        ),
    ),
    (
        RandomErasing(p=0.7, value=(0.1, 0.2, 0.3)),
        lambda x, y, g: random_erasing_batch(
            x, y, sample_random_erasing_params(*hw(x), 0.7, generator=g), (0.1, 0.2, 0.3)
        ),
    ),
    (LabelSmoothing(0.2), lambda x, y, g: (x, smooth_targets(y, 0.2))),
]


@pytest.mark.parametrize("size", [8, 32])
@pytest.mark.parametrize(
    ("cb", "functional"), EQUIVALENT, ids=[type(c).__name__ for c, _ in EQUIVALENT]
)
def test_callback_is_the_functional_with_its_generator(
    cb: BatchTrick, functional: Any, size: int
) -> None:
    """The callbacks are thin: same draws from the same generator, same result."""
    g = gen(0)
    x = torch.randn(6, 3, size, size, generator=g)
    y = torch.randint(0, K, (6,), generator=g)
    ox, oy = cb.apply_batch(x.clone(), y, gen(7), False)
    ex, ey = functional(x, y, gen(7))
    assert torch.equal(ox, ex) and torch.equal(dense(oy), dense(ey))


def dense(y: torch.Tensor) -> torch.Tensor:
    return y.to_dense(K) if isinstance(y, MixedTargets) else y


def test_label_tricks_emit_mixed_targets_others_keep_indices() -> None:
    x, y = data()
    for cb in (MixUp(), CutMix(), RICAP(), LabelSmoothing()):
        _, out = cb.transform_batch(x, y)
        assert isinstance(out, MixedTargets) and out.dtype == torch.int64 and out.shape == (6,)
        torch.testing.assert_close(out.to_dense(K).sum(1), torch.ones(6))
        _, out = type(cb)(targets="dense", num_classes=K).transform_batch(x, y)
        assert type(out) is torch.Tensor and out.shape == (6, K)
        _, out = type(cb)().transform_batch(x, soft(y))  # probabilities stay probabilities
        assert type(out) is torch.Tensor and out.shape == (6, K)
    for cb in (Cutout(), RandomErasing(p=1.0)):
        _, out = cb.transform_batch(x, y)
        assert out is y  # untouched, still index targets
        _, out = cb.transform_batch(x, soft(y))
        assert torch.equal(out, soft(y))


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (
            lambda: MixUp(alpha=0),
            ValueError,
            r"`alpha` must be a finite float in \(0, inf\), got 0",
        ),
        (lambda: MixUp(alpha=float("inf")), ValueError, r"`alpha` must be a finite .* got inf"),
        (lambda: MixUp(alpha=float("nan")), ValueError, r"`alpha` must be a finite .* got nan"),
        (
            lambda: MixUp(p=float("nan")),
            ValueError,
            r"`p` must be a finite float in \[0, 1\], got nan",
        ),
        (lambda: RandomErasing(scale=(float("nan"), 0.3)), ValueError, "must be finite"),
        (lambda: RandomErasing(ratio=(0.3, float("inf"))), ValueError, "must be finite"),
        (lambda: RandomErasing(attempts=0), ValueError, "`attempts` must be >= 1, got 0"),
        (lambda: Cutout(p=-0.1), ValueError, r"`p` must be a finite float in \[0, 1\], got -0\.1"),
        (lambda: MixUp(mode="pairs"), ValueError, "`mode` must be one of 'batch', 'elem'"),
        (
            lambda: CutMix(alpha=-1.0),
            ValueError,
            r"`alpha` must be a finite float in \(0, inf\), got -1",
        ),
        (lambda: RICAP(beta="0.3"), TypeError, r"`beta` must be a finite float in \(0, inf\)"),
        (lambda: Cutout(length=0), ValueError, "`length` must be >= 1, got 0"),
        (lambda: Cutout(value="mean"), ValueError, "'random', got 'mean'"),
        (
            lambda: RandomErasing(p=2.0),
            ValueError,
            r"`p` must be a finite float in \[0, 1\], got 2\.0",
        ),
        (lambda: RandomErasing(scale=(0.5, 0.1)), ValueError, "min <= max"),
        (lambda: RandomErasing(ratio=(-1.0, 2.0)), ValueError, "`ratio` values must be > 0"),
        (lambda: Cutout(inplace=1), TypeError, "`inplace` must be a bool, got int 1"),
        (lambda: MixUp(inplace="no"), TypeError, "`inplace` must be a bool, got str 'no'"),
        (
            lambda: LabelSmoothing(1.0),
            ValueError,
            r"`smoothing` must be a finite float in \[0, 1\), got 1\.0",
        ),
        (
            lambda: LabelSmoothing(-0.1),
            ValueError,
            r"`smoothing` must be a finite float in \[0, 1\)",
        ),
        (lambda: MixUp(num_classes=0), ValueError, "`num_classes` must be an integer >= 1"),
        (lambda: OneOf([]), TypeError, "`tricks` must be a non-empty list"),
        (lambda: OneOf([MixUp(), "cutmix"]), TypeError, r"`tricks\[1\]` must be a BatchTrick"),
        (lambda: OneOf([MixUp(p=0.5)]), ValueError, r"`tricks\[0\]` \(MixUp\) has p=0\.5"),
        (lambda: OneOf([MixUp(stop_epoch=3)]), ValueError, r"sets `stop_epoch`=3, which OneOf"),
        (lambda: OneOf([MixUp(input_key="img")]), ValueError, "sets `input_key`='img'"),
        (lambda: OneOf([BatchCropFlip(p=0.5)]), ValueError, r"\(BatchCropFlip\) has p=0\.5"),
        (lambda: OneOf([Cutout(target_key="t")]), ValueError, "sets `target_key`='t'"),
        (lambda: OneOf([MixUp(seed=3)]), ValueError, r"\(MixUp\) sets `seed`=3"),
        (lambda: OneOf([MixUp(num_classes=3)]), ValueError, "sets `num_classes`=3"),
        (lambda: OneOf([MixUp(targets="dense")]), ValueError, "sets `targets`='dense'"),
        (lambda: OneOf([Cutout(inplace=True)]), ValueError, "sets `inplace`=True"),
        (lambda: OneOf([MixUp(), CutMix()], [float("inf"), 1]), ValueError, "must be finite"),
        (lambda: OneOf([MixUp(), CutMix()], [float("nan"), 1]), ValueError, "must be finite"),
        (lambda: OneOf([MixUp(), CutMix()], [1.0]), ValueError, "one entry per trick"),
        (lambda: OneOf([MixUp(), CutMix()], [0, 0]), ValueError, "must not all be zero"),
        (lambda: OneOf([MixUp(), CutMix()], [1, -1]), ValueError, "finite floats >= 0"),
        (lambda: OneOf([MixUp(), CutMix()], ["1", 1]), TypeError, "must be floats"),
    ],
)
def test_init_validation(factory: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        factory()


@pytest.mark.parametrize("inplace", [True, False])
def test_callbacks_write_in_place_only_when_asked(inplace: bool) -> None:
    for cb in (
        MixUp(inplace=inplace, seed=1),
        CutMix(inplace=inplace, seed=1),
        CutMix(mode="elem", inplace=inplace, seed=1),
        RICAP(inplace=inplace, seed=1),
        Cutout(length=8, inplace=inplace),
        RandomErasing(p=1.0, inplace=inplace),
        OneOf([Cutout()], inplace=inplace),
    ):
        x, y = torch.randn(4, 3, 32, 32, generator=gen(0)), torch.arange(4)
        x0 = x.clone()
        out, _ = cb.transform_batch(x, y)  # never modifies its inputs
        assert torch.equal(x, x0) and not torch.equal(out, x0)
        batch = [x, y]
        trainer = fake_trainer([cb])
        cb.setup(trainer, SimpleNamespace(), "fit")
        cb.on_train_batch_start(trainer, SimpleNamespace(), batch, 0)
        assert (batch[0] is x) == inplace and not torch.equal(batch[0], x0)
        assert torch.equal(x, x0) != inplace


def test_one_of_picks_with_the_given_weights() -> None:
    switch = OneOf([MixUp(), CutMix(), Cutout()], weights=[3, 1, 0])
    counts = [0, 0, 0]
    for seed in range(2000):
        counts[switch.choose(gen(seed))] += 1
    assert counts[2] == 0 and abs(counts[0] / 2000 - 0.75) < 0.04
    assert switch.changes_labels and switch.mixes_labels
    assert switch.always_mixes  # the zero-weight Cutout can never be picked
    assert not OneOf([MixUp(), Cutout()]).always_mixes
    assert not OneOf([MixUp(), CutMix()], p=0.5).always_mixes
    x, y = data()
    # the chosen child applies with OneOf's generator: same output as the child itself
    g_choice = gen(11)
    child = switch.tricks[switch.choose(g_choice)]
    expected = child.apply_batch(x, y, g_choice, False)
    got = switch.apply_batch(x, y, gen(11), False)
    assert torch.equal(got[0], expected[0]) and torch.equal(dense(got[1]), dense(expected[1]))


def test_one_of_with_label_keeping_child_and_per_sample_p_child() -> None:
    erase_only = OneOf([RandomErasing(p=0.5), Cutout()])
    assert not erase_only.changes_labels
    _, y = erase_only.transform_batch(*data())
    assert y.ndim == 1


def fake_trainer(callbacks: list[Any], module: Any = None) -> Any:
    module = module if module is not None else torch.nn.Module()
    return SimpleNamespace(
        global_rank=0,
        max_epochs=3,
        current_epoch=0,
        global_step=0,
        callbacks=callbacks,
        lightning_module=module,
    )


def setup_all(callbacks: list[Any], module: Any = None) -> None:
    trainer = fake_trainer(callbacks, module)
    for cb in callbacks:
        cb.setup(trainer, module, "fit")


def test_warning_for_two_always_on_mixing_callbacks(recwarn: pytest.WarningsRecorder) -> None:
    with pytest.warns(UserWarning, match=r"MixUp and CutMix, so every batch is mixed twice.*OneOf"):
        setup_all([MixUp(), LabelSmoothing(), CutMix()])
    with pytest.warns(UserWarning, match="Two label-mixing callbacks"):
        setup_all([OneOf([MixUp(), CutMix()]), RICAP()])
    recwarn.clear()
    setup_all([MixUp(p=0.5), CutMix(p=0.5)])
    setup_all([OneOf([MixUp(), CutMix()]), Cutout(), RandomErasing(), LabelSmoothing()])
    setup_all([OneOf([MixUp(), Cutout()]), CutMix()])
    assert not [w for w in recwarn if "label-mixing" in str(w.message)]


def test_warning_for_label_smoothing_twice() -> None:
    with pytest.warns(UserWarning, match="2 callbacks smooth the labels"):
        setup_all([LabelSmoothing(0.1), OneOf([LabelSmoothing(0.2), MixUp()])])
    module = torch.nn.Module()
    module.hparams = {"label_smoothing": 0.1}
    with pytest.warns(UserWarning, match=r"label_smoothing=0\.1\) .*smoothed twice"):
        setup_all([LabelSmoothing()], module)


ALL = [
    MixUp(),
    MixUp(mode="elem"),
    CutMix(),
    CutMix(mode="elem"),
    RICAP(),
    Cutout(),
    Cutout(n_holes=2),
    RandomErasing(),
    LabelSmoothing(),
    OneOf([MixUp(), CutMix()]),
    OneOf([MixUp(), CutMix()], weights=[0.2, 0.8]),
]


def test_state_keys_unique_and_pickle_round_trip() -> None:
    keys = [cb.state_key for cb in ALL]
    assert len(set(keys)) == len(keys)
    for cb in ALL:
        clone = pickle.loads(pickle.dumps(cb))
        assert clone.state_key == cb.state_key
        x, y = data()
        a = cb.transform_batch(x, y)
        b = clone.transform_batch(x, y)
        assert torch.equal(a[0], b[0]) and torch.equal(dense(a[1]), dense(b[1]))


def test_dtypes_odd_and_single_batches_channels_last() -> None:
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for n in (1, 3):
            x = torch.randn(n, 3, 8, 8).to(dtype).contiguous(memory_format=torch.channels_last)
            y = torch.arange(n) % K
            for cb in ALL:
                ox, oy = cb.transform_batch(x, y)
                assert ox.dtype == dtype and ox.shape == x.shape
                assert ox.is_contiguous(memory_format=torch.channels_last), type(cb).__name__
                if cb.changes_labels:
                    assert oy.to_dense(K).dtype == torch.float32 and oy.shape == (n,)


def test_callbacks_from_yaml_config() -> None:
    """LightningCLI builds callbacks through jsonargparse: every argument is YAML-friendly."""
    parser = ArgumentParser()
    parser.add_argument("--tricks", type=list[BatchTrick])
    config = yaml.safe_load(
        """
        tricks:
          - class_path: lightning_tricks.callbacks.OneOf
            init_args:
              tricks:
                - class_path: lightning_tricks.callbacks.MixUp
                  init_args: {alpha: 0.8, mode: elem}
                - class_path: lightning_tricks.callbacks.CutMix
              weights: [0.5, 0.5]
              off_last_epochs: 2
          - class_path: lightning_tricks.callbacks.RandomErasing
            init_args: {p: 0.25, value: random, scale: [0.02, 0.33]}
          - class_path: lightning_tricks.callbacks.Cutout
            init_args: {value: [0.1, 0.2, 0.3], input_key: image, target_key: label}
          - class_path: lightning_tricks.callbacks.LabelSmoothing
            init_args: {smoothing: 0.1, seed: 3}
        """
    )
    cfg = parser.parse_object(config)
    tricks = parser.instantiate(cfg).tricks
    assert [type(t).__name__ for t in tricks] == [
        "OneOf",
        "RandomErasing",
        "Cutout",
        "LabelSmoothing",
    ]
    assert tricks[0].tricks[0].alpha == 0.8 and tricks[0].off_last_epochs == 2
    assert tricks[1].value == "random" and tricks[1].scale == (0.02, 0.33)
    assert tricks[2].value == (0.1, 0.2, 0.3) and tricks[2].input_key == "image"


def test_docstring_examples_run() -> None:
    result = doctest.testmod(batch_tricks_module, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0
