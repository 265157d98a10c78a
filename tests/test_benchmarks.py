"""The batch-trick benchmark still runs (a smoke run, no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("mode", ["alternate", "cold", "steady"])
def test_batch_tricks_benchmark_prints_its_table(mode: str) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks/batch_tricks.py"),
        "--quick",
        "--only",
        "label",
        "--threads",
        "1",
        "--mode",
        mode,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    out = result.stdout
    assert f"mode {mode!r}" in out
    assert "| shape | trick | peer | ours ms | peer ms | peer / ours | paired |" in out
    rows = re.findall(
        r"^\| \((\d+), 3, (\d+), \d+\) \| Label smoothing \| article LSR \|.*x \|$", out, re.M
    )
    assert rows == [("256", "32"), ("64", "224")]
