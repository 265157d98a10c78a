"""PCALighting: identity at alphastd=0, shifts in the eigenvector span, fit recovers axes."""

from __future__ import annotations

import pickle

import PIL.Image
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from lightning_tricks.transforms import IMAGENET_EIGVAL, IMAGENET_EIGVEC, PCALighting


def _rgb(seed: int = 0, size: tuple[int, int] = (6, 5)) -> torch.Tensor:
    return torch.rand(3, *size, generator=torch.Generator().manual_seed(seed))


def test_alphastd_zero_is_identity_for_every_input_type() -> None:
    light = PCALighting(alphastd=0.0)
    x = _rgb()
    assert torch.equal(light(x), x)
    u8 = (x * 255).round().to(torch.uint8)
    assert torch.equal(light(u8), u8)
    pil = TF.to_pil_image(u8)
    assert TF.pil_to_tensor(light(pil)).equal(u8)


def test_float_shift_is_constant_per_channel_and_matches_offset() -> None:
    light = PCALighting(alphastd=0.1)
    x = _rgb()
    torch.manual_seed(3)
    alpha = light.make_params([x])["alpha"]
    torch.manual_seed(3)
    out = light(x)
    expected = x + light.offset(alpha).float().view(3, 1, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-7)
    # offset = eigvec @ (alpha * eigval), the AlexNet formula
    vec = torch.tensor(IMAGENET_EIGVEC, dtype=torch.float64)
    val = torch.tensor(IMAGENET_EIGVAL, dtype=torch.float64)
    manual = sum(vec[:, i] * alpha[i] * val[i] for i in range(3))
    torch.testing.assert_close(light.offset(alpha), manual)


def test_perturbation_lies_in_the_span_of_the_eigenvectors() -> None:
    # Rank-2 eigen data: the shift must stay in span(e1, e2), i.e. orthogonal to e3.
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
    light = PCALighting(alphastd=0.5, eigval=[0.3, 0.1, 0.0], eigvec=q.tolist())
    x = _rgb()
    torch.manual_seed(0)
    coeffs = []
    for _ in range(200):
        shift = light(x) - x
        assert torch.allclose(shift, shift[:, :1, :1].expand_as(shift), atol=1e-6)
        delta = shift[:, 0, 0].double()
        assert abs(float(delta @ q[:, 2].double())) < 1e-6
        coeffs.append(q.double().T @ delta)
    c = torch.stack(coeffs)
    # coefficients along e_i are alpha_i * lambda_i with alpha ~ N(0, 0.5^2)
    std = c[:, :2].std(0) / torch.tensor([0.3, 0.1], dtype=torch.float64)
    assert torch.allclose(std, torch.full((2,), 0.5, dtype=torch.float64), rtol=0.15)


def test_uint8_and_pil_round_and_clip() -> None:
    light = PCALighting(alphastd=2.0)  # large noise so clipping happens
    u8 = (_rgb(2) * 255).round().to(torch.uint8)
    torch.manual_seed(5)
    alpha = light.make_params([u8])["alpha"]
    torch.manual_seed(5)
    out = light(u8)
    shift = (light.offset(alpha) * 255).float().view(3, 1, 1)
    expected = (u8.float() + shift).round().clamp(0, 255).to(torch.uint8)
    assert out.dtype == torch.uint8 and torch.equal(out, expected)
    torch.manual_seed(5)
    pil_out = light(TF.to_pil_image(u8))
    assert isinstance(pil_out, PIL.Image.Image) and pil_out.mode == "RGB"
    assert torch.equal(TF.pil_to_tensor(pil_out), expected)


def test_tv_tensors_keep_type_and_masks_pass_through() -> None:
    light = PCALighting(alphastd=0.1)
    sample = {"image": tv_tensors.Image(_rgb()), "mask": tv_tensors.Mask(torch.ones(6, 5))}
    out = light(sample)
    assert isinstance(out["image"], tv_tensors.Image)
    assert not torch.equal(out["image"], sample["image"])
    assert torch.equal(out["mask"], sample["mask"])


