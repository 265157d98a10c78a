"""no-bias-decay param groups and the L1 gradient helper."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_tricks.optim import add_l1_grad_, no_decay_names, param_groups

pytestmark = pytest.mark.filterwarnings("error")


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.gn = nn.GroupNorm(2, 4)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 2, bias=False)
        self.head = nn.Linear(2, 2)
        self.pos_embed = nn.Parameter(torch.zeros(1, 4))
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_no_decay_names() -> None:
    net = _Net()
    names = no_decay_names(net)
    assert names == {
        "conv.bias", "bn.weight", "bn.bias", "gn.weight", "gn.bias", "ln.weight", "ln.bias",
        "head.bias", "frozen.bias",
    }  # fmt: skip
    assert no_decay_names(net, bias=False) == {
        "bn.weight",
        "bn.bias",
        "gn.weight",
        "gn.bias",
        "ln.weight",
        "ln.bias",
    }
    assert no_decay_names(net, norm=False) == {
        "conv.bias",
        "bn.bias",
        "gn.bias",
        "ln.bias",
        "head.bias",
        "frozen.bias",
    }
    assert "pos_embed" in no_decay_names(net, patterns=["pos_*"])


def test_no_weight_decay_method_is_honoured() -> None:
    net = _Net()
    net.no_weight_decay = lambda: {"pos_embed"}  # the timm convention
    assert "pos_embed" in no_decay_names(net)


def test_param_groups_split_and_train() -> None:
    net = _Net()
    groups = param_groups(net, 5e-4, lr=0.1)
    assert [g["name"] for g in groups] == ["decay", "no_decay"]
    decay = {id(p) for p in groups[0]["params"]}
    names = {n for n, p in net.named_parameters() if id(p) in decay}
    assert names == {"conv.weight", "fc.weight", "head.weight", "pos_embed"}
    assert groups[0]["weight_decay"] == 5e-4 and groups[1]["weight_decay"] == 0.0
    assert all(g["lr"] == 0.1 for g in groups)
    # frozen parameters are left out; together the groups cover every trainable one
    n_trainable = sum(p.requires_grad for p in net.parameters())
    assert sum(len(g["params"]) for g in groups) == n_trainable
    opt = torch.optim.SGD(groups, lr=0.1)  # usable as is
    assert len(opt.param_groups) == 2


def test_param_groups_leave_out_empty_groups_and_validate() -> None:
    only_weights = nn.Linear(3, 3, bias=False)
    assert [g["name"] for g in param_groups(only_weights, 1e-4)] == ["decay"]
    with pytest.raises(
        ValueError, match=r"`weight_decay` must be a finite float in \[0, inf\), got -0.1"
    ):
        param_groups(only_weights, -0.1)
    with pytest.raises(
        TypeError, match=r"`weight_decay` must be a finite float in \[0, inf\), got str"
    ):
        param_groups(only_weights, "0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`model` must be an nn.Module, got list"):
        no_decay_names([])  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"`patterns` must be a sequence of strings, got the string"
    ):
        no_decay_names(only_weights, patterns="bias")


def test_add_l1_grad_equals_penalty_in_the_loss() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    with torch.no_grad():
        net[0].weight[0, 0] = 0.0  # sign(0) = 0, as the subgradient of |w| autograd uses
    x, y = torch.randn(7, 5, dtype=torch.float64), torch.randint(0, 3, (7,))
    lam = 0.03
    params = list(net.parameters())

    loss = nn.functional.cross_entropy(net(x), y)
    (loss + lam * sum(p.abs().sum() for p in params)).backward()
    expected = [p.grad.clone() for p in params]

    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    add_l1_grad_(params, lam)
    for p, g in zip(params, expected):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=1e-15)


def test_add_l1_grad_skips_missing_grads_and_validates() -> None:
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(-torch.ones(2))
    a.grad = torch.zeros(2)
    add_l1_grad_([a, b], 0.5)
    assert torch.equal(a.grad, torch.full((2,), 0.5)) and b.grad is None
    with pytest.raises(ValueError, match=r"`weight` must be a finite float in \[0, inf\), got -1"):
        add_l1_grad_([a], -1)
