"""AdaBound and AdaBoundW: Adam whose per-element step size is clipped into a band that
shrinks towards an SGD learning rate (`Luo et al., ICLR 2019
<https://openreview.net/forum?id=Bkg3g2R9FX>`_).

Vectorised with ``torch._foreach_*`` ops. On CPU the update is cache-blocked: the parameters
are cut into chunks of about :data:`CPU_CHUNK` elements and every op of the update runs on a
chunk while it is in cache, so memory is swept about once per step instead of once per op.
``compile=True`` runs the update as one ``torch.compile``-d elementwise kernel per tensor
instead (opt-in; the eager path is the fallback if compiling fails).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["AdaBound", "AdaBoundW"]

#: elements per cache block and CPU thread (chunks of the parameters are updated while in
#: cache); a block holds ``CPU_CHUNK × threads`` elements, at most :data:`CPU_CHUNK_MAX`
CPU_CHUNK = 1 << 18
CPU_CHUNK_MAX = 1 << 20

_Params = Iterable[Tensor] | Iterable[dict[str, Any]]


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite float, got {value}")
    return float(value)


def _check_hparams(opts: dict[str, Any]) -> None:
    """Validate AdaBound hyperparameters (constructor defaults or one param group)."""
    lr = _number("lr", opts["lr"])
    if not lr > 0:
        raise ValueError(f"`lr` must be > 0, got {lr}")
    betas = opts["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"`betas` must be a pair of floats, got {betas!r}")
    for i, beta in enumerate(betas):
        beta = _number(f"betas[{i}]", beta)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"`betas[{i}]` must be in [0, 1), got {beta}")
    final_lr = _number("final_lr", opts["final_lr"])
    if not final_lr >= 0:
        raise ValueError(f"`final_lr` must be >= 0, got {final_lr}")
    gamma = _number("gamma", opts["gamma"])
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"`gamma` must be in (0, 1), got {gamma}")
    eps = _number("eps", opts["eps"])
    if not eps >= 0:
        raise ValueError(f"`eps` must be >= 0, got {eps}")
    weight_decay = _number("weight_decay", opts["weight_decay"])
    if not weight_decay >= 0:
        raise ValueError(f"`weight_decay` must be >= 0, got {weight_decay}")
    if not isinstance(opts["amsbound"], bool):
        raise TypeError(f"`amsbound` must be a bool, got {opts['amsbound']!r}")


def _blocks(columns: Sequence[list[Tensor]], chunk: int | None) -> Iterator[list[list[Tensor]]]:
    """Yield the columns (params, grads, states...) cut into cache-sized batches.

    Rows whose tensors are all contiguous and larger than ``chunk`` are split into flat views
    of ``chunk`` elements; small rows are batched together so that a batch holds about
    ``chunk`` elements. ``chunk=None`` yields the columns unchanged (one batch).
    """
    if chunk is None:
        yield [list(c) for c in columns]
        return
    batch: list[tuple[Tensor, ...]] = []
    size = 0
    for row in zip(*columns):
        n = row[0].numel()
        if n > chunk and all(t.is_contiguous() for t in row):
            pieces: Iterable[tuple[Tensor, ...]] = zip(*(t.view(-1).split(chunk) for t in row))
        else:
            pieces = (row,)
        for piece in pieces:
            batch.append(piece)
            size += piece[0].numel()
            if size >= chunk:
                yield [list(c) for c in zip(*batch)]
                batch, size = [], 0
    if batch:
        yield [list(c) for c in zip(*batch)]


def _fused_tensor_step(
    p: Tensor,
    g: Tensor,
    m: Tensor,
    v: Tensor,
    vmax: Tensor | None,
    hp: Tensor,
    coupled_decay: bool,
    decoupled_decay: bool,
    move: bool,
) -> None:
    """The whole AdaBound update of one tensor as a single elementwise expression (compiled).

    ``hp`` holds ``[1 − β₁, β₂, 1 − β₂, eps, α, α/η_u, α/η_l, 1 − wd·lr/base_lr, wd]``.
    """
    w1, beta2, w2, eps, step_size, d_low, d_high, shrink, weight_decay = hp.unbind()
    if coupled_decay:
        g = g + weight_decay * p
    m.lerp_(g, w1)
    v.mul_(beta2).add_(g * g * w2)
    second = v
    if vmax is not None:
        vmax.copy_(torch.maximum(vmax, v))
        second = vmax
    if not move:
        return
    if decoupled_decay:
        p.mul_(shrink)
    denom = (second.sqrt() + eps).clamp(d_low, d_high)
    p.sub_(m * step_size / denom)


_COMPILED: dict[str, Callable[..., None]] = {}


def _compiled_step() -> Callable[..., None]:
    if "step" not in _COMPILED:
        _COMPILED["step"] = torch.compile(_fused_tensor_step, dynamic=True, fullgraph=True)
    return _COMPILED["step"]


class AdaBound(Optimizer):
    """AdaBound: Adam with dynamic bounds that turn it into SGD over time.

    From `Luo et al., "Adaptive Gradient Methods with Dynamic Bound of Learning Rate", ICLR
    2019 <https://openreview.net/forum?id=Bkg3g2R9FX>`_. Same arguments and the same update as
    the ``adabound`` package (its state dicts load into this class), vectorised with
    ``torch._foreach_*`` ops, and with the package's defects fixed: param groups added after
    construction (e.g. by Lightning's ``BackboneFinetuning``) get their own base LR and train,
    bad hyperparameters raise a clear ``ValueError``, no deprecated torch calls.

    Per element, at step ``t`` with bias-corrected step size ``α_t = lr √(1−β₂ᵗ)/(1−β₁ᵗ)``:
    ``p ← p − clip(α_t / (√v + eps), η_l(t), η_u(t)) · m`` with the bounds
    ``η_l = f (1 − 1/(γt + 1))`` and ``η_u = f (1 + 1/(γt))``, where
    ``f = final_lr × lr / base_lr`` follows any LR schedule (``base_lr`` is the group's LR when
    it was added; it is kept in the group under the key ``"base_lr"``).

    Args:
        params: parameters or param-group dicts.
        lr: Adam learning rate (> 0). Default 1e-3.
        betas: moment coefficients, each in ``[0, 1)``. Default ``(0.9, 0.999)``.
        final_lr: the SGD learning rate both bounds converge to (>= 0). Default 0.1.
        gamma: convergence speed of the bounds, in ``(0, 1)``. Default 1e-3.
        eps: denominator term (>= 0). Default 1e-8.
        weight_decay: L2 penalty added to the gradient (>= 0). Default 0.
        amsbound: use the AMSBound variant (max of second moments). Default ``False``.
        compile: run the update as a ``torch.compile``-d kernel (one pass over memory; the
            first step compiles, which takes a while). If compiling fails, one warning and the
            eager ``_foreach`` path. Default ``False``.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for ``lr <= 0``, ``final_lr < 0``, ``gamma`` outside ``(0, 1)``, betas
            outside ``[0, 1)``, ``eps < 0`` or ``weight_decay < 0``.

    Example::

        >>> import torch
        >>> from lightning_tricks.optim import AdaBound
        >>> model = torch.nn.Linear(4, 2)
        >>> opt = AdaBound(model.parameters(), lr=1e-3, final_lr=0.1)
        >>> model(torch.randn(8, 4)).square().mean().backward()
        >>> opt.step()
        >>> opt.state[model.weight]["step"]
        1
    """

    #: decoupled weight decay (AdaBoundW) instead of an L2 term in the gradient
    decoupled_weight_decay: bool = False

    def __init__(
        self,
        params: _Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsbound: bool = False,
        *,
        compile: bool = False,
    ) -> None:
        if not isinstance(compile, bool):
            raise TypeError(f"`compile` must be a bool, got {compile!r}")
        self.compile = compile
        self._compile_failed = False
        defaults = {
            "lr": lr,
            "betas": tuple(betas) if isinstance(betas, list) else betas,
            "final_lr": final_lr,
            "gamma": gamma,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsbound": amsbound,
        }
        _check_hparams(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group; it records its current LR as its ``base_lr``."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        _check_hparams(group)
        group.setdefault("base_lr", group["lr"])

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("compile", False)
        self.__dict__.setdefault("_compile_failed", False)
        for group in self.param_groups:
            group.setdefault("amsbound", False)
            group.setdefault("base_lr", group["lr"])

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict (also one written by the ``adabound`` package)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group.setdefault("amsbound", False)
            group.setdefault("base_lr", group["lr"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimization step (``closure`` re-evaluates the loss, optional)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            amsbound = group["amsbound"]
            buckets: dict[tuple[torch.device, torch.dtype, int], list[list[Tensor]]] = {}
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise RuntimeError("AdaBound does not support sparse gradients")
                if torch.is_complex(p):
                    raise RuntimeError("AdaBound does not support complex parameters")
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if amsbound and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                key = (p.device, p.dtype, state["step"])
                empty: list[list[Tensor]] = [[] for _ in range(5 if amsbound else 4)]
                cols = buckets.setdefault(key, empty)
                cols[0].append(p)
                cols[1].append(grad)
                cols[2].append(state["exp_avg"])
                cols[3].append(state["exp_avg_sq"])
                if amsbound:
                    cols[4].append(state["max_exp_avg_sq"])
            for (device, _, step), cols in buckets.items():
                if self.compile and not self._compile_failed:
                    done = self._update_compiled(group, step, cols)
                    if done == len(cols[0]):
                        continue
                    cols = [c[done:] for c in cols]  # compiling failed: the rest runs eagerly
                chunk = (
                    min(CPU_CHUNK * torch.get_num_threads(), max(CPU_CHUNK, CPU_CHUNK_MAX))
                    if device.type == "cpu"
                    else None
                )
                for block in _blocks(cols, chunk):
                    self._update(group, step, block)
        return loss

    @staticmethod
    def _scalars(group: dict[str, Any], step: int) -> dict[str, float]:
        """Step size and bounds of one step (Python floats, as in the ``adabound`` package)."""
        beta1, beta2 = group["betas"]
        lr, base_lr = float(group["lr"]), float(group["base_lr"])
        final_lr = group["final_lr"] * lr / base_lr
        gamma = group["gamma"]
        step_size = lr * math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
        upper = final_lr * (1.0 + 1.0 / (gamma * step))
        lower = final_lr * (1.0 - 1.0 / (gamma * step + 1.0))
        # clip(α / d, lower, upper) · m == α · m / clip(d, α / upper, α / lower)
        return {
            "step_size": step_size,
            "move": upper > 0.0,  # final_lr == 0: both bounds are 0, nothing moves
            "d_low": step_size / upper if upper > 0.0 else math.inf,
            "d_high": step_size / lower if lower > 0.0 else math.inf,
            # decoupled decay (Loshchilov & Hutter), scaled by the schedule factor lr/base_lr
            "shrink": 1.0 - group["weight_decay"] * lr / base_lr,
        }

    def _update(self, group: dict[str, Any], step: int, block: list[list[Tensor]]) -> None:
        """The AdaBound update of one batch of tensors that share a step count (eager)."""
        params, grads, exp_avgs, exp_avg_sqs = block[:4]
        beta1, beta2 = group["betas"]
        weight_decay, eps = group["weight_decay"], group["eps"]
        k = self._scalars(group, step)

        if weight_decay != 0:
            if self.decoupled_weight_decay:
                torch._foreach_mul_(params, k["shrink"])
            else:
                grads = list(torch._foreach_add(grads, params, alpha=weight_decay))

        torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
        second = exp_avg_sqs
        if group["amsbound"]:
            second = block[4]
            torch._foreach_maximum_(second, exp_avg_sqs)
        if not k["move"]:
            return
        denom = torch._foreach_sqrt(second)
        torch._foreach_add_(denom, eps)
        torch._foreach_clamp_min_(denom, k["d_low"])
        if math.isfinite(k["d_high"]):
            torch._foreach_clamp_max_(denom, k["d_high"])
        torch._foreach_addcdiv_(params, exp_avgs, denom, value=-k["step_size"])

    def _update_compiled(self, group: dict[str, Any], step: int, cols: list[list[Tensor]]) -> int:
        """The update through the compiled kernel, tensor by tensor; returns how many tensors
        were done (fewer than all only if compiling failed, after one warning)."""
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        k = self._scalars(group, step)
        values = [1.0 - beta1, beta2, 1.0 - beta2, group["eps"], k["step_size"]]
        values += [k["d_low"], k["d_high"], k["shrink"], weight_decay]
        coupled = weight_decay != 0 and not self.decoupled_weight_decay
        decoupled = weight_decay != 0 and self.decoupled_weight_decay
        amsbound = group["amsbound"]
        hp = torch.tensor(values, dtype=cols[0][0].dtype, device=cols[0][0].device)
        for i, row in enumerate(zip(*cols)):
            p, g, m, v = row[:4]
            vmax = row[4] if amsbound else None
            tensors = [p, g, m, v] + ([vmax] if vmax is not None else [])
            if all(t.is_contiguous() for t in tensors):
                p, g, m, v = (t.view(-1) for t in (p, g, m, v))
                vmax = vmax.view(-1) if vmax is not None else None
            try:
                _compiled_step()(p, g, m, v, vmax, hp, coupled, decoupled, k["move"])
            except Exception as err:  # compiling is optional: fall back to the eager path
                self._compile_failed = True
                warnings.warn(
                    f"{type(self).__name__}(compile=True): torch.compile failed "
                    f"({type(err).__name__}: {err}); using the eager step",
                    RuntimeWarning,
                    stacklevel=4,
                )
                return i
        return len(cols[0])


class AdaBoundW(AdaBound):
    """AdaBound with decoupled weight decay (`Loshchilov & Hutter, 2019
    <https://arxiv.org/abs/1711.05101>`_), the ``AdaBoundW`` of the AdaBound repository.

    Identical to :class:`AdaBound` except that ``weight_decay`` shrinks the weights directly,
    ``p ← p (1 − weight_decay × lr / base_lr)``, instead of entering the gradient and the
    moments. At a constant LR this is the reference ``AdaBoundW`` (``p ← p − wd·p − step``),
    which the PyPI release of ``adabound`` lacks; under an LR schedule the decay follows the
    schedule factor ``lr / base_lr``, as in the AdamW paper.

    Args:
        params: parameters or param-group dicts.
        lr: Adam learning rate (> 0). Default 1e-3.
        betas: moment coefficients, each in ``[0, 1)``. Default ``(0.9, 0.999)``.
        final_lr: the SGD learning rate both bounds converge to (>= 0). Default 0.1.
        gamma: convergence speed of the bounds, in ``(0, 1)``. Default 1e-3.
        eps: denominator term (>= 0). Default 1e-8.
        weight_decay: decoupled decay per step at the base LR (>= 0). Default 0.
        amsbound: use the AMSBound variant. Default ``False``.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for out-of-range values, as :class:`AdaBound`.

    Example::

        >>> import torch
        >>> from lightning_tricks.optim import AdaBoundW
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = AdaBoundW([w], lr=1e-3, weight_decay=0.01)
        >>> w.grad = torch.zeros(3)
        >>> opt.step()
        >>> w.data
        tensor([0.9900, 0.9900, 0.9900])
    """

    decoupled_weight_decay = True
