"""Presets: build and run on PIL / uint8 / float inputs, YAML through the CLI, clear errors."""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import PIL.Image
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from lightning_tricks.transforms import (
    AUTO_AUGMENT_NAMES,
    EvalTransforms,
    PCALighting,
    RandomCutout,
    RandomPadCrop,
    TrainTransforms,
    eval_transforms,
    train_transforms,
)


def _inputs(channels: int = 3, size: tuple[int, int] = (32, 32)) -> list:
    gen = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (channels, *size), generator=gen, dtype=torch.uint8)
    out: list = [u8, u8.float() / 255]
    if channels == 3:
        out.append(TF.to_pil_image(u8))
    return out


@pytest.mark.parametrize("auto_augment", [None, *AUTO_AUGMENT_NAMES])
def test_presets_run_on_pil_uint8_and_float(auto_augment: str | None) -> None:
    pipe = train_transforms(
        rotation=15,
        color_jitter=0.4,
        pca_lighting=0.1,
        auto_augment=auto_augment,
        cutout=8,
        random_erasing=0.5,
    )
    for image in _inputs():
        out = pipe(image)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
        assert out.shape == (3, 32, 32)
        assert torch.isfinite(out).all()
    for image in _inputs():
        assert eval_transforms()(image).shape == (3, 32, 32)


def test_grayscale_float_images_like_the_digits() -> None:
    pipe = TrainTransforms(padding=2, rotation=10, color_jitter=0.3, auto_augment="randaugment")
    (u8, x) = _inputs(channels=1, size=(16, 16))
    assert pipe(x).shape == (1, 16, 16)
    assert pipe(u8).shape == (1, 16, 16)


def test_default_keeps_the_input_size_and_a_size_means_imagenet_style() -> None:
    steps = [type(t) for t in TrainTransforms().transforms]
    assert steps[:2] == [RandomPadCrop, v2.RandomHorizontalFlip]
    assert TrainTransforms()(torch.rand(3, 20, 28)).shape == (3, 20, 28)
    sized = TrainTransforms(size=24)
    assert isinstance(sized.transforms[0], v2.RandomResizedCrop)
    assert sized(torch.rand(3, 40, 50)).shape == (3, 24, 24)
    imagenet = TrainTransforms(kind="imagenet", scale=(0.5, 1.0), ratio=(0.9, 1.1))
    crop = imagenet.transforms[0]
    assert isinstance(crop, v2.RandomResizedCrop) and list(crop.size) == [224, 224]
    assert tuple(crop.scale) == (0.5, 1.0)
    cifar_sized = TrainTransforms(kind="cifar", size=24, padding=2)
    assert isinstance(cifar_sized.transforms[0], v2.RandomCrop)
    assert cifar_sized(torch.rand(3, 28, 28)).shape == (3, 24, 24)
    assert not any(
        isinstance(t, (RandomPadCrop, v2.RandomHorizontalFlip))
        for t in TrainTransforms(padding=0, hflip=0).transforms
    )
    ev = EvalTransforms(size=224)
    assert [type(t) for t in ev.transforms[:2]] == [v2.Resize, v2.CenterCrop]
    assert ev.transforms[0].size == [256]
    assert EvalTransforms(kind="cifar", size=24)(torch.rand(3, 30, 40)).shape == (3, 24, 24)


def test_step_order_and_normalisation_before_erasing() -> None:
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    pipe = TrainTransforms(
        rotation=5,
        color_jitter=0.2,
        pca_lighting=0.1,
        auto_augment="augmix",
        cutout=4,
        random_erasing=0.5,
        mean=mean,
        std=std,
    )
    names = [type(t).__name__ for t in pipe.transforms]
    assert names == [
        "RandomPadCrop",
        "RandomHorizontalFlip",
        "RandomRotation",
        "AugMix",
        "ColorJitter",
        "ToImage",
        "ToDtype",
        "PCALighting",
        "Normalize",
        "RandomCutout",
        "RandomErasing",
    ]
    # without augmentation the preset is exactly ToTensor + Normalize
    plain = TrainTransforms(padding=0, hflip=0, mean=mean, std=std)
    x = torch.rand(3, 8, 8)
    expected = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    torch.testing.assert_close(plain(x), expected)
    # Cutout after Normalize: value 0 is the mean colour, written exactly
    cut = TrainTransforms(padding=0, hflip=0, cutout=4, mean=mean, std=std)
    torch.manual_seed(0)
    out = cut(torch.full((3, 8, 8), 0.9))
    assert int((out == 0).all(0).sum()) >= 4  # at least a clipped 2x2 corner
    # in a data module (no mean/std) the result stays in [0, 1]
    assert TrainTransforms(cutout=4)(torch.rand(3, 8, 8)).max() <= 1.0


