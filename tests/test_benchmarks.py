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
    assert "| shape | trick | peer | ours ms | peer ms | peer / ours | paired | goal |" in out
    rows = re.findall(
        r"^\| \((\d+), 3, (\d+), \d+\) \| Label smoothing \| article LSR \|.*x \| - \|$",
        out,
        re.M,
    )
    assert rows == [("256", "32"), ("64", "224")]


def test_batch_tricks_benchmark_over_processes_with_pinned_malloc() -> None:
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks/batch_tricks.py"),
        "--quick",
        "--only",
        "random erasing",
        "--threads",
        "1",
        "--processes",
        "2",
        "--pin-malloc",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    out = result.stdout
    assert "in 2 processes, glibc mmap threshold pinned (--pin-malloc)" in out
    assert "| paired, median of 2 | paired, min | paired, max | goal |" in out
    rows = re.findall(
        r"^\| \((\d+), 3, \d+, \d+\) \| Random Erasing \| (.+?) \| [\d.]+ \| [\d.]+ \| "
        r"([\d.]+)x \| ([\d.]+)x \| ([\d.]+)x \| ≥ (\d)",
        out,
        re.M,
    )
    assert [(n, peer, goal) for n, peer, _, _, _, goal in rows] == [
        ("256", "torchvision RandomErasing per image", "5"),
        ("256", "timm RandomErasing batch", "1"),
        ("64", "torchvision RandomErasing per image", "5"),
        ("64", "timm RandomErasing batch", "1"),
    ]
    for *_, med, lo, hi, _ in rows:
        assert float(lo) <= float(med) <= float(hi)
