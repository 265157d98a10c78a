"""PCALighting: AlexNet-style PCA colour augmentation ("fancy PCA", lighting noise).

Krizhevsky et al., 2012, §4.1 (https://papers.nips.cc/paper/4824): to every pixel of an image
add ``[p1, p2, p3] @ [α1·λ1, α2·λ2, α3·λ3]ᵀ`` where ``p_i`` / ``λ_i`` are the eigenvectors /
eigenvalues of the 3×3 covariance of RGB pixel values over the training set and
``α_i ~ N(0, alphastd)`` is drawn once per image. He et al., 2019 ("Bag of Tricks",
https://arxiv.org/abs/1812.01187) keep it in the ImageNet baseline with ``alphastd = 0.1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import PIL.Image
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform
from torchvision.transforms.v2 import functional as TF

__all__ = ["IMAGENET_EIGVAL", "IMAGENET_EIGVEC", "PCALighting"]

#: Principal-component eigenvalues of ImageNet RGB pixels in the [0, 1] scale (AlexNet's values
#: divided by 255, as in fb.resnet.torch and GluonCV).
IMAGENET_EIGVAL: tuple[float, float, float] = (0.2175, 0.0188, 0.0045)
#: The matching eigenvectors, one per **column** (rows are the R, G, B channels).
IMAGENET_EIGVEC: tuple[tuple[float, float, float], ...] = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _as_matrix(eigval: Any, eigvec: Any) -> tuple[Tensor, Tensor]:
    try:
        val = torch.as_tensor(eigval, dtype=torch.float64)
        vec = torch.as_tensor(eigvec, dtype=torch.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            "`eigval` must be a sequence of C floats and `eigvec` a C×C nested sequence of "
            f"floats (eigenvectors in columns), got {type(eigval).__name__} and "
            f"{type(eigvec).__name__}"
        ) from err
    if val.ndim != 1 or val.numel() < 1:
        raise ValueError(f"`eigval` must have shape (C,) with C >= 1, got {tuple(val.shape)}")
    c = val.numel()
    if vec.shape != (c, c):
        raise ValueError(
            f"`eigvec` must have shape ({c}, {c}) to match the {c} eigenvalues, "
            f"got {tuple(vec.shape)}"
        )
    if not bool(torch.isfinite(val).all()) or not bool(torch.isfinite(vec).all()):
        raise ValueError("`eigval` and `eigvec` must be finite")
    if bool((val < 0).any()):
        raise ValueError(f"`eigval` must be >= 0 (covariance eigenvalues), got {val.tolist()}")
    return val, vec


class PCALighting(Transform):
    """AlexNet-style PCA colour augmentation ("lighting noise") for one image.

    Paper: Krizhevsky et al., 2012, §4.1, https://papers.nips.cc/paper/4824. Adds
    ``eigvec @ (α * eigval)`` to every pixel, with ``α ~ N(0, alphastd²)`` drawn per image
    (per call), so the image is shifted along the principal colour axes of the data set.
    ``eigval`` / ``eigvec`` are in the [0, 1] scale of pixel values; the defaults are the
    ImageNet values used by fb.resnet.torch and GluonCV. For another data set compute them
    with :meth:`fit`.

    Accepts a PIL image, a ``uint8`` tensor (then the result is rounded and clipped to
    [0, 255]), or a float tensor in [0, 1] (not clipped) of shape ``(..., C, H, W)``; apply it
    *before* normalisation. Masks, boxes and other non-image entries of a sample pass
    through. Randomness comes from torch's default generator, like every torchvision
    transform: DataLoader workers seed it per worker and ``seed_everything`` makes it
    reproducible (a private generator would repeat the same noise in every worker).

    Args:
        alphastd: standard deviation of ``α`` (>= 0); 0 makes the transform the identity.
            Default 0.1 (AlexNet; He et al., 2019).
        eigval: the C eigenvalues ``λ`` of the pixel covariance (>= 0). Default ImageNet's.
        eigvec: the C×C eigenvector matrix, one eigenvector per **column**. Default
            ImageNet's.

    Raises:
        TypeError: if ``alphastd`` is not a number or the eigen data is not numeric.
        ValueError: if ``alphastd < 0``, shapes disagree, or an eigenvalue is negative; at
            call time if the image does not have C channels.

    Example::

        >>> import torch
        >>> light = PCALighting(alphastd=0.1)
        >>> out = light(torch.full((3, 4, 4), 0.5))
        >>> out.shape, bool(torch.allclose(out, out[:, :1, :1].expand_as(out)))
        (torch.Size([3, 4, 4]), True)
        >>> PCALighting(alphastd=0.0)(torch.ones(3, 2, 2)).sum().item()
        12.0
    """

    _transformed_types = (PIL.Image.Image, torch.Tensor)

    def __init__(
        self,
        alphastd: float = 0.1,
        eigval: Sequence[float] = IMAGENET_EIGVAL,
        eigvec: Sequence[Sequence[float]] = IMAGENET_EIGVEC,
    ) -> None:
        super().__init__()
        if not _is_number(alphastd):
            raise TypeError(
                f"`alphastd` must be a float >= 0, got {type(alphastd).__name__} {alphastd!r}"
            )
        if not math.isfinite(alphastd) or alphastd < 0:
            raise ValueError(f"`alphastd` must be >= 0, got {alphastd}")
        val, vec = _as_matrix(eigval, eigvec)
        self.alphastd = float(alphastd)
        self.eigval: tuple[float, ...] = tuple(val.tolist())
        self.eigvec: tuple[tuple[float, ...], ...] = tuple(tuple(r) for r in vec.tolist())

    @property
    def num_channels(self) -> int:
        """The number of channels C the eigen data describes."""
        return len(self.eigval)

    def extra_repr(self) -> str:
        vals = ", ".join(f"{v:.4g}" for v in self.eigval)
        return f"alphastd={self.alphastd}, eigval=({vals})"

    # -- randomness apart from computation ---------------------------------------------------
    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        alpha = torch.randn(self.num_channels, dtype=torch.float64) * self.alphastd
        return {"alpha": alpha}

    def offset(self, alpha: Tensor) -> Tensor:
        """The per-channel shift ``eigvec @ (alpha * eigval)`` (float64, shape ``(C,)``).

        Deterministic given ``alpha`` (shape ``(C,)``); used by :meth:`transform` and tests.
        """
        val = torch.tensor(self.eigval, dtype=torch.float64)
        vec = torch.tensor(self.eigvec, dtype=torch.float64)
        return vec @ (alpha.to(torch.float64) * val)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if self.alphastd == 0.0:
            return inpt
        if isinstance(inpt, tv_tensors.TVTensor) and not isinstance(
            inpt, (tv_tensors.Image, tv_tensors.Video)
        ):
            return inpt  # masks, boxes, key points: colour noise does not apply
        delta = self.offset(params["alpha"])
        if isinstance(inpt, PIL.Image.Image):
            out = self._shift(TF.pil_to_tensor(inpt), delta)
            return TF.to_pil_image(out, mode=inpt.mode)
        out = self._shift(inpt.as_subclass(Tensor), delta)
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out

    def _shift(self, x: Tensor, delta: Tensor) -> Tensor:
        if x.ndim < 3 or x.shape[-3] != self.num_channels:
            raise ValueError(
                f"PCALighting has {self.num_channels} eigenvalues, so it expects images of "
                f"shape (..., {self.num_channels}, H, W), got shape {tuple(x.shape)}; compute "
                "eigen data for your images with `PCALighting.fit(images)`"
            )
        if x.is_floating_point():
            return x + delta.to(device=x.device, dtype=x.dtype).view(-1, 1, 1)
        if x.dtype == torch.bool or x.is_complex():
            raise TypeError(f"PCALighting expects uint8 or float images, got dtype {x.dtype}")
        top = float(torch.iinfo(x.dtype).max)
        shift = (delta * top).to(device=x.device, dtype=torch.float32).view(-1, 1, 1)
        return (x.to(torch.float32) + shift).round_().clamp_(0.0, top).to(x.dtype)

    # -- eigen data from a data set --------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        images: Tensor | Iterable[Any],
        alphastd: float = 0.1,
        max_images: int | None = None,
    ) -> PCALighting:
        """Compute ``eigval`` / ``eigvec`` from a data set and return a new :class:`PCALighting`.

        The covariance of pixel values over every pixel of every image is accumulated in
        float64 (one pass, constant memory) and decomposed with ``torch.linalg.eigh``;
        eigenvalues are sorted in decreasing order and each eigenvector's largest component
        is made positive (a deterministic sign).

        Args:
            images: a float tensor ``(N, C, H, W)`` in [0, 1] or ``uint8`` tensor (scaled by
                1/255), or an iterable of images (PIL, ``(C, H, W)`` tensors) or of
                ``(image, label)`` samples, e.g. a torchvision dataset without transforms.
            alphastd: ``alphastd`` of the returned transform (>= 0). Default 0.1.
            max_images: use at most this many images (>= 1), or None for all. Default None.

        Raises:
            TypeError: for an element that is not an image.
            ValueError: for fewer than 2 pixels, images with different channel counts, or a
                bad ``max_images``.

        Example::

            >>> import torch
            >>> g = torch.Generator().manual_seed(0)
            >>> light = PCALighting.fit(torch.rand(16, 3, 8, 8, generator=g))
            >>> len(light.eigval), light.eigval[0] >= light.eigval[1] >= light.eigval[2]
            (3, True)
        """
        if max_images is not None and (
            isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1
        ):
            raise ValueError(f"`max_images` must be an integer >= 1 or None, got {max_images!r}")
        count = 0
        total: Tensor | None = None
        outer: Tensor | None = None
        for n_seen, pixels in enumerate(_iter_pixels(images)):
            if max_images is not None and n_seen >= max_images:
                break
            if total is None or outer is None:
                c = pixels.shape[1]
                total = torch.zeros(c, dtype=torch.float64)
                outer = torch.zeros(c, c, dtype=torch.float64)
            elif pixels.shape[1] != total.numel():
                raise ValueError(
                    f"all images must have the same number of channels: expected "
                    f"{total.numel()}, got {pixels.shape[1]}"
                )
            count += pixels.shape[0]
            total += pixels.sum(0)
            outer += pixels.T @ pixels
        if total is None or outer is None or count < 2:
            raise ValueError(f"PCALighting.fit needs at least 2 pixels, got {count}")
        mean = total / count
        cov = (outer - count * torch.outer(mean, mean)) / (count - 1)
        val, vec = torch.linalg.eigh(cov)
        val, vec = val.flip(0).clamp_min(0.0), vec.flip(1)
        signs = torch.sign(vec.gather(0, vec.abs().argmax(0, keepdim=True)))
        vec = vec * torch.where(signs == 0, torch.ones_like(signs), signs)
        return cls(alphastd, val.tolist(), vec.tolist())


def _scaled(x: Tensor) -> Tensor:
    if x.is_floating_point():
        return x.to(torch.float64)
    return x.to(torch.float64) / float(torch.iinfo(x.dtype).max)


def _to_pixels(image: Any) -> Tensor:
    """One image as float64 pixel rows ``(H·W, C)`` in the [0, 1] scale."""
    if isinstance(image, PIL.Image.Image):
        image = TF.pil_to_tensor(image)
    if not isinstance(image, Tensor):
        raise TypeError(
            f"PCALighting.fit expects images (PIL or tensors), got {type(image).__name__}"
        )
    x = image.as_subclass(Tensor)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ValueError(f"expected an image of shape (C, H, W), got shape {tuple(x.shape)}")
    return _scaled(x).flatten(1).T


def _iter_pixels(images: Tensor | Iterable[Any]) -> Iterable[Tensor]:
    """Pixel rows ``(P, C)`` per image (tensors: per chunk of images, one row block each)."""
    if isinstance(images, Tensor):
        if images.ndim != 4:
            raise ValueError(
                f"`images` as a tensor must have shape (N, C, H, W), got {tuple(images.shape)}"
            )
        x = images.as_subclass(Tensor)
        for image in x:  # one image at a time keeps memory flat; the matmul dominates
            yield _scaled(image).flatten(1).T
        return
    for item in images:
        if isinstance(item, (tuple, list)) and item:
            item = item[0]
        elif isinstance(item, dict) and "image" in item:
            item = item["image"]
        yield _to_pixels(item)