def test_random_pad_crop_equals_pad_then_crop_and_covers_all_offsets() -> None:
    crop = RandomPadCrop(padding=2, fill=0.25, padding_mode="constant")
    x = torch.rand(3, 6, 7)
    seen = set()
    for seed in range(60):
        torch.manual_seed(seed)
        params = crop.make_params([x])
        torch.manual_seed(seed)
        out = crop(x)
        ref = TF.pad(x, [2], fill=0.25)[
            :, params["top"] : params["top"] + 6, params["left"] : params["left"] + 7
        ]
        assert torch.equal(out, ref)
        seen.add((params["top"], params["left"]))
    assert {t for t, _ in seen} == set(range(5)) and {lft for _, lft in seen} == set(range(5))
    pil = crop(TF.to_pil_image(torch.rand(3, 6, 7)))
    assert isinstance(pil, PIL.Image.Image) and pil.size == (7, 6)
    assert torch.equal(RandomPadCrop(padding=0)(x), x)


def test_random_cutout_square_clipping_value_and_p() -> None:
    cut = RandomCutout(size=4, value=[1.0, 2.0, 3.0])
    x = torch.zeros(3, 10, 10)
    for seed in range(30):
        torch.manual_seed(seed)
        params = cut.make_params([x])
        torch.manual_seed(seed)
        out = cut(x)
        i, j, h, w = params["i"], params["j"], params["h"], params["w"]
        assert 1 <= h <= 4 and 1 <= w <= 4
        ref = x.clone()
        ref[:, i : i + h, j : j + w] = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)
        assert torch.equal(out, ref)
        if 2 <= i <= 6 and 2 <= j <= 6:
            assert (h, w) == (4, 4)
    assert torch.equal(RandomCutout(size=4, p=0.0)(x), x)
    with pytest.raises(TypeError, match="works on tensors"):
        RandomCutout(size=2)(TF.to_pil_image(torch.rand(3, 4, 4)))


def test_pickle_round_trip_gives_the_same_augmentation() -> None:
    pipe = TrainTransforms(auto_augment="trivialaugment", pca_lighting=0.1, cutout=4)
    clone = pickle.loads(pickle.dumps(pipe))
    x = _inputs()[0]
    torch.manual_seed(1)
    a = pipe(x)
    torch.manual_seed(1)
    b = clone(x)
    assert torch.equal(a, b)
    assert isinstance(clone, TrainTransforms)
    assert isinstance(pickle.loads(pickle.dumps(EvalTransforms(size=8))), EvalTransforms)


