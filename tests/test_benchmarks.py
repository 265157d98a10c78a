"""The batch-trick benchmark still runs and prints its three tables (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tables(out: str) -> dict[str, list[list[str]]]:
    """Markdown tables of the output by section title: the header row, then the data rows."""
    found: dict[str, list[list[str]]] = {}
    title = ""
    for line in out.splitlines():
        if line.startswith("## "):
            title = line[3:]
            found[title] = []
        elif line.startswith("|") and not line.startswith("|---"):
            found[title].append([cell.strip() for cell in line.strip("|").split("|")])
    return found


def test_batch_tricks_benchmark_prints_its_tables() -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks/batch_tricks.py"), "--quick"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
    assert re.search(r"^# Batch tricks, .*load average [\d.]+, .*1 thread", out, re.M)
    found = tables(out)
    assert list(found) == [
        "Each trick against its peer",
        "The stack's share of a training step",
        "Mixed-label cross-entropy, forward + backward",
    ]

    header, *rows = found["Each trick against its peer"]
    assert header == [
        "batch", "K", "trick", "ours", "peer", "ours ms", "peer ms", "peer / ours", "goal", "met",
    ]  # fmt: skip
    assert [(r[0], r[1]) for r in rows] == [("(16, 3, 16, 16)", "10")] * 9 + [
        ("(8, 3, 32, 32)", "100")
    ] * 9
    pairs = [(trick, mode, peer.split()[0]) for _, _, trick, mode, peer, *_ in rows[:9]]
    assert pairs == [
        ("MixUp", "inplace", "timm"),
        ("MixUp", "default", "torchvision"),
        ("CutMix", "inplace", "timm"),
        ("CutMix", "default", "torchvision"),
        ("RICAP", "default", "reference"),
        ("Cutout", "inplace", "timm"),
        ("Cutout", "default", "torchvision"),
        ("RandomErasing", "inplace", "timm"),
        ("RandomErasing", "default", "torchvision"),
    ]
    for *_, ours_ms, peer_ms, ratio, goal, met in rows:
        assert float(ours_ms) > 0 and float(peer_ms) > 0
        assert re.fullmatch(r"\d+\.\d\dx", ratio)
        assert goal == "≥ 0.8x"
        assert met == ("yes" if float(ratio[:-1]) >= 0.8 else "**no**")

    header, *rows = found["The stack's share of a training step"]
    assert header == ["batch", "training step", "stack ms", "step ms", "stack / step", "goal", "met"]  # fmt: skip
    assert len(rows) == 1 and rows[0][:2] == ["(8, 3, 32, 32)", "CIFAR ResNet-20, SGD"]
    share = rows[0][4]
    assert re.fullmatch(r"\d+\.\d\d %", share)
    assert rows[0][5:] == ["≤ 1 %", "yes" if float(share[:-2]) <= 1 else "**no**"]

    header, *rows = found["Mixed-label cross-entropy, forward + backward"]
    assert header == ["N", "K", "targets", "ms", "/ index CE", "/ dense CE", "goal", "met"]
    assert [r[:2] for r in rows] == [["16", "100"]] * 5
    assert [r[2].split(":")[0] for r in rows] == [
        "index labels `(N,)`",
        "`MixedTargets`",
        "dense `(N, K)` probabilities",
        "`MixedTargets`",
        "dense `(N, K)` probabilities",
    ]
    assert rows[0][4:] == ["1.00x", "-", "-", "-"]
    for row in (rows[1], rows[3]):  # the mixed rows carry the goal
        vs_index, vs_dense = float(row[4][:-1]), float(row[5][:-1])
        assert row[6] == "≤ 1.3x index, < 1x dense"
        assert row[7] == ("yes" if vs_index <= 1.3 and vs_dense < 1 else "**no**")
    assert rows[2][5:] == rows[4][5:] == ["-", "-", "-"]
