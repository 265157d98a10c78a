"""``lightning-tricks demo``: the summary it prints and draws, and its argument checks.

The fits themselves are ``lightning-tricks ablate`` runs (tested in test_ablate.py); the
whole demo is measured by hand (README: its wall time).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_tricks.cli import main as cli_main
from lightning_tricks.commands.demo import paired_summary, plot_demo, summary_table


def _rows(base: list[float], recipe: list[float]) -> list[dict[str, str]]:
    rows = []
    for row, accs in ((0, base), (1, recipe)):
        for seed, acc in enumerate(accs):
            rows.append(
                {"row": str(row), "seed": str(seed), "val_acc": str(acc), "test_acc": str(acc)}
            )
    return rows


def test_paired_summary_pairs_seeds_and_keeps_only_common_ones() -> None:
    rows = _rows([0.90, 0.92, 0.94], [0.95, 0.95])  # seed 2 of the recipe is missing
    s = paired_summary(rows)
    assert s.seeds == (0, 1)
    assert s.base_test == pytest.approx((91.0, 2**0.5))
    assert s.recipe_test == pytest.approx((95.0, 0.0))
    # paired differences 5 and 3 pp
    assert s.diff_test == pytest.approx((4.0, 2**0.5))
    assert [pytest.approx(p) for p in s.per_seed_test] == [(90.0, 95.0), (92.0, 95.0)]


def test_paired_summary_without_common_seed_raises() -> None:
    with pytest.raises(ValueError, match="no seed has both a baseline and a recipe result"):
        paired_summary(_rows([0.9], []))


def test_summary_table_and_chart(tmp_path: Path) -> None:
    s = paired_summary(_rows([0.90, 0.92], [0.95, 0.96]))
    table = summary_table(s, "bag of tricks")
    assert "| test | 91.0 ± 1.4 | 95.5 ± 0.7 | +4.5 ± 0.7 |" in table
    plot_demo(s, tmp_path / "demo.png", recipe_name="bag of tricks")
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_rejects_missing_files_and_too_few_seeds(tmp_path: Path, capsys) -> None:
    assert cli_main(["demo", "--base", str(tmp_path / "nope.yaml")]) == 2
    assert "`--base` file" in capsys.readouterr().out
    assert cli_main(["demo", "--seeds", "1"]) == 2
    assert "`--seeds` must be >= 2 for a spread, got 1" in capsys.readouterr().out
