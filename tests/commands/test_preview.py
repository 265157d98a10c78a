"""``lightning-tricks preview`` writes a PNG of the expected size with (soft) label captions."""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import pytest
import torch

from lightning_tricks.cli import main as cli_main
from lightning_tricks.commands.preview import format_label, render_grid

ROOT = Path(__file__).resolve().parents[2]


def test_format_label() -> None:
    assert format_label(torch.tensor(3)) == "3"
    assert format_label(torch.tensor([0.0, 1.0, 0.0])) == "1"
    mix = torch.zeros(10)
    mix[3], mix[8] = 0.62, 0.38
    assert format_label(mix) == "0.62·3 + 0.38·8"
    smooth = torch.full((10,), 0.01)
    smooth[4] = 0.91
    assert format_label(smooth) == "0.91·4 + 0.01·0 + 0.01·1 + …"
    assert format_label(torch.tensor([0.5, 0.5])) == "0.50·0 + 0.50·1"


def test_render_grid_size_rgb_and_partial_last_row(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    size = render_grid(
        torch.rand(5, 8, 8, 3), [str(i) for i in range(5)], out, cols=2, tile=1.0, dpi=40
    )
    assert size == (80, 166)  # (2 · 1.0, 3 · 1.25 · 1.0 + 0.4) inches at 40 dpi
    assert PIL.Image.open(out).size == size


def _write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        """
trainer:
  accelerator: gpu  # preview always runs on the CPU
  devices: 4
  callbacks:
    - class_path: lightning_tricks.callbacks.BatchCropFlip
      init_args: {padding: 2, padding_mode: constant, seed: 0}
    - class_path: lightning_tricks.callbacks.MixUp
      init_args: {alpha: 1.0, seed: 0}
model:
  class_path: lightning_tricks.models.ImageClassifier
  init_args: {backbone: simple_cnn}
data:
  class_path: lightning_tricks.data.DigitsDataModule
  init_args:
    image_size: 16
    batch_size: 12
    train_per_class: 2
    num_workers: 2
    train_transforms:
      class_path: lightning_tricks.transforms.TrainTransforms
      init_args: {padding: 0, hflip: 0.0, rotation: 10}
"""
    )
    return cfg


def test_preview_command_writes_png_of_expected_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning_tricks.commands.preview as preview

    seen: dict = {}
    real = preview.render_grid

    def spy(images, captions, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen["images"], seen["captions"] = images, list(captions)
        return real(images, captions, *args, **kwargs)

    monkeypatch.setattr(preview, "render_grid", spy)
    out = tmp_path / "preview.png"
    code = cli_main(
        [
            "preview",
            "--config",
            str(_write_config(tmp_path)),
            "--out",
            str(out),
            "--num",
            "10",
            "--cols",
            "5",
            "--tile",
            "1.2",
            "--dpi",
            "40",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    width, height = 5 * 1.2 * 40, 2 * 1.25 * 1.2 * 40 + 0.4 * 40
    assert PIL.Image.open(out).size == (round(width), round(height))
    assert seen["images"].shape == (10, 16, 16, 1)
    assert float(seen["images"].min()) >= 0.0 and float(seen["images"].max()) <= 1.0
    # MixUp ran after the crop: captions are mixes of at most two classes such as
    # "0.70·7 + 0.30·0" ("1.00·7" when the partner's weight is below the 0.005 shown; a
    # sample mixed with one of its own class keeps a plain label), weights summing to 1
    mixed = [c for c in seen["captions"] if "·" in c]
    assert len(mixed) >= 3, seen["captions"]
    for caption in mixed:
        weights = [float(term.split("·")[0]) for term in caption.split(" + ")]
        assert len(weights) <= 2 and abs(sum(weights) - 1.0) <= 0.011, caption
    printed = capsys.readouterr().out
    assert "TrainTransforms → BatchCropFlip → MixUp" in printed


def test_preview_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli_main(["preview", "--config", str(tmp_path / "x.yaml"), "--num", "0"])


def test_shipped_config_previews(tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    code = cli_main(
        [
            "preview",
            "--config",
            str(ROOT / "configs" / "digits_augment.yaml"),
            "--out",
            str(out),
            "--num",
            "4",
            "--cols",
            "4",
            "--dpi",
            "30",
            "--data.init_args.train_per_class=2",
            "--seed",
            "0",
        ]
    )
    assert code == 0 and out.exists()
