"""WeightInit / ZeroInitResidualBN: exact values vs torch.nn.init, identity blocks, lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit, make_trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import nn
from torchvision.models import resnet18, resnet50

from lightning_tricks.callbacks import WeightInit, ZeroInitResidualBN
from lightning_tricks.models.resnet import BasicBlock, CifarResNet


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8, 5),
        nn.Linear(5, 2),
    )


@pytest.mark.parametrize(
    ("method", "ref"),
    [
        ("xavier_uniform", lambda t, g: nn.init.xavier_uniform_(t, gain=1.5, generator=g)),
        ("xavier_normal", lambda t, g: nn.init.xavier_normal_(t, gain=1.5, generator=g)),
        ("orthogonal", lambda t, g: nn.init.orthogonal_(t, gain=1.5, generator=g)),
        (
            "kaiming_uniform",
            lambda t, g: nn.init.kaiming_uniform_(
                t, mode="fan_out", nonlinearity="relu", generator=g
            ),
        ),
        (
            "kaiming_normal",
            lambda t, g: nn.init.kaiming_normal_(
                t, mode="fan_out", nonlinearity="relu", generator=g
            ),
        ),
    ],
)
def test_values_equal_torch_init_with_the_same_generator(method: str, ref: Any) -> None:
    net = _net()
    names = WeightInit(method, mode="fan_out", gain=1.5, seed=3).initialize(net)
    assert names == ["0", "4", "5"]
    gen = torch.Generator().manual_seed(3)
    for idx in (0, 4, 5):
        expected = ref(torch.empty(net[idx].weight.shape), gen)
        assert torch.equal(net[idx].weight.detach(), expected)
        assert float(net[idx].bias.detach().abs().sum()) == 0.0
    assert torch.equal(net[1].weight.detach(), torch.ones(8))  # BatchNorm untouched


def test_layer_selection_bias_option_dtype_and_global_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net()
    linear_before = net[4].weight.detach().clone()
    conv_bias = net[0].bias.detach().clone()
    assert WeightInit(layers=["conv"], zero_bias=False, seed=0).initialize(net) == ["0"]
    assert torch.equal(net[4].weight.detach(), linear_before)
    assert torch.equal(net[0].bias.detach(), conv_bias)
    # bf16 parameters get the float32 values rounded: independent of dtype
    a, b = _net(), _net().to(torch.bfloat16)
    WeightInit(seed=1).initialize(a)
    WeightInit(seed=1).initialize(b)
    assert torch.equal(b[0].weight.detach(), a[0].weight.detach().bfloat16())
    # seed=None follows seed_everything's PL_GLOBAL_SEED
    monkeypatch.setenv("PL_GLOBAL_SEED", "11")
    c, d = _net(), _net()
    WeightInit().initialize(c)
    WeightInit(seed=11).initialize(d)
    assert torch.equal(c[0].weight.detach(), d[0].weight.detach())
    with pytest.warns(UserWarning, match="found no conv/linear layers"):
        WeightInit().initialize(nn.ReLU())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "he"}, ValueError, r"`method` must be one of \['xavier_uniform'"),
        (
            {"layers": ["conv", "norm"]},
            ValueError,
            r"`layers` entries must be in \['conv', 'linear'\], got 'norm'",
        ),
        ({"layers": "conv"}, TypeError, r"`layers` must be a non-empty list"),
        ({"nonlinearity": "gelu"}, ValueError, r"`nonlinearity` must be one of"),
        ({"mode": "fan_avg"}, ValueError, r"`mode` must be 'fan_in' or 'fan_out', got 'fan_avg'"),
        ({"gain": 0.0}, ValueError, r"`gain` must be > 0, got 0.0"),
        ({"negative_slope": -1.0}, ValueError, r"`negative_slope` must be >= 0, got -1.0"),
        ({"gain": "1"}, TypeError, r"`gain` must be a float, got str"),
        ({"zero_bias": 1}, TypeError, r"`zero_bias` must be a bool"),
        ({"seed": -3}, ValueError, r"`seed` must be an integer >= 0 or None, got -3"),
    ],
)
def test_weight_init_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        WeightInit(**kwargs)


def _zero_bn_names(net: nn.Module) -> set[str]:
    return {
        name
        for name, m in net.named_modules()
        if isinstance(m, nn.BatchNorm2d) and not bool(m.weight.detach().any())
    }


@pytest.mark.parametrize(("factory", "last"), [(resnet18, "bn2"), (resnet50, "bn3")])
def test_torchvision_resnets_zero_exactly_the_last_bn_of_each_block(
    factory: Any, last: str
) -> None:
    net = factory()
    assert not _zero_bn_names(net)
    names = ZeroInitResidualBN().initialize(net)
    blocks = [
        f"{layer}.{i}"
        for layer in ("layer1", "layer2", "layer3", "layer4")
        for i in range(len(getattr(net, layer)))
    ]
    assert names == [f"{b}.{last}" for b in blocks]
    assert _zero_bn_names(net) == set(names)
    # a block without projection now starts as the identity on (post-ReLU) inputs
    x = torch.relu(torch.randn(2, net.layer1[1].conv1.in_channels, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(net.layer1[1](x), x)
        first = net.layer1[0]
        if first.downsample is not None:  # Bottleneck: only the shortcut is left
            x0 = torch.relu(torch.randn(2, first.conv1.in_channels, 8, 8))
            torch.testing.assert_close(first(x0), torch.relu(first.downsample(x0)))


def test_project_resnet_timm_generic_rule_and_user_mapping() -> None:
    net = CifarResNet(depth=8, num_classes=3, in_channels=1)
    names = ZeroInitResidualBN().initialize(net)
    assert names == ["layer1.0.bn2", "layer2.0.bn2", "layer3.0.bn2"]
    block = BasicBlock(4, 4)
    ZeroInitResidualBN().initialize(block)
    x = torch.relu(torch.randn(3, 4, 5, 5))
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)

    timm = pytest.importorskip("timm")
    tnet = timm.create_model("resnet18", zero_init_last=False)
    assert not _zero_bn_names(tnet)
    names = ZeroInitResidualBN().initialize(tnet)
    assert len(names) == 8 and _zero_bn_names(tnet) == {f"{n}.bn2" for n in names}

    class MyBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(4, 4, 1)
            self.bn_a = nn.BatchNorm2d(4)
            self.b = nn.Conv2d(4, 4, 1)
            self.bn_b = nn.BatchNorm2d(4)
            self.shortcut = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))

    model = nn.Sequential(MyBlock(), MyBlock())
    with pytest.warns(UserWarning, match="found no residual block"):
        assert ZeroInitResidualBN().initialize(model) == []
    assert ZeroInitResidualBN(generic=True).initialize(model) == ["0.bn_b", "1.bn_b"]
    assert _zero_bn_names(model) == {"0.bn_b", "1.bn_b"}
    model = nn.Sequential(MyBlock())
    assert ZeroInitResidualBN(blocks={"MyBlock": "bn_a"}).initialize(model) == ["0.bn_a"]
    with pytest.raises(ValueError, match=r"has no submodule 'bn_c'; fix the `blocks` mapping"):
        ZeroInitResidualBN(blocks={"MyBlock": "bn_c"}).initialize(model)
    with pytest.raises(TypeError, match=r"`blocks` must be a dict of str -> str"):
        ZeroInitResidualBN(blocks={"MyBlock": 2})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"`generic` must be a bool"):
        ZeroInitResidualBN(generic="yes")  # type: ignore[arg-type]


class _Snapshot(Callback):
    """Weights as the first training step sees them (after setup, restore and wrapping)."""

    def __init__(self) -> None:
        self.start: dict[str, torch.Tensor] = {}

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.start = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


class _CountingInit(WeightInit):
    calls = 0

    def initialize(self, module: nn.Module) -> list[str]:
        type(self).calls += 1
        return super().initialize(module)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
def test_lifecycle_fresh_start_once_and_never_on_resume(tmp_path: Path) -> None:
    dm = RandomImageDataModule(n_train=16, batch_size=8)
    # fresh start: the init is what training starts from
    model, snap = TinyClassifier(), _Snapshot()
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    init = WeightInit("orthogonal", seed=4)
    fit(model, dm, tmp_path, max_epochs=2, callbacks=[init, snap, ckpt], enable_checkpointing=True)
    expected = TinyClassifier()
    WeightInit("orthogonal", seed=4).initialize(expected)
    assert torch.equal(snap.start["net.0.weight"], expected.net[0].weight.detach())
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # a second fit on the same model object continues from its weights, no re-init
    snap2 = _Snapshot()
    fit(model, dm, tmp_path, max_epochs=1, callbacks=[init, snap2])
    assert torch.equal(snap2.start["net.0.weight"], final["net.0.weight"])
    # resuming a new model object: training starts from the checkpoint, and the resumed
    # run ends exactly where the uninterrupted one did
    epoch0 = sorted((tmp_path / "ckpt").glob("epoch=0*.ckpt"))[0]
    resumed, snap3 = TinyClassifier(), _Snapshot()
    fit(
        resumed,
        dm,
        tmp_path,
        max_epochs=2,
        ckpt_path=str(epoch0),
        callbacks=[WeightInit("orthogonal", seed=4), snap3],
    )
    saved = torch.load(epoch0, weights_only=False)["state_dict"]
    assert all(torch.equal(snap3.start[k], v) for k, v in saved.items())
    assert all(torch.equal(resumed.state_dict()[k], v) for k, v in final.items())
    # when the checkpoint path is known at setup, initialize() is not even called
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=[_CountingInit(seed=4)])
    trainer.ckpt_path = str(epoch0)
    trainer.fit(TinyClassifier(), datamodule=dm)
    assert _CountingInit.calls == 0