def test_fit_recovers_principal_axes_of_a_known_covariance() -> None:
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    lam = torch.tensor([0.04, 0.01, 0.0025], dtype=torch.float64)
    z = torch.randn(40 * 16 * 16, 3, generator=gen, dtype=torch.float64)
    pixels = 0.5 + z * lam.sqrt() @ q.T  # covariance q diag(lam) q^T
    images = pixels.view(40, 16, 16, 3).permute(0, 3, 1, 2).float()
    light = PCALighting.fit(images, alphastd=0.2)
    assert light.alphastd == 0.2
    val = torch.tensor(light.eigval, dtype=torch.float64)
    vec = torch.tensor(light.eigvec, dtype=torch.float64)
    torch.testing.assert_close(val, lam, rtol=0.05, atol=0)
    cos = (vec * q).sum(0).abs()  # columns match up to sign
    assert bool((cos > 0.995).all()), cos
    # deterministic sign: the largest component of each eigenvector is positive
    idx = vec.abs().argmax(0)
    assert bool((vec[idx, torch.arange(3)] > 0).all())


def test_fit_accepts_uint8_pil_and_samples_like_a_dataset() -> None:
    gen = torch.Generator().manual_seed(1)
    u8 = torch.randint(0, 256, (6, 3, 8, 8), generator=gen, dtype=torch.uint8)
    ref = PCALighting.fit(u8.float() / 255)
    from_u8 = PCALighting.fit(u8)
    dataset = [(TF.to_pil_image(img), i) for i, img in enumerate(u8)]
    from_pil = PCALighting.fit(dataset)
    for other in (from_u8, from_pil):
        torch.testing.assert_close(torch.tensor(other.eigval), torch.tensor(ref.eigval))
        torch.testing.assert_close(torch.tensor(other.eigvec), torch.tensor(ref.eigvec))
    partial = PCALighting.fit(u8, max_images=2)
    torch.testing.assert_close(
        torch.tensor(partial.eigval), torch.tensor(PCALighting.fit(u8[:2]).eigval)
    )
    gray = PCALighting.fit(torch.rand(4, 1, 5, 5, generator=gen))
    assert gray.num_channels == 1
    assert gray(torch.rand(1, 5, 5)).shape == (1, 5, 5)


def test_picklable_and_same_noise_under_same_seed() -> None:
    light = pickle.loads(pickle.dumps(PCALighting(alphastd=0.1)))
    x = _rgb()
    torch.manual_seed(0)
    a = light(x)
    torch.manual_seed(0)
    b = PCALighting(alphastd=0.1)(x)
    assert torch.equal(a, b)
    assert "alphastd=0.1" in repr(light)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alphastd": -0.1}, ValueError, r"`alphastd` must be >= 0, got -0.1"),
        ({"alphastd": "big"}, TypeError, r"`alphastd` must be a float >= 0, got str"),
        ({"alphastd": True}, TypeError, r"`alphastd` must be a float"),
        ({"eigval": [0.1, -0.2, 0.1]}, ValueError, r"`eigval` must be >= 0"),
        ({"eigval": [0.1, 0.2]}, ValueError, r"`eigvec` must have shape \(2, 2\)"),
        ({"eigval": [[0.1]]}, ValueError, r"`eigval` must have shape \(C,\)"),
        ({"eigval": "abc"}, TypeError, r"`eigval` must be a sequence"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        PCALighting(**kwargs)


def test_runtime_errors() -> None:
    with pytest.raises(ValueError, match=r"expects images of shape \(\.\.\., 3, H, W\), got"):
        PCALighting()(torch.rand(1, 4, 4))
    with pytest.raises(ValueError, match="at least 2 pixels"):
        PCALighting.fit(torch.rand(1, 3, 1, 1))
    with pytest.raises(ValueError, match="same number of channels: expected 3, got 1"):
        PCALighting.fit([torch.rand(3, 2, 2), torch.rand(1, 2, 2)])
    with pytest.raises(TypeError, match="expects images"):
        PCALighting.fit([object()])
    with pytest.raises(ValueError, match="`max_images` must be"):
        PCALighting.fit(torch.rand(2, 3, 2, 2), max_images=0)
