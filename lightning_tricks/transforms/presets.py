"""Training / evaluation presets: torchvision v2 pipelines built from plain arguments.

One call builds the usual per-image augmentation stack of image classification (He et al.,
2019, "Bag of Tricks", https://arxiv.org/abs/1812.01187, §2.1 and §5): random crop (with
padding, CIFAR-style, or random-resized, ImageNet-style), horizontal flip (mirroring),
rotation, colour jitter (colour shifting), an AutoAugment-family policy, PCA lighting, and
per-image Cutout / Random Erasing. Every step is a torchvision v2 built-in except
:class:`RandomPadCrop`, :class:`RandomCutout` and :class:`~.lighting.PCALighting`.

:class:`TrainTransforms` / :class:`EvalTransforms` are ``v2.Compose`` subclasses whose
constructors take those plain arguments, so LightningCLI can build them from YAML::

    data:
      class_path: lightning_tricks.data.CIFAR10DataModule
      init_args:
        train_transforms:
          class_path: lightning_tricks.transforms.TrainTransforms
          init_args: {padding: 4, hflip: 0.5, auto_augment: autoaugment-cifar10, cutout: 16}

:func:`train_transforms` / :func:`eval_transforms` are the same presets as functions.

**Normalisation.** The data modules of this library normalise *after* the user transform, so
inside a data module leave ``mean`` / ``std`` unset (the preset then ends with a float32
tensor in [0, 1]). Outside one (your own ``Dataset``), pass ``mean`` and ``std`` and the
preset normalises; Cutout / Random Erasing then run after normalisation, so an erase value
of 0 is the mean colour, as in the Cutout and Random Erasing papers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, get_args

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF
from torchvision.transforms.v2 import query_size

from .._checks import check_int
from .lighting import PCALighting

__all__ = [
    "AUTO_AUGMENT_NAMES",
    "AutoAugmentName",
    "EvalTransforms",
    "RandomCutout",
    "RandomPadCrop",
    "TrainTransforms",
    "eval_transforms",
    "train_transforms",
]

AutoAugmentName = Literal[
    "autoaugment-imagenet",
    "autoaugment-cifar10",
    "autoaugment-svhn",
    "randaugment",
    "trivialaugment",
    "augmix",
]
#: The accepted values of ``auto_augment``.
AUTO_AUGMENT_NAMES: tuple[str, ...] = get_args(AutoAugmentName)
Kind = Literal["cifar", "imagenet"]
PaddingMode = Literal["constant", "edge", "reflect", "symmetric"]
_PADDING_MODES: tuple[str, ...] = get_args(PaddingMode)


# -- argument checks -----------------------------------------------------------------------------
def _number(
    name: str, value: Any, minimum: float | None = 0.0, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    lo = "-inf" if minimum is None else f"{minimum:g}"
    hi = "inf" if maximum is None else f"{maximum:g}"
    if (
        not math.isfinite(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(f"`{name}` must be in [{lo}, {hi}], got {value:g}")
    return value


def _pair(name: str, value: Any, minimum: float) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"`{name}` must be a pair (low, high), got {value!r}")
    lo, hi = (_number(name, v, minimum) for v in value)
    if lo > hi:
        raise ValueError(f"`{name}` must satisfy low <= high, got ({lo:g}, {hi:g})")
    return lo, hi


def _kind_and_size(kind: Any, size: Any, default_imagenet: int = 224) -> tuple[str, int | None]:
    size = check_int("size", size, 1, allow_none=True)
    if kind is None:
        kind = "cifar" if size is None else "imagenet"
    if kind not in get_args(Kind):
        raise ValueError(f"`kind` must be one of {list(get_args(Kind))} or None, got {kind!r}")
    if kind == "imagenet" and size is None:
        size = default_imagenet
    return kind, size


def _stats(mean: Any, std: Any) -> tuple[list[float], list[float]] | None:
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise ValueError(
            "`mean` and `std` must be given together (to normalise) or both left None (a "
            f"data module normalises), got mean={mean!r}, std={std!r}"
        )
    m = [_number("mean", v, None) for v in _seq("mean", mean)]
    s = [_number("std", v, 0.0) for v in _seq("std", std)]
    if len(m) != len(s):
        raise ValueError(f"`mean` and `std` must have the same length, got {len(m)} and {len(s)}")
    if any(v == 0 for v in s):
        raise ValueError(f"`std` must be > 0 in every channel, got {s}")
    return m, s


def _seq(name: str, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"`{name}` must be a non-empty sequence of floats, got {value!r}")
    return value


def _jitter(value: Any) -> tuple[float, float, float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        c = _number("color_jitter", value, 0.0)
        return c, c, c, 0.0
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or len(value) not in (3, 4)
    ):
        raise TypeError(
            "`color_jitter` must be a float or a sequence (brightness, contrast, saturation"
            f"[, hue]), got {value!r}"
        )
    parts = [_number("color_jitter", v, 0.0) for v in value]
    hue = parts[3] if len(parts) == 4 else 0.0
    if hue > 0.5:
        raise ValueError(f"the hue of `color_jitter` must be in [0, 0.5], got {hue:g}")
    return parts[0], parts[1], parts[2], hue


def _erase_value(value: Any, name: str = "erase_value") -> float | list[float] | str:
    if isinstance(value, str) and value == "random":
        return "random"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(name, value, None)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and value:
        return [_number(name, v, None) for v in value]
    raise ValueError(
        f"`{name}` must be a float, a per-channel sequence of floats or 'random', got {value!r}"
    )


def _auto_augment(name: Any, fill: float) -> v2.Transform | None:
    if name is None:
        return None
    if name not in AUTO_AUGMENT_NAMES:
        raise ValueError(
            f"unknown `auto_augment` {name!r}; valid names are "
            f"{', '.join(repr(n) for n in AUTO_AUGMENT_NAMES)} (or None)"
        )
    fill_arg = None if fill == 0 else [fill]
    if name.startswith("autoaugment-"):
        policy = v2.AutoAugmentPolicy(name.removeprefix("autoaugment-"))
        return v2.AutoAugment(policy, fill=fill_arg)
    if name == "randaugment":
        return v2.RandAugment(fill=fill_arg)
    if name == "trivialaugment":
        return v2.TrivialAugmentWide(fill=fill_arg)
    return v2.AugMix(fill=fill_arg)


# -- the two transforms torchvision lacks --------------------------------------------------------
class RandomPadCrop(v2.Transform):
    """Pad by ``padding`` pixels and crop back to the *input* size at a random offset.

    The CIFAR-style random crop (He et al., 2016, §4.2, https://arxiv.org/abs/1512.03385)
    without naming a size: a random translation by up to ``padding`` pixels. Equal to
    ``v2.RandomCrop(size=(H, W), padding=padding)`` for every input size ``(H, W)``.

    Args:
        padding: pixels of padding on each side (>= 0). Default 4.
        fill: pad value for ``padding_mode="constant"`` in the image's own scale. Default 0.
        padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``
            (torchvision's modes). Default ``"constant"``.

    Raises:
        TypeError / ValueError: for a bad ``padding``, ``fill`` or ``padding_mode``.

    Example::

        >>> import torch
        >>> RandomPadCrop(padding=2)(torch.rand(3, 8, 10)).shape
        torch.Size([3, 8, 10])
    """

    def __init__(
        self, padding: int = 4, fill: float = 0.0, padding_mode: PaddingMode = "constant"
    ) -> None:
        super().__init__()
        self.padding = check_int("padding", padding, 0)
        self.fill = _number("fill", fill, None)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"`padding_mode` must be one of {list(_PADDING_MODES)}, got {padding_mode!r}"
            )
        self.padding_mode = padding_mode

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = query_size(flat_inputs)
        span = 2 * int(self.padding) + 1
        top, left = torch.randint(0, span, (2,)).tolist()
        return {"top": top, "left": left, "height": height, "width": width}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not self.padding:
            return inpt
        fill = self.fill if self.padding_mode == "constant" else 0
        padded = self._call_kernel(
            TF.pad, inpt, padding=[self.padding], fill=fill, padding_mode=self.padding_mode
        )
        return self._call_kernel(
            TF.crop,
            padded,
            top=params["top"],
            left=params["left"],
            height=params["height"],
            width=params["width"],
        )


class RandomCutout(v2.Transform):
    """Cutout for one image tensor: a ``size``×``size`` square at a uniform random centre.

    DeVries & Taylor, 2017, https://arxiv.org/abs/1708.04552: the centre is uniform over the
    image and the square is clipped at the borders (so it may be smaller than ``size``).
    Works on tensors (after ``v2.ToImage()``); use it after normalisation to fill with the
    mean colour (``value=0``), as the paper does. For the on-device batch version see the
    ``Cutout`` callback.

    Args:
        size: side of the square in pixels (>= 1). Suggested 16 on CIFAR-10, 8 on CIFAR-100.
        value: fill value, a float or one per channel. Default 0.
        p: probability of applying it to an image, in [0, 1]. Default 1.

    Raises:
        TypeError / ValueError: for bad arguments; ``TypeError`` at call time for PIL input.

    Example::

        >>> import torch
        >>> out = RandomCutout(size=4)(torch.ones(3, 8, 8))
        >>> 0 < int((out == 0).sum()) <= 3 * 16
        True
    """

    _transformed_types = (torch.Tensor, PIL.Image.Image)

    def __init__(self, size: int, value: float | Sequence[float] = 0.0, p: float = 1.0) -> None:
        super().__init__()
        self.size = check_int("size", size, 1)
        ev = _erase_value(value, "value")
        if ev == "random":
            raise ValueError("`value` of RandomCutout must be a float or per-channel floats")
        self.value = ev
        self.p = _number("p", p, 0.0, 1.0)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = query_size(flat_inputs)
        if self.p < 1.0 and float(torch.rand(())) >= self.p:
            return {"apply": False}
        cy = int(torch.randint(0, height, ()))
        cx = int(torch.randint(0, width, ()))
        y0, x0 = cy - self.size // 2, cx - self.size // 2
        top, left = max(0, y0), max(0, x0)
        bottom, right = min(height, y0 + self.size), min(width, x0 + self.size)
        return {"apply": True, "i": top, "j": left, "h": bottom - top, "w": right - left}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, PIL.Image.Image):
            raise TypeError(
                "RandomCutout works on tensors: put it after `v2.ToImage()` / "
                "`v2.ToDtype(torch.float32, scale=True)` in the pipeline"
            )
        if isinstance(inpt, tv_tensors.TVTensor) and not isinstance(
            inpt, (tv_tensors.Image, tv_tensors.Video)
        ):
            return inpt
        if not params["apply"]:
            return inpt
        value = torch.as_tensor(self.value, dtype=inpt.dtype, device=inpt.device)
        if value.ndim == 1:
            value = value.view(-1, 1, 1)
        return self._call_kernel(
            TF.erase, inpt, i=params["i"], j=params["j"], h=params["h"], w=params["w"], v=value
        )


# -- presets ----------------------------------------------------------------------------------------
def _train_steps(
    size: int | None,
    kind: Kind | None,
    padding: int,
    padding_mode: PaddingMode,
    scale: Sequence[float],
    ratio: Sequence[float],
    hflip: float,
    rotation: float,
    color_jitter: float | Sequence[float],
    pca_lighting: float,
    auto_augment: AutoAugmentName | None,
    cutout: int,
    random_erasing: float,
    erase_value: float | Sequence[float] | str,
    fill: float,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> list[Any]:
    kind_, size_ = _kind_and_size(kind, size)
    padding_ = check_int("padding", padding, 0)
    if padding_mode not in _PADDING_MODES:
        raise ValueError(
            f"`padding_mode` must be one of {list(_PADDING_MODES)}, got {padding_mode!r}"
        )
    scale_ = _pair("scale", scale, 0.0)
    if scale_[1] > 1.0 or scale_[0] <= 0.0:
        raise ValueError(f"`scale` must lie in (0, 1], got {scale_}")
    ratio_ = _pair("ratio", ratio, 0.0)
    if ratio_[0] <= 0.0:
        raise ValueError(f"`ratio` must be > 0, got {ratio_}")
    hflip_ = _number("hflip", hflip, 0.0, 1.0)
    if isinstance(rotation, bool) or not isinstance(rotation, (int, float)):
        raise TypeError(f"`rotation` must be a number of degrees, got {rotation!r}")
    if not math.isfinite(rotation) or rotation < 0 or rotation > 180:
        raise ValueError(f"`rotation` must be in [0, 180] degrees, got {rotation:g}")
    jitter = _jitter(color_jitter)
    alphastd = _number("pca_lighting", pca_lighting, 0.0)
    fill_ = _number("fill", fill, None)
    augment = _auto_augment(auto_augment, fill_)
    cutout_ = check_int("cutout", cutout, 0)
    erasing = _number("random_erasing", random_erasing, 0.0, 1.0)
    value = _erase_value(erase_value)
    stats = _stats(mean, std)

    steps: list[Any] = []
    if kind_ == "imagenet":
        assert size_ is not None
        steps.append(v2.RandomResizedCrop(size_, scale=scale_, ratio=ratio_, antialias=True))
    elif size_ is not None:
        steps.append(
            v2.RandomCrop(
                size_,
                padding=padding_ or None,
                pad_if_needed=True,
                fill=fill_,
                padding_mode=padding_mode,
            )
        )
    elif padding_:
        steps.append(RandomPadCrop(padding_, fill=fill_, padding_mode=padding_mode))
    if hflip_ > 0:
        steps.append(v2.RandomHorizontalFlip(hflip_))
    if rotation > 0:
        steps.append(
            v2.RandomRotation(
                float(rotation), interpolation=v2.InterpolationMode.BILINEAR, fill=fill_
            )
        )
    if augment is not None:
        steps.append(augment)
    if any(jitter):
        b, c, s, h = jitter
        steps.append(v2.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if alphastd > 0:
        steps.append(PCALighting(alphastd))
    if stats is not None:
        steps.append(v2.Normalize(*stats))
    if cutout_:
        if isinstance(value, str):
            raise ValueError("`erase_value='random'` is for Random Erasing; Cutout needs floats")
        steps.append(RandomCutout(cutout_, value=value))
    if erasing > 0:
        steps.append(v2.RandomErasing(p=erasing, value=value))
    return steps


class TrainTransforms(v2.Compose):
    """The training augmentation pipeline from plain (YAML-friendly) arguments.

    Steps, in order, each skipped when switched off: crop → horizontal flip → rotation →
    ``auto_augment`` policy → colour jitter → float32 tensor in [0, 1] → PCA lighting →
    normalisation (only with ``mean`` / ``std``) → Cutout → Random Erasing. Accepts PIL images
    and ``uint8`` / float tensors ``(C, H, W)``; the output is a float32 tensor. Picklable for
    DataLoader workers. Randomness comes from torch's default generator (seeded per worker).

    **Crop.** ``kind="cifar"`` (the default when ``size`` is None) pads by ``padding`` and
    crops back to the input size (a random translation; He et al., 2016), or to ``size`` if
    given. ``kind="imagenet"`` (the default when ``size`` is given; ``size`` defaults to 224)
    is ``RandomResizedCrop(size, scale, ratio)`` (Szegedy et al., 2015).

    Args:
        size: output side in pixels (>= 1), or None to keep the input size. Default None.
        kind: ``"cifar"``, ``"imagenet"`` or None (``"imagenet"`` iff ``size`` is given).
        padding: CIFAR-style padding in pixels (>= 0). Default 4 (He et al., 2016).
        padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.
            Default ``"constant"``.
        scale: area range of ``RandomResizedCrop``, in (0, 1]. Default (0.08, 1.0).
        ratio: aspect-ratio range of ``RandomResizedCrop`` (> 0). Default (3/4, 4/3).
        hflip: probability of a horizontal flip (mirroring), in [0, 1]. Default 0.5.
        rotation: maximal rotation in degrees, in [0, 180] (bilinear, corners filled with
            ``fill``); 0 is off. Default 0.
        color_jitter: brightness = contrast = saturation jitter (>= 0) as one float, or
            ``(brightness, contrast, saturation[, hue])``; 0 is off. Default 0 (He et al.,
            2019 use 0.4 on ImageNet).
        pca_lighting: ``alphastd`` of :class:`PCALighting` with ImageNet eigen data (>= 0;
            3-channel images only); 0 is off. Default 0 (AlexNet and He et al., 2019: 0.1).
        auto_augment: one of :data:`AUTO_AUGMENT_NAMES` (``"autoaugment-imagenet"``,
            ``"autoaugment-cifar10"``, ``"autoaugment-svhn"``, ``"randaugment"``,
            ``"trivialaugment"``, ``"augmix"``) or None. Default None.
        cutout: side of the Cutout square (>= 0); 0 is off. Default 0 (DeVries & Taylor,
            2017: 16 on CIFAR-10, 8 on CIFAR-100).
        random_erasing: probability of Random Erasing per image, in [0, 1]; 0 is off.
            Default 0 (Zhong et al., 2020: 0.5).
        erase_value: value written by Cutout and Random Erasing: a float, one per channel,
            or ``"random"`` (Random Erasing only). It is in the scale of the tensor at that
            point: with ``mean`` / ``std`` it is after normalisation (0 = mean colour); in a
            data module it is in [0, 1], so pass the data set mean for a mean-colour fill.
            Default 0.
        fill: fill of padding, rotation and AutoAugment's geometric ops, in the input's
            own scale (0–255 for PIL / uint8, 0–1 for float). Default 0.
        mean: per-channel mean to normalise with, or None (the data module normalises).
        std: per-channel std (> 0) to normalise with, or None. Give both or neither.

    Raises:
        TypeError: for an argument of the wrong type.
        ValueError: for an out-of-range argument (e.g. negative ``rotation``) or an unknown
            ``auto_augment`` name (the message lists the valid ones).

    Example::

        >>> import torch
        >>> t = TrainTransforms(padding=4, hflip=0.5, auto_augment="trivialaugment", cutout=8)
        >>> t(torch.rand(3, 32, 32)).shape
        torch.Size([3, 32, 32])
        >>> TrainTransforms(size=64)(torch.randint(0, 256, (3, 80, 96), dtype=torch.uint8)).shape
        torch.Size([3, 64, 64])
    """

    def __init__(
        self,
        size: int | None = None,
        kind: Kind | None = None,
        padding: int = 4,
        padding_mode: PaddingMode = "constant",
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: float = 0.5,
        rotation: float = 0.0,
        color_jitter: float | Sequence[float] = 0.0,
        pca_lighting: float = 0.0,
        auto_augment: AutoAugmentName | None = None,
        cutout: int = 0,
        random_erasing: float = 0.0,
        erase_value: float | Sequence[float] | Literal["random"] = 0.0,
        fill: float = 0.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(
            _train_steps(
                size,
                kind,
                padding,
                padding_mode,
                scale,
                ratio,
                hflip,
                rotation,
                color_jitter,
                pca_lighting,
                auto_augment,
                cutout,
                random_erasing,
                erase_value,
                fill,
                mean,
                std,
            )
        )


class EvalTransforms(v2.Compose):
    """The evaluation pipeline matching :class:`TrainTransforms`.

    ``kind="cifar"`` without ``size``: only the conversion to a float32 tensor (and
    normalisation with ``mean`` / ``std``). With a ``size``: resize the shorter side to
    ``round(size / crop_pct)`` and centre-crop ``size`` (``crop_pct`` 0.875 for ImageNet, the
    usual 256 → 224, and 1.0 for ``kind="cifar"``). Note that ``ImageFolderDataModule``
    already resizes and centre-crops its evaluation images when its ``image_size`` is set.

    Args:
        size: output side (>= 1), or None to keep the input size. Default None.
        kind: ``"cifar"``, ``"imagenet"`` or None (``"imagenet"`` iff ``size`` is given).
        crop_pct: fraction of the resized image kept by the centre crop, in (0, 1], or None
            for the default of ``kind``. Default None.
        mean: per-channel mean to normalise with, or None (the data module normalises).
        std: per-channel std (> 0), or None. Give both or neither.

    Raises:
        TypeError / ValueError: for bad arguments.

    Example::

        >>> import torch
        >>> EvalTransforms(size=224)(torch.rand(3, 300, 400)).shape
        torch.Size([3, 224, 224])
    """

    def __init__(
        self,
        size: int | None = None,
        kind: Kind | None = None,
        crop_pct: float | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        kind_, size_ = _kind_and_size(kind, size)
        if crop_pct is None:
            crop_pct = 0.875 if kind_ == "imagenet" else 1.0
        pct = _number("crop_pct", crop_pct, 0.0, 1.0)
        if pct == 0.0:
            raise ValueError(f"`crop_pct` must be in (0, 1], got {crop_pct}")
        stats = _stats(mean, std)
        steps: list[Any] = []
        if size_ is not None:
            steps += [v2.Resize(round(size_ / pct), antialias=True), v2.CenterCrop(size_)]
        steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
        if stats is not None:
            steps.append(v2.Normalize(*stats))
        super().__init__(steps)


def train_transforms(
    size: int | None = None,
    kind: Kind | None = None,
    padding: int = 4,
    padding_mode: PaddingMode = "constant",
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    hflip: float = 0.5,
    rotation: float = 0.0,
    color_jitter: float | Sequence[float] = 0.0,
    pca_lighting: float = 0.0,
    auto_augment: AutoAugmentName | None = None,
    cutout: int = 0,
    random_erasing: float = 0.0,
    erase_value: float | Sequence[float] | Literal["random"] = 0.0,
    fill: float = 0.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> TrainTransforms:
    """Build the training augmentation pipeline (a :class:`TrainTransforms`).

    Paper: He et al., 2019, https://arxiv.org/abs/1812.01187 (the baseline augmentation).
    The arguments, their ranges and defaults are those of :class:`TrainTransforms`.

    Raises:
        TypeError / ValueError: as :class:`TrainTransforms`.

    Example::

        >>> import torch
        >>> pipe = train_transforms(kind="imagenet", size=32, color_jitter=0.4, pca_lighting=0.1)
        >>> pipe(torch.rand(3, 48, 40)).shape
        torch.Size([3, 32, 32])
    """
    return TrainTransforms(
        size,
        kind,
        padding,
        padding_mode,
        scale,
        ratio,
        hflip,
        rotation,
        color_jitter,
        pca_lighting,
        auto_augment,
        cutout,
        random_erasing,
        erase_value,
        fill,
        mean,
        std,
    )


def eval_transforms(
    size: int | None = None,
    kind: Kind | None = None,
    crop_pct: float | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> EvalTransforms:
    """Build the evaluation pipeline (an :class:`EvalTransforms`, same arguments).

    Example::

        >>> import torch
        >>> eval_transforms()(torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)).dtype
        torch.float32
    """
    return EvalTransforms(size, kind, crop_pct, mean, std)
