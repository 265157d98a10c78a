"""The README's "add tricks to your own module" example runs as written (shortened fit)."""

from __future__ import annotations

import re
from pathlib import Path

from lightning_tricks.models import ImageClassifier

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_runs(tmp_path: Path, monkeypatch) -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Add tricks to your own module", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "Trainer(" in code and "callbacks=[" in code
    code = code.replace(
        "max_epochs=30",
        "max_epochs=1, max_steps=3, logger=False, enable_progress_bar=False, "
        f"enable_checkpointing=False, enable_model_summary=False, default_root_dir={str(tmp_path)!r}",
    )
    monkeypatch.chdir(tmp_path)
    namespace = {
        "MyModule": lambda: ImageClassifier("simple_cnn", num_classes=10, in_channels=1),
    }
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["trainer"].global_step == 3
