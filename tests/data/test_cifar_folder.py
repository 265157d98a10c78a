"""CIFAR and ImageFolder data modules on tiny data the tests write themselves.

The CIFAR test serves a CIFAR-format archive from a local HTTP server (127.0.0.1) so the
real torchvision download + integrity check + extraction + loading path runs; nothing is
fetched from the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import pickle
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets

from lightning_tricks.data import CIFAR10DataModule, CIFAR100DataModule, ImageFolderDataModule


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (an ephemeral port)."""
    serve = tmp_path / "www"
    serve.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(serve), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield serve, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _write_cifar_archive(
    www: Path, cls: type[datasets.CIFAR10], n_per_batch: int, num_classes: int
) -> None:
    """A CIFAR-format tar.gz (python pickles) with tiny batches; patches md5s to match."""
    work = www.parent / "build" / cls.base_folder
    work.mkdir(parents=True)
    rng = np.random.default_rng(0)
    label_key = "labels" if cls is datasets.CIFAR10 else "fine_labels"
    for name, _ in [*cls.train_list, *cls.test_list]:
        batch = {
            "data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
            label_key: rng.integers(0, num_classes, n_per_batch).tolist(),
        }
        (work / name).write_bytes(pickle.dumps(batch))
    key = cls.meta["key"]
    (work / cls.meta["filename"]).write_bytes(
        pickle.dumps({key: [f"class{i}" for i in range(num_classes)]})
    )
    archive = www / cls.filename
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work, arcname=cls.base_folder)
    return archive


@pytest.mark.parametrize(
    ("dm_cls", "ds_cls", "num_classes"),
    [(CIFAR10DataModule, datasets.CIFAR10, 10), (CIFAR100DataModule, datasets.CIFAR100, 100)],
)
def test_cifar_download_and_load(
    http_dir: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dm_cls: type[CIFAR10DataModule],
    ds_cls: type[datasets.CIFAR10],
    num_classes: int,
) -> None:
    www, base_url = http_dir
    archive = _write_cifar_archive(www, ds_cls, n_per_batch=8, num_classes=num_classes)
    build = www.parent / "build" / ds_cls.base_folder
    monkeypatch.setattr(ds_cls, "url", f"{base_url}/{ds_cls.filename}")
    monkeypatch.setattr(ds_cls, "tgz_md5", _md5(archive))
    monkeypatch.setattr(ds_cls, "train_list", [[n, _md5(build / n)] for n, _ in ds_cls.train_list])
    monkeypatch.setattr(ds_cls, "test_list", [[n, _md5(build / n)] for n, _ in ds_cls.test_list])
    monkeypatch.setattr(
        ds_cls, "meta", {**ds_cls.meta, "md5": _md5(build / ds_cls.meta["filename"])}
    )

    root = tmp_path / "data"
    dm = dm_cls(root=root, val_size=4, batch_size=2, num_workers=0)
    assert dm.num_classes == num_classes and dm.in_channels == 3
    dm.prepare_data()  # downloads from the local server, checks md5, extracts
    assert (root / ds_cls.base_folder).is_dir()
    dm.setup("fit")
    n_train_total = 8 * len(ds_cls.train_list)
    assert len(dm.train_set) == n_train_total - 4
    assert len(dm.val_set) == 4
    assert len(dm.test_set) == 8 * len(ds_cls.test_list)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    assert int(y.max()) < num_classes
    # second prepare_data finds the verified files and does not download again
    (www / ds_cls.filename).unlink()
    dm_cls(root=root, val_size=4).prepare_data()


def test_cifar_val_size_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"`val_size` must be >= 1, got 0"):
        CIFAR10DataModule(root=tmp_path, val_size=0)


def _write_folder(root: Path, classes: list[str], per_class: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")


def test_image_folder_split_and_resize(tmp_path: Path) -> None:
    _write_folder(tmp_path / "train", ["cat", "dog", "fox"], per_class=10, size=(20, 30))
    dm = ImageFolderDataModule(tmp_path / "train", val_fraction=0.2, image_size=16, batch_size=4)
    assert dm.num_classes == 3 and dm.classes == ["cat", "dog", "fox"]
    dm.setup("fit")
    assert len(dm.train_set) == 24 and len(dm.val_set) == 6
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 16, 16)
    xv, _ = next(iter(dm.val_dataloader()))
    assert xv.shape == (4, 3, 16, 16)
    assert len(dm.test_set) == 6  # test falls back to val


def test_image_folder_with_val_dir_and_errors(tmp_path: Path) -> None:
    _write_folder(tmp_path / "train", ["a", "b"], per_class=3, size=(8, 8))
    _write_folder(tmp_path / "val", ["a", "b"], per_class=2, size=(8, 8))
    _write_folder(tmp_path / "bad", ["a", "c"], per_class=1, size=(8, 8))
    dm = ImageFolderDataModule(tmp_path / "train", val_dir=tmp_path / "val", image_size=8)
    dm.setup("fit")
    assert len(dm.train_set) == 6 and len(dm.val_set) == 4
    with pytest.raises(ValueError, match=r"`val_dir` .* must have the same class subfolders"):
        ImageFolderDataModule(tmp_path / "train", val_dir=tmp_path / "bad")
    with pytest.raises(ValueError, match=r"`train_dir` must be an existing folder"):
        ImageFolderDataModule(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no class subfolders"):
        ImageFolderDataModule(tmp_path / "empty")