def test_functions_have_the_class_signatures() -> None:
    for fn, cls in ((train_transforms, TrainTransforms), (eval_transforms, EvalTransforms)):
        assert inspect.signature(fn).parameters.keys() == inspect.signature(cls).parameters.keys()
        for name, param in inspect.signature(fn).parameters.items():
            assert param.default == inspect.signature(cls).parameters[name].default, name
    assert isinstance(train_transforms(), TrainTransforms)
    assert any(isinstance(t, PCALighting) for t in train_transforms(pca_lighting=0.1).transforms)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rotation": -5}, ValueError, r"`rotation` must be in \[0, 180\] degrees, got -5"),
        ({"rotation": "10"}, TypeError, r"`rotation` must be a number of degrees"),
        (
            {"auto_augment": "autoaugment"},
            ValueError,
            r"unknown `auto_augment` 'autoaugment'; valid names are 'autoaugment-imagenet', "
            r"'autoaugment-cifar10', 'autoaugment-svhn', 'randaugment', 'trivialaugment', 'augmix'",
        ),
        ({"pca_lighting": -0.1}, ValueError, r"`pca_lighting` must be in \[0, inf\], got -0.1"),
        ({"hflip": 1.5}, ValueError, r"`hflip` must be in \[0, 1\], got 1.5"),
        ({"padding": -1}, ValueError, r"`padding` must be >= 0, got -1"),
        ({"padding": 2.5}, TypeError, r"`padding` must be an integer"),
        ({"padding_mode": "wrap"}, ValueError, r"`padding_mode` must be one of"),
        ({"size": 0}, ValueError, r"`size` must be >= 1, got 0"),
        ({"kind": "tiny"}, ValueError, r"`kind` must be one of \['cifar', 'imagenet'\]"),
        ({"scale": (0.5, 0.1)}, ValueError, r"`scale` must satisfy low <= high"),
        ({"scale": (0.0, 1.0)}, ValueError, r"`scale` must lie in \(0, 1\]"),
        ({"scale": 0.5}, TypeError, r"`scale` must be a pair"),
        ({"color_jitter": [0.4, 0.4]}, TypeError, r"`color_jitter` must be a float or a sequence"),
        ({"color_jitter": [0.4, 0.4, 0.4, 0.7]}, ValueError, r"hue of `color_jitter`"),
        ({"color_jitter": -0.2}, ValueError, r"`color_jitter` must be in \[0, inf\]"),
        ({"cutout": -2}, ValueError, r"`cutout` must be >= 0, got -2"),
        (
            {"random_erasing": 2},
            ValueError,
            r"`random_erasing` must be in \[0, 1\], got 2",
        ),
        ({"erase_value": "noise"}, ValueError, r"`erase_value` must be a float"),
        ({"cutout": 4, "erase_value": "random"}, ValueError, r"Cutout needs floats"),
        ({"mean": [0.5, 0.5, 0.5]}, ValueError, r"`mean` and `std` must be given together"),
        ({"mean": [0.5], "std": [0.2, 0.2]}, ValueError, r"same length, got 1 and 2"),
        ({"mean": [0.5], "std": [0.0]}, ValueError, r"`std` must be > 0"),
    ],
)
def test_bad_train_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        TrainTransforms(**kwargs)


def test_bad_eval_and_helper_arguments() -> None:
    with pytest.raises(ValueError, match=r"`crop_pct` must be in \(0, 1\], got 0"):
        EvalTransforms(size=8, crop_pct=0.0)
    with pytest.raises(ValueError, match=r"`crop_pct` must be in \[0, 1\], got 1.5"):
        EvalTransforms(crop_pct=1.5)
    with pytest.raises(ValueError, match=r"`padding_mode` must be one of"):
        RandomPadCrop(padding=2, padding_mode="mirror")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`size` must be >= 1, got 0"):
        RandomCutout(size=0)
    with pytest.raises(ValueError, match="RandomCutout must be a float"):
        RandomCutout(size=2, value="random")  # type: ignore[arg-type]


def test_yaml_config_through_the_cli(tmp_path: Path) -> None:
    from lightning_tricks.cli import TricksCLI

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        """
trainer: {logger: false, enable_checkpointing: false, accelerator: cpu, devices: 1}
data:
  class_path: lightning_tricks.data.DigitsDataModule
  init_args:
    train_per_class: 2
    batch_size: 4
    image_size: 16
    train_transforms:
      class_path: lightning_tricks.transforms.TrainTransforms
      init_args:
        padding: 2
        padding_mode: reflect
        rotation: 10
        color_jitter: [0.3, 0.3, 0.0]
        auto_augment: autoaugment-svhn
        cutout: 4
        erase_value: [0.305]
    eval_transforms:
      class_path: lightning_tricks.transforms.EvalTransforms
"""
    )
    cli = TricksCLI(run=False, args=["--config", str(cfg)])
    dm = cli.datamodule
    train = dm.user_train_transforms
    assert isinstance(train, TrainTransforms)
    assert isinstance(dm.user_eval_transforms, EvalTransforms)
    names = [type(t).__name__ for t in train.transforms]
    assert names == [
        "RandomPadCrop",
        "RandomHorizontalFlip",
        "RandomRotation",
        "AutoAugment",
        "ColorJitter",
        "ToImage",
        "ToDtype",
        "RandomCutout",
    ]
    assert train.transforms[0].padding_mode == "reflect"
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert y.shape == (4,)
    assert x.shape == (4, 1, 16, 16) and x.dtype == torch.float32
