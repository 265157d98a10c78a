"""Initialisation tricks as callbacks: ``WeightInit`` and ``ZeroInitResidualBN``.

Both act once, in ``setup("fit")``, i.e. before the strategy moves the model to its device
and wraps it (DDP) or shards it, so every rank starts from the same weights, and they draw
from their own seeded ``torch.Generator`` (never the global one), so they change nothing
else in a run and resuming stays exact.

**Fresh starts only.** A checkpoint restore always replaces every weight (Lightning loads
the model's ``state_dict`` after ``setup``); when ``trainer.ckpt_path`` is already known at
``setup`` the init is skipped outright, and a model is initialised at most once per callback
(a second ``fit`` on the same model object does not re-initialise it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, get_args

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from typing_extensions import override

if TYPE_CHECKING:
    import lightning.pytorch as pl

__all__ = ["WeightInit", "ZeroInitResidualBN"]

InitMethod = Literal[
    "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"
]
LayerType = Literal["conv", "linear"]
Nonlinearity = Literal["relu", "leaky_relu", "linear", "tanh", "sigmoid", "selu"]
_METHODS: tuple[str, ...] = get_args(InitMethod)
_LAYERS: dict[str, tuple[type[nn.Module], ...]] = {
    "conv": (nn.modules.conv._ConvNd,),
    "linear": (nn.Linear, nn.Bilinear),
}
_MARKER = "_lightning_tricks_initialised"


def _resolve_seed(seed: int | None) -> int:
    if seed is not None:
        return seed
    env = os.environ.get("PL_GLOBAL_SEED")
    if env is not None:
        try:
            return int(env)
        except ValueError:
            pass
    return int(torch.initial_seed())


class _FreshStartInit(Callback):
    """Shared lifecycle: run :meth:`initialize` once, in ``setup("fit")``, on a fresh start."""

    def initialize(self, module: nn.Module) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _skip_reason(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> str | None:
        if trainer.ckpt_path:
            return "resuming from a checkpoint"
        if self.state_key in pl_module.__dict__.get(_MARKER, ()):
            return "already initialised"
        return None

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._skip_reason(trainer, pl_module) is not None:
            return
        self.initialize(pl_module)
        pl_module.__dict__.setdefault(_MARKER, set()).add(self.state_key)


class WeightInit(_FreshStartInit):
    """Re-initialise conv / linear weights (Xavier, Kaiming or orthogonal) and zero biases.

    Papers: Glorot & Bengio, 2010 (Xavier, https://proceedings.mlr.press/v9/glorot10a.html);
    He et al., 2015 (Kaiming, https://arxiv.org/abs/1502.01852); Saxe et al., 2014
    (orthogonal, https://arxiv.org/abs/1312.6120). Runs once in ``setup("fit")`` on a fresh
    start (see the module docs), before DDP wraps the model. Values come from a CPU
    generator seeded from ``seed`` (the same on every rank) and are copied into the
    parameters, so the result does not depend on device or dtype. :meth:`initialize` applies
    it to any ``nn.Module`` outside Lightning.

    Args:
        method: ``"xavier_uniform"``, ``"xavier_normal"``, ``"kaiming_uniform"``,
            ``"kaiming_normal"`` or ``"orthogonal"``. Default ``"kaiming_normal"``.
        layers: layer types to initialise, any of ``"conv"`` (all ``ConvNd`` and transposed
            convs) and ``"linear"`` (``nn.Linear``, ``nn.Bilinear``). Default both.
        nonlinearity: the activation after the layer, for Kaiming's gain (``"relu"``,
            ``"leaky_relu"``, ``"linear"``, ``"tanh"``, ``"sigmoid"``, ``"selu"``). Default
            ``"relu"``.
        mode: Kaiming's ``"fan_in"`` (preserves forward variance) or ``"fan_out"`` (backward;
            torchvision's ResNets). Default ``"fan_in"``.
        negative_slope: slope of ``leaky_relu`` for Kaiming (>= 0). Default 0.01.
        gain: scale of Xavier and orthogonal init (> 0). Default 1.
        zero_bias: set biases of those layers to 0. Default True.
        seed: seed of the generator (>= 0); None uses ``seed_everything``'s seed
            (``PL_GLOBAL_SEED``), else ``torch.initial_seed()``. Default None.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for an unknown ``method`` / layer type / ``mode`` / ``nonlinearity`` or an
            out-of-range number.

    Example::

        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2))
        >>> WeightInit("xavier_uniform", seed=0).initialize(net)
        ['0', '2']
        >>> float(net[2].bias.detach().abs().sum())
        0.0
    """

    def __init__(
        self,
        method: InitMethod = "kaiming_normal",
        layers: Sequence[LayerType] = ("conv", "linear"),
        nonlinearity: Nonlinearity = "relu",
        mode: Literal["fan_in", "fan_out"] = "fan_in",
        negative_slope: float = 0.01,
        gain: float = 1.0,
        zero_bias: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if method not in _METHODS:
            raise ValueError(f"`method` must be one of {list(_METHODS)}, got {method!r}")
        if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
            raise TypeError(f"`layers` must be a non-empty list of {list(_LAYERS)}, got {layers!r}")
        for layer in layers:
            if layer not in _LAYERS:
                raise ValueError(f"`layers` entries must be in {list(_LAYERS)}, got {layer!r}")
        if nonlinearity not in get_args(Nonlinearity):
            raise ValueError(
                f"`nonlinearity` must be one of {list(get_args(Nonlinearity))}, "
                f"got {nonlinearity!r}"
            )
        if mode not in ("fan_in", "fan_out"):
            raise ValueError(f"`mode` must be 'fan_in' or 'fan_out', got {mode!r}")
        for name, value, minimum, strict in (
            ("negative_slope", negative_slope, 0.0, False),
            ("gain", gain, 0.0, True),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"`{name}` must be a float, got {type(value).__name__}")
            if not math.isfinite(value) or value < minimum or (strict and value == minimum):
                raise ValueError(f"`{name}` must be {'>' if strict else '>='} 0, got {value}")
        if not isinstance(zero_bias, bool):
            raise TypeError(f"`zero_bias` must be a bool, got {type(zero_bias).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"`seed` must be an integer >= 0 or None, got {seed!r}")
        self.method = method
        self.layers = tuple(dict.fromkeys(layers))
        self.nonlinearity = nonlinearity
        self.mode = mode
        self.negative_slope = float(negative_slope)
        self.gain = float(gain)
        self.zero_bias = zero_bias
        self.seed = seed

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            method=self.method, layers=self.layers, mode=self.mode, seed=self.seed
        )

    def _fill(self, shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
        tmp = torch.empty(shape, dtype=torch.float32)
        if self.method == "xavier_uniform":
            return nn.init.xavier_uniform_(tmp, gain=self.gain, generator=generator)
        if self.method == "xavier_normal":
            return nn.init.xavier_normal_(tmp, gain=self.gain, generator=generator)
        if self.method == "orthogonal":
            return nn.init.orthogonal_(tmp, gain=self.gain, generator=generator)
        init = (
            nn.init.kaiming_uniform_
            if self.method == "kaiming_uniform"
            else nn.init.kaiming_normal_
        )
        a = self.negative_slope if self.nonlinearity == "leaky_relu" else 0.0
        return init(tmp, a=a, mode=self.mode, nonlinearity=self.nonlinearity, generator=generator)

    @torch.no_grad()
    def initialize(self, module: nn.Module) -> list[str]:
        """Initialise the selected layers of ``module`` in place; return their names.

        Layers are visited in ``named_modules()`` order with one generator, so the result is
        a function of the architecture and ``seed`` only.
        """
        types = tuple(t for layer in self.layers for t in _LAYERS[layer])
        generator = torch.Generator().manual_seed(_resolve_seed(self.seed))
        done: list[str] = []
        for name, layer in module.named_modules():
            if not isinstance(layer, types):
                continue
            weight = getattr(layer, "weight", None)
            if isinstance(weight, nn.Parameter) and weight.ndim >= 2:
                weight.copy_(self._fill(weight.shape, generator))
            bias = getattr(layer, "bias", None)
            if self.zero_bias and isinstance(bias, torch.Tensor):
                bias.zero_()
            done.append(name)
        if not done:
            rank_zero_warn(
                f"WeightInit found no {'/'.join(self.layers)} layers in "
                f"{type(module).__name__}; nothing was initialised",
                category=UserWarning,
            )
        return done


def _known_blocks() -> dict[type[nn.Module], str]:
    from torchvision.models import resnet as tv_resnet

    from ..models import resnet as lt_resnet

    return {
        tv_resnet.BasicBlock: "bn2",
        tv_resnet.Bottleneck: "bn3",
        lt_resnet.BasicBlock: "bn2",
    }


_SHORTCUT_NAMES = ("downsample", "shortcut", "skip", "proj", "identity")


class ZeroInitResidualBN(_FreshStartInit):
    """Zero γ of the last BatchNorm in every residual branch, so each block starts as identity.

    Papers: Goyal et al., 2017 (https://arxiv.org/abs/1706.02677); He et al., 2019
    ("zero γ", https://arxiv.org/abs/1812.01187, §3.1). With γ = β = 0 the branch outputs 0
    and ``relu(0 + x) = x`` for the non-negative inputs a ResNet block receives: the network
    starts shallower and is easier to train with large batches.

    Which BatchNorm, per block (first matching rule wins):

    1. torchvision ``BasicBlock.bn2`` and ``Bottleneck.bn3``; this library's
       ``lightning_tricks.models.resnet.BasicBlock.bn2``;
    2. ``blocks``: your own ``{class name: attribute}`` pairs (class ``__name__`` or
       ``module.QualName``; the attribute may be dotted, e.g. ``"branch.2"``);
    3. a block with a ``zero_init_last()`` method (the timm convention) has it called;
    4. with ``generic=True``, the **generic rule**: a module whose class name ends in
       ``Block`` or ``Bottleneck`` has the last BatchNorm registered inside it zeroed,
       except BatchNorms inside a shortcut child named ``downsample``, ``shortcut``,
       ``skip``, ``proj`` or ``identity``. Off by default, because a plain ``ConvBlock``
       without a skip connection would be switched off.

    Runs once in ``setup("fit")`` on a fresh start (see the module docs); :meth:`initialize`
    applies it to any ``nn.Module``. Warns when it finds no residual block.

    Args:
        blocks: extra ``{block class name: attribute of its last norm layer}``, or None.
        generic: apply the generic rule (4.) to other blocks. Default False.

    Raises:
        TypeError: if ``blocks`` is not a ``dict[str, str]`` or ``generic`` not a bool.

    Example::

        >>> from torchvision.models import resnet18
        >>> net = resnet18()
        >>> names = ZeroInitResidualBN().initialize(net)
        >>> names[:2], float(net.layer1[0].bn2.weight.detach().abs().sum())
        (['layer1.0.bn2', 'layer1.1.bn2'], 0.0)
    """

    def __init__(self, blocks: dict[str, str] | None = None, generic: bool = False) -> None:
        super().__init__()
        if blocks is not None and (
            not isinstance(blocks, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in blocks.items())
        ):
            raise TypeError(f"`blocks` must be a dict of str -> str or None, got {blocks!r}")
        if not isinstance(generic, bool):
            raise TypeError(f"`generic` must be a bool, got {type(generic).__name__}")
        self.blocks = dict(blocks or {})
        self.generic = generic

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(blocks=sorted(self.blocks.items()), generic=self.generic)

    def _user_attribute(self, block: nn.Module) -> str | None:
        cls = type(block)
        for key in (cls.__name__, f"{cls.__module__}.{cls.__qualname__}"):
            if key in self.blocks:
                return self.blocks[key]
        return None

    @staticmethod
    def _generic_target(name: str, block: nn.Module) -> str | None:
        last = None
        for sub_name, sub in block.named_modules():
            if not sub_name or sub_name.split(".")[0] in _SHORTCUT_NAMES:
                continue
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                last = sub_name
        return last

    @torch.no_grad()
    def initialize(self, module: nn.Module) -> list[str]:
        """Zero the γ of the last norm of each residual block in ``module``; return their names.

        For ``zero_init_last()`` blocks the block's own name is returned.
        """
        known = _known_blocks()
        zeroed: list[str] = []
        for name, block in module.named_modules():
            attr = next((a for cls, a in known.items() if isinstance(block, cls)), None)
            attr = attr or self._user_attribute(block)
            if attr is None and callable(getattr(block, "zero_init_last", None)):
                block.zero_init_last()
                zeroed.append(name)
                continue
            if (
                attr is None
                and self.generic
                and type(block).__name__.endswith(("Block", "Bottleneck"))
            ):
                attr = self._generic_target(name, block)
            if attr is None:
                continue
            try:
                norm = block.get_submodule(attr)
            except AttributeError as err:
                raise ValueError(
                    f"ZeroInitResidualBN: block {name!r} ({type(block).__name__}) has no "
                    f"submodule {attr!r}; fix the `blocks` mapping"
                ) from err
            weight = getattr(norm, "weight", None)
            if not isinstance(weight, torch.Tensor):
                raise ValueError(
                    f"ZeroInitResidualBN: {name}.{attr} ({type(norm).__name__}) has no affine "
                    "weight γ to zero (BatchNorm with affine=False?)"
                )
            weight.zero_()
            zeroed.append(f"{name}.{attr}" if name else attr)
        if not zeroed:
            rank_zero_warn(
                f"ZeroInitResidualBN found no residual block in {type(module).__name__}: "
                "pass `blocks={'MyBlock': 'bn2'}` or `generic=True` (see the docs)",
                category=UserWarning,
            )
        return zeroed
