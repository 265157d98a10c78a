"""AdaBound / AdaBoundW against the `adabound` package and a hand-written reference."""

from __future__ import annotations

import copy
import io
import math
import warnings
from collections.abc import Callable

import adabound  # the peer implementation, a test-only dependency (extra `dev`)
import pytest
import torch
from torch import nn

import lightning_tricks.optim.adabound as adabound_module
from lightning_tricks.optim import AdaBound, AdaBoundW

pytestmark = pytest.mark.filterwarnings("error")


def _cnn(dtype: torch.dtype = torch.float64, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).to(dtype)


def _data(
    n_steps: int, dtype: torch.dtype = torch.float64
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(8, 3, 6, 6, generator=gen, dtype=dtype),
            torch.randint(0, 4, (8,), generator=gen),
        )
        for _ in range(n_steps)
    ]


def _train(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: list,
    scheduler: Callable[[], object] | None = None,
    quiet: bool = False,
) -> None:
    for x, y in data:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        if quiet:  # the package uses deprecated torch signatures
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt.step()
        else:
            opt.step()
        if scheduler is not None:
            scheduler()


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@pytest.fixture(params=[64, None], ids=["chunk64", "default-chunk"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Exercise the cache-blocked path with tiny chunks (every conv weight is split)."""
    if request.param is not None:
        monkeypatch.setattr(adabound_module, "CPU_CHUNK", request.param)
    return adabound_module.CPU_CHUNK


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"amsbound": True},
        {"weight_decay": 5e-4},
        {
            "amsbound": True,
            "weight_decay": 1e-2,
            "final_lr": 0.05,
            "gamma": 1e-2,
            "betas": (0.8, 0.99),
        },
    ],
    ids=["plain", "amsbound", "weight-decay", "amsbound-wd"],
)
def test_adabound_matches_package_float64(kwargs: dict, chunk: int) -> None:
    data = _data(200)
    ours, ref = _cnn(), _cnn()
    _train(ours, AdaBound(ours.parameters(), lr=1e-2, **kwargs), data)
    _train(ref, adabound.AdaBound(ref.parameters(), lr=1e-2, **kwargs), data, quiet=True)
    assert _max_diff(ours, ref) <= 1e-9


def test_adabound_matches_package_under_lr_schedule() -> None:
    """The bounds follow lr / base_lr exactly as in the package (final_lr decays with the LR)."""
    data = _data(120)
    ours, ref = _cnn(), _cnn()

    def groups(m: nn.Module) -> list[dict]:
        return [
            {"params": list(m[0].parameters()), "lr": 3e-3},
            {"params": [p for mod in list(m)[1:] for p in mod.parameters()]},
        ]

    o1 = AdaBound(groups(ours), lr=1e-2, final_lr=0.05)
    o2 = adabound.AdaBound(groups(ref), lr=1e-2, final_lr=0.05)
    s1 = torch.optim.lr_scheduler.StepLR(o1, step_size=30, gamma=0.3)
    s2 = torch.optim.lr_scheduler.StepLR(o2, step_size=30, gamma=0.3)
    _train(ours, o1, data, s1.step)
    _train(ref, o2, data, s2.step, quiet=True)
    assert _max_diff(ours, ref) <= 1e-9


def test_adabound_float32_and_mixed_layouts_match_package() -> None:
    """float32 differs from the package only by rounding order; channels_last weights and a
    float64 parameter in the same group take the whole-tensor path."""
    data = _data(100, torch.float32)
    ours, ref = _cnn(torch.float32), _cnn(torch.float32)
    for m in (ours, ref):
        m[0].weight.data = m[0].weight.data.contiguous(memory_format=torch.channels_last)
    extra = [nn.Parameter(torch.linspace(-1, 1, 300, dtype=torch.float64)) for _ in range(2)]
    o1 = AdaBound([*ours.parameters(), extra[0]], lr=1e-2)
    o2 = adabound.AdaBound([*ref.parameters(), extra[1]], lr=1e-2)
    for x, y in data:
        for model, opt, e in ((ours, o1, extra[0]), (ref, o2, extra[1])):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y) + e.sin().sum().float()
            loss.backward()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt.step()
    assert ours[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert _max_diff(ours, ref) <= 1e-5
    assert (extra[0] - extra[1]).abs().max().item() <= 1e-12


def _adaboundw_reference(
    params: list[nn.Parameter],
    state: dict,
    lr: float,
    base_lr: float,
    betas: tuple[float, float],
    final_lr: float,
    gamma: float,
    eps: float,
    weight_decay: float,
    amsbound: bool,
) -> None:
    """Hand-written decoupled AdaBoundW: one parameter and one op at a time, no vectorisation.

    p ← p − wd · (lr / base_lr) · p − clip(α_t / (√v̂ + eps), η_l, η_u) · m.
    """
    beta1, beta2 = betas
    with torch.no_grad():
        for p in params:
            s = state.setdefault(
                p,
                {
                    "t": 0,
                    "m": torch.zeros_like(p),
                    "v": torch.zeros_like(p),
                    "vmax": torch.zeros_like(p),
                },
            )
            s["t"] += 1
            t = s["t"]
            g = p.grad
            s["m"] = beta1 * s["m"] + (1 - beta1) * g
            s["v"] = beta2 * s["v"] + (1 - beta2) * g * g
            s["vmax"] = torch.maximum(s["vmax"], s["v"])
            v = s["vmax"] if amsbound else s["v"]
            alpha = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
            f = final_lr * lr / base_lr
            lower, upper = f * (1 - 1 / (gamma * t + 1)), f * (1 + 1 / (gamma * t))
            step = torch.clamp(alpha / (v.sqrt() + eps), lower, upper) * s["m"]
            decay = weight_decay * (lr / base_lr) * p
            p.sub_(step).sub_(decay)


@pytest.mark.parametrize("amsbound", [False, True])
def test_adaboundw_matches_reference(amsbound: bool, chunk: int) -> None:
    data = _data(200)
    ours, ref = _cnn(), _cnn()
    hp = {"betas": (0.9, 0.999), "final_lr": 0.1, "gamma": 1e-3, "eps": 1e-8, "weight_decay": 1e-3}
    opt = AdaBoundW(ours.parameters(), lr=1e-2, amsbound=amsbound, **hp)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.5)
    _train(ours, opt, data, sched.step)
    state: dict = {}
    params = list(ref.parameters())
    for i, (x, y) in enumerate(data):
        for p in params:
            p.grad = None
        nn.functional.cross_entropy(ref(x), y).backward()
        lr = 1e-2 * 0.5 ** (i // 50)
        _adaboundw_reference(params, state, lr, 1e-2, amsbound=amsbound, **hp)
    assert _max_diff(ours, ref) <= 1e-9


def test_adaboundw_equals_adabound_without_weight_decay() -> None:
    data = _data(50)
    a, b = _cnn(), _cnn()
    _train(a, AdaBound(a.parameters(), lr=1e-2), data)
    _train(b, AdaBoundW(b.parameters(), lr=1e-2), data)
    assert _max_diff(a, b) == 0.0


@pytest.mark.parametrize("cls", [AdaBound, AdaBoundW])
def test_state_dict_round_trip_mid_run(cls: type) -> None:
    data = _data(60)
    model = _cnn()
    opt = cls(model.parameters(), lr=1e-2, amsbound=True, weight_decay=1e-3)
    _train(model, opt, data[:30])
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    _train(model, opt, data[30:])

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = _cnn(seed=123)
    resumed.load_state_dict(saved["model"])
    opt2 = cls(resumed.parameters(), lr=1e-2, amsbound=True, weight_decay=1e-3)
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["base_lr"] == 1e-2
    _train(resumed, opt2, data[30:])
    assert _max_diff(model, resumed) == 0.0  # continues identically


def test_loads_the_package_state_dict() -> None:
    data = _data(40)
    ref = _cnn()
    ref_opt = adabound.AdaBound(ref.parameters(), lr=1e-2)
    _train(ref, ref_opt, data[:20], quiet=True)
    ours = copy.deepcopy(ref)
    opt = AdaBound(ours.parameters(), lr=1e-2)
    opt.load_state_dict(copy.deepcopy(ref_opt.state_dict()))  # (load_state_dict aliases tensors)
    _train(ref, ref_opt, data[20:], quiet=True)
    _train(ours, opt, data[20:])
    assert _max_diff(ours, ref) <= 1e-9


def test_param_group_added_later_trains_with_its_own_base_lr() -> None:
    """The package zips groups with base LRs fixed at construction, so a group added later
    (Lightning's BackboneFinetuning does this) is silently never updated. Ours trains it."""
    data = _data(40)
    model = _cnn()
    head, body = list(model[6].parameters()), [p for m in list(model)[:6] for p in m.parameters()]
    opt = AdaBound(head, lr=1e-2, final_lr=0.1)
    _train(model, opt, data[:10])
    opt.add_param_group({"params": body, "lr": 1e-3})
    assert opt.param_groups[1]["base_lr"] == 1e-3
    # reference: the optimizer as it was (head only) plus the package optimizing the body alone
    # from the moment it was added; deepcopy keeps the optimizer pointing at the copied params
    twin, twin_opt = copy.deepcopy((model, opt))
    twin_opt.param_groups.pop()
    ref_body = adabound.AdaBound([p for m in list(twin)[:6] for p in m.parameters()], lr=1e-3)
    before = [p.detach().clone() for p in body]
    _train(model, opt, data[10:])
    for x, y in data[10:]:
        twin.zero_grad()
        nn.functional.cross_entropy(twin(x), y).backward()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_body.step()
        twin_opt.step()
    assert all((p - q).abs().max() > 0 for p, q in zip(body, before))  # the new group trains
    assert _max_diff(model, twin) <= 1e-9


def test_final_lr_zero_freezes_parameters_and_closure() -> None:
    model = _cnn()
    before = [p.detach().clone() for p in model.parameters()]
    opt = AdaBound(model.parameters(), lr=1e-2, final_lr=0.0)
    x, y = _data(1)[0]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert opt.state[model[0].weight]["step"] == 1  # moments still update


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": 0.0}, ValueError, r"`lr` must be > 0, got 0.0"),
        ({"lr": -1e-3}, ValueError, r"`lr` must be > 0, got -0.001"),
        ({"final_lr": -0.1}, ValueError, r"`final_lr` must be >= 0, got -0.1"),
        ({"gamma": 0.0}, ValueError, r"`gamma` must be in \(0, 1\), got 0.0"),
        ({"gamma": 1.0}, ValueError, r"`gamma` must be in \(0, 1\), got 1.0"),
        ({"betas": (1.0, 0.999)}, ValueError, r"`betas\[0\]` must be in \[0, 1\), got 1.0"),
        ({"betas": (0.9, -0.1)}, ValueError, r"`betas\[1\]` must be in \[0, 1\), got -0.1"),
        ({"betas": 0.9}, TypeError, r"`betas` must be a pair of floats, got 0.9"),
        ({"eps": -1e-8}, ValueError, r"`eps` must be >= 0, got -1e-08"),
        ({"weight_decay": -1.0}, ValueError, r"`weight_decay` must be >= 0, got -1.0"),
        ({"amsbound": "yes"}, TypeError, r"`amsbound` must be a bool, got 'yes'"),
        ({"lr": "0.1"}, TypeError, r"`lr` must be a float, got str '0.1'"),
        ({"lr": float("nan")}, ValueError, r"`lr` must be a finite float, got nan"),
        ({"final_lr": float("inf")}, ValueError, r"`final_lr` must be a finite float, got inf"),
    ],
)
@pytest.mark.parametrize("cls", [AdaBound, AdaBoundW])
def test_bad_hyperparameters(cls: type, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        cls(_cnn().parameters(), **kwargs)


def test_bad_group_and_sparse_gradient() -> None:
    model = _cnn()
    opt = AdaBound(model[6].parameters())
    with pytest.raises(ValueError, match=r"`final_lr` must be >= 0, got -1"):
        opt.add_param_group({"params": model[0].parameters(), "final_lr": -1})
    emb = nn.Embedding(10, 3, sparse=True)
    opt = AdaBound(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        opt.step()


@pytest.mark.parametrize(
    "kwargs", [{"amsbound": True, "weight_decay": 1e-3}, {"weight_decay": 5e-4}]
)
@pytest.mark.parametrize("cls", [AdaBound, AdaBoundW])
def test_compiled_kernel_math_without_compiling(
    cls: type, kwargs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """compile=True runs `_fused_tensor_step`; here it runs uncompiled (tests never depend on
    torch.compile) and must match the eager `_foreach` path."""
    monkeypatch.setattr(
        adabound_module, "_compiled_step", lambda: adabound_module._fused_tensor_step
    )
    data = _data(60)
    fused, eager = _cnn(), _cnn()
    for m in (fused, eager):
        m[0].weight.data = m[0].weight.data.contiguous(memory_format=torch.channels_last)
    _train(fused, cls(fused.parameters(), lr=1e-2, compile=True, **kwargs), data)
    _train(eager, cls(eager.parameters(), lr=1e-2, **kwargs), data)
    assert _max_diff(fused, eager) <= 1e-12


def test_compile_failure_falls_back_to_eager_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> Callable[..., None]:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(adabound_module, "_compiled_step", broken)
    data = _data(5)
    a, b = _cnn(), _cnn()
    opt = AdaBound(a.parameters(), lr=1e-2, compile=True)
    with pytest.warns(
        RuntimeWarning, match=r"torch.compile failed \(RuntimeError: no compiler here\)"
    ) as record:
        _train(a, opt, data)
    assert len(record) == 1 and opt._compile_failed
    _train(b, AdaBound(b.parameters(), lr=1e-2), data)
    assert _max_diff(a, b) == 0.0
    with pytest.raises(TypeError, match=r"`compile` must be a bool, got 'yes'"):
        AdaBound(a.parameters(), compile="yes")  # type: ignore[arg-type]
