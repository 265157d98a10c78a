"""BatchCropFlip: same pixels as the functional / a naive loop, per-sample draws, layouts."""

from __future__ import annotations

import pickle
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from lightning_tricks.callbacks import BatchCropFlip, BatchTrick
from lightning_tricks.functional import crop_flip_batch, sample_crop_flip_params


def _trainer(cb: BatchCropFlip, rank: int = 0) -> Any:
    return SimpleNamespace(
        global_rank=rank, max_epochs=3, current_epoch=0, global_step=0, callbacks=[cb]
    )


def test_apply_batch_equals_functional_and_naive_loop_with_the_same_draws() -> None:
    cb = BatchCropFlip(padding=3, padding_mode="edge", flip_p=0.5)
    assert isinstance(cb, BatchTrick)
    x = torch.randn(12, 3, 10, 9, generator=torch.Generator().manual_seed(0))
    y = torch.arange(12)
    out, y_out = cb.apply_batch(x, y, torch.Generator().manual_seed(7), False)
    params = sample_crop_flip_params(12, 3, 0.5, torch.Generator().manual_seed(7))
    assert torch.equal(out, crop_flip_batch(x, params, "edge"))
    for n in range(12):
        top, left = int(params.top[n]), int(params.left[n])
        ref = TF.pad(x[n], [3], padding_mode="edge")[:, top : top + 10, left : left + 9]
        assert torch.equal(out[n], ref.flip(-1) if bool(params.flip[n]) else ref)
    assert y_out is y
    assert len(set(zip(params.top.tolist(), params.left.tolist()))) > 4


def test_hook_rewrites_list_and_dict_batches_in_place_keeping_index_targets() -> None:
    x = torch.randn(16, 3, 8, 8)
    cb = BatchCropFlip(padding=2, seed=0)
    batch = [x.clone(), torch.arange(16)]
    trainer = _trainer(cb)
    cb.setup(trainer, SimpleNamespace(), "fit")
    cb.on_train_batch_start(trainer, SimpleNamespace(), batch, 0)
    assert batch[0].shape == x.shape and not torch.equal(batch[0], x)
    assert batch[1].dtype == torch.int64 and torch.equal(batch[1], torch.arange(16))
    dcb = BatchCropFlip(padding=1, input_key="image", target_key="label", seed=0)
    dbatch = {"image": x.clone(), "label": torch.arange(16), "id": "keep"}
    dcb.setup(_trainer(dcb), SimpleNamespace(), "fit")
    dcb.on_train_batch_start(_trainer(dcb), SimpleNamespace(), dbatch, 0)
    assert dbatch["id"] == "keep" and not torch.equal(dbatch["image"], x)


def test_ranks_draw_differently_and_seed_reproduces() -> None:
    x = torch.randn(32, 3, 8, 8)
    outs = []
    for rank in (0, 1, 0):
        cb = BatchCropFlip(padding=2, seed=3)
        batch = [x.clone(), torch.arange(32)]
        cb.setup(_trainer(cb, rank), SimpleNamespace(), "fit")
        cb.on_train_batch_start(_trainer(cb, rank), SimpleNamespace(), batch, 0)
        outs.append(batch[0])
    assert torch.equal(outs[0], outs[2]) and not torch.equal(outs[0], outs[1])


def test_transform_batch_pickle_state_key_and_bf16() -> None:
    cb = pickle.loads(pickle.dumps(BatchCropFlip(padding=2, seed=0)))
    x = torch.randn(4, 3, 8, 8).bfloat16()
    out, y = cb.transform_batch(x, torch.tensor([0, 1, 2, 3]))
    assert out.dtype == torch.bfloat16 and y.tolist() == [0, 1, 2, 3]
    assert BatchCropFlip(padding=2).state_key != BatchCropFlip(padding=4).state_key
    a, _ = BatchCropFlip(padding=2, seed=1).transform_batch(x, torch.arange(4))
    b, _ = BatchCropFlip(padding=2, seed=1).transform_batch(x, torch.arange(4))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"padding": -1}, ValueError, r"`padding` must be >= 0, got -1"),
        ({"padding": 2.0}, TypeError, r"`padding` must be an integer >= 0, got float"),
        ({"padding_mode": "wrap"}, ValueError, r"`padding_mode` must be one of \['constant'"),
        ({"flip_p": 1.5}, ValueError, r"`flip_p` must be a finite float in \[0, 1\], got 1.5"),
        ({"flip_p": "half"}, TypeError, r"`flip_p` must be a finite float in \[0, 1\], got str"),
        (
            {"fill": float("nan")},
            ValueError,
            r"`fill` must be a finite float in \(-inf, inf\), got nan",
        ),
        ({"p": 2.0}, ValueError, r"`p` must be a finite float in \[0, 1\], got 2.0"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        BatchCropFlip(**kwargs)


def test_runtime_error_for_reflect_padding_too_large() -> None:
    with pytest.raises(ValueError, match="reflect padding must be < the image size"):
        BatchCropFlip(padding=4, seed=0).transform_batch(torch.randn(2, 1, 4, 4), torch.arange(2))
