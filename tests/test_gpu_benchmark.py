"""benchmarks/gpu.py: the no-CUDA message, and every row of its table in a tiny CPU run.

No timing is asserted (DESIGN.md §4): the smoke run checks that each benchmark runs and
prints its row in the one Markdown table.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message is for machines without CUDA")
def test_without_cuda_it_says_so_in_one_line_and_exits_0() -> None:
    result = _run()
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("benchmarks/gpu.py: needs a CUDA device")


def test_cpu_without_tiny_is_refused() -> None:
    result = _run("--device", "cpu")
    assert result.returncode == 2
    assert "--device cpu is a smoke run: add --tiny" in result.stderr


def test_tiny_cpu_run_prints_one_table_with_every_benchmark() -> None:
    result = _run("--device", "cpu", "--tiny")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.count("| benchmark | ours (ms) | peer | peer (ms) | peer / ours | note |") == 1
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    # stack share: bf16 and fp16 (+ GradScaler), NCHW and channels-last
    share = [r for r in rows if r.startswith("| step with the trick stack")]
    assert len(share) == 4
    assert sum("fp16 autocast + GradScaler" in r for r in share) == 2
    assert sum("channels-last" in r for r in share) == 2
    # each batch trick against each peer library (RICAP has none)
    for trick, peers in {
        "MixUp": ["timm Mixup", "torchvision v2 MixUp", "Kornia RandomMixUpV2"],
        "CutMix": ["timm Mixup (cutmix)", "torchvision v2 CutMix", "Kornia RandomCutMixV2"],
        "RandomErasing": [
            "timm RandomErasing",
            "torchvision v2 RandomErasing",
            "Kornia RandomErasing",
        ],
    }.items():
        for peer in peers:
            assert any(
                r.startswith(f"| {trick} (4, 3, 8, 8) |") and f"| {peer} |" in r for r in rows
            ), (trick, peer)
    assert any(r.startswith("| Cutout (4, 3, 8, 8) |") for r in rows)
    assert any(r.startswith("| RICAP (4, 3, 8, 8) |") and "no peer" in r for r in rows)
    assert sum(r.startswith("| AdaBound.step()") for r in rows) == 4
    assert any("| adabound package |" in r for r in rows)
    assert any("| torch Adam(fused=True) |" in r for r in rows)
    assert any(r.startswith("| distillation step") for r in rows)
    # every measured cell is a number of milliseconds, every ratio "N.NNx"
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        assert re.fullmatch(r"\d+\.\d{3}", cells[1]), r
        assert re.fullmatch(r"\d+\.\d{3}|—", cells[3]), r
        assert re.fullmatch(r"\d+\.\d{2}x|—", cells[4]), r
