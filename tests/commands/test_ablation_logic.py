"""Pure logic of `lightning-tricks ablate`: composition rules, the plan, aggregation, outputs."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from lightning_tricks.commands import _ablation as ab

BASE = {
    "seed_everything": 0,
    "trainer": {
        "max_steps": 10,
        "callbacks": [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint"}],
        "logger": {
            "class_path": "lightning.pytorch.loggers.CSVLogger",
            "init_args": {"save_dir": "runs", "name": "x"},
        },
    },
    "model": {
        "class_path": "lightning_tricks.models.ImageClassifier",
        "init_args": {"backbone": "simple_cnn", "dropout": 0.0, "lr": 0.1},
    },
    "data": {
        "class_path": "lightning_tricks.data.DigitsDataModule",
        "init_args": {
            "image_size": 16,
            "train_transforms": {"class_path": "A", "init_args": {"transforms": [1, 2]}},
        },
    },
    "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1, "momentum": 0.9}},
}


def _accepts_all(class_path: str, name: str) -> bool:
    return True


def test_callbacks_are_concatenated_in_order_and_inputs_untouched() -> None:
    a = {"trainer": {"callbacks": [{"class_path": "A", "init_args": {"p": 1}}]}}
    b = {"trainer": {"callbacks": {"class_path": "B"}}}  # a single item counts as a list
    before = repr(BASE)
    out = ab.compose(BASE, [a, b], _accepts_all)
    assert [c["class_path"] for c in out["trainer"]["callbacks"]] == [
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "A",
        "B",
    ]
    assert repr(BASE) == before  # nothing mutated
    out["trainer"]["callbacks"][1]["init_args"]["p"] = 0
    assert a["trainer"]["callbacks"][0]["init_args"]["p"] == 1  # deep copies
    # a base without callbacks gets the snippet's list; plugins concatenate as well
    out = ab.merge_config(
        {"trainer": {"plugins": "P1"}}, {"trainer": {"callbacks": [1], "plugins": ["P2"]}}
    )
    assert out == {"trainer": {"plugins": ["P1", "P2"], "callbacks": [1]}}


def test_other_lists_and_scalars_are_replaced_and_null_removes() -> None:
    snippet = {
        "trainer": {"max_steps": 20},
        "data": {
            "init_args": {"train_transforms": {"class_path": "A", "init_args": {"transforms": [3]}}}
        },
        "lr_scheduler": None,
    }
    out = ab.merge_config({**BASE, "lr_scheduler": {"class_path": "S"}}, snippet, _accepts_all)
    assert out["trainer"]["max_steps"] == 20
    assert out["trainer"]["logger"] == BASE["trainer"]["logger"]
    assert out["data"]["init_args"]["train_transforms"]["init_args"]["transforms"] == [3]
    assert out["data"]["init_args"]["image_size"] == 16
    assert out["lr_scheduler"] is None


def test_same_class_merges_init_args_and_shorthands() -> None:
    same = {"optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.2}}}
    assert ab.merge_config(BASE, same, _accepts_all)["optimizer"]["init_args"] == {
        "lr": 0.2,
        "momentum": 0.9,
    }
    no_class = {"model": {"init_args": {"dropout": 0.2}}}
    bare = {"model": {"dropout": 0.3}}  # arguments without `init_args`
    assert ab.merge_config(BASE, no_class, _accepts_all)["model"]["init_args"]["dropout"] == 0.2
    out = ab.merge_config(BASE, bare, _accepts_all)["model"]
    assert out == {
        "class_path": "lightning_tricks.models.ImageClassifier",
        "init_args": {"backbone": "simple_cnn", "dropout": 0.3, "lr": 0.1},
    }
    # a base that names the class as a plain string
    out = ab.merge_config(
        {"optimizer": "torch.optim.Adam"}, {"optimizer": {"init_args": {"lr": 1.0}}}
    )
    assert out == {"optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1.0}}}


def test_class_change_keeps_only_accepted_init_args() -> None:
    seen = []

    def accepts(class_path: str, name: str) -> bool:
        seen.append((class_path, name))
        return name != "lr"

    snippet = {"model": {"class_path": "pkg.Student", "init_args": {"alpha": 0.9}}}
    out = ab.merge_config(BASE, snippet, accepts)["model"]
    assert out == {
        "class_path": "pkg.Student",
        "init_args": {"backbone": "simple_cnn", "dropout": 0.0, "alpha": 0.9},
    }
    assert ("pkg.Student", "lr") in seen
    # a base relying on the default class (no class_path) is treated the same way
    out = ab.merge_config({"model": {"init_args": {"lr": 1, "dropout": 0.5}}}, snippet, accepts)[
        "model"
    ]
    assert out["init_args"] == {"dropout": 0.5, "alpha": 0.9}


def test_signature_accepts_reads_real_constructors() -> None:
    assert ab.signature_accepts("torch.optim.SGD", "nesterov")
    assert not ab.signature_accepts("torch.optim.Adam", "nesterov")
    # DistillationModule keeps the student's arguments (as jsonargparse does)
    assert ab.signature_accepts("lightning_tricks.models.DistillationModule", "backbone")
    assert not ab.signature_accepts("lightning_tricks.models.DistillationModule", "nope")
    # unknown / unimportable classes accept everything (the CLI reports real errors)
    assert ab.signature_accepts("no.such.Module", "x") and ab.signature_accepts("NoDots", "x")
    swapped = ab.merge_config(BASE, {"optimizer": {"class_path": "torch.optim.Adam"}})
    assert swapped["optimizer"] == {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.1}}


def test_isolate_run_moves_every_output_path(tmp_path: Path) -> None:
    cfg = ab.merge_config(
        BASE,
        {
            "trainer": {
                "callbacks": [
                    {"class_path": "x.ModelCheckpoint", "init_args": {"dirpath": "ckpts"}}
                ]
            }
        },
        _accepts_all,
    )
    out = ab.isolate_run(cfg, tmp_path)
    assert out["trainer"]["default_root_dir"] == str(tmp_path)
    assert out["trainer"]["logger"]["init_args"]["save_dir"] == str(tmp_path)
    assert out["trainer"]["callbacks"][1]["init_args"]["dirpath"] == str(tmp_path / "checkpoints")
    assert cfg["trainer"]["callbacks"][1]["init_args"]["dirpath"] == "ckpts"  # copy
    assert ab.isolate_run({"trainer": None}, "d")["trainer"] == {"default_root_dir": "d"}


def test_set_dotted_and_hash() -> None:
    cfg: dict = {"data": {"init_args": {}}}
    ab.set_dotted(cfg, "data.init_args.seed", 3)
    ab.set_dotted(cfg, "a.b", 1)
    assert cfg == {"data": {"init_args": {"seed": 3}}, "a": {"b": 1}}
    with pytest.raises(ValueError, match=r"cannot set `a.b.c`: `a.b` holds a int"):
        ab.set_dotted(cfg, "a.b.c", 1)
    h = ab.config_hash(BASE, 0)
    assert h == ab.config_hash(dict(reversed(list(BASE.items()))), 0)  # key order irrelevant
    assert h != ab.config_hash(BASE, 1) and h != ab.config_hash(BASE, 0, ["--trainer.devices=2"])


def test_plan_rows_cumulative_and_leave_one_out() -> None:
    rows = ab.plan_rows(["a", "b", "c"], "cumulative")
    assert [(r.label, r.tricks, r.reference) for r in rows] == [
        ("baseline", (), None),
        ("+ a", ("a",), 0),
        ("+ b", ("a", "b"), 1),
        ("+ c", ("a", "b", "c"), 2),
    ]
    assert [r.slug for r in rows] == ["00_baseline", "01_plus_a", "02_plus_b", "03_plus_c"]
    rows = ab.plan_rows(["a", "b"], "leave-one-out")
    assert [(r.label, r.tricks, r.reference) for r in rows] == [
        ("baseline", (), None),
        ("all", ("a", "b"), 0),
        ("all − a", ("b",), 1),
        ("all − b", ("a",), 1),
    ]
    assert rows[2].slug == "02_all_minus_a"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: ab.plan_rows(["a"], "greedy"),
            ValueError,
            r"`mode` must be one of \['cumulative', 'leave-one-out'\], got 'greedy'",
        ),
        (lambda: ab.plan_rows([], "cumulative"), ValueError, r"`tricks` must list at least one"),
        (lambda: ab.plan_rows(["a", "b", "a"], "cumulative"), ValueError, r"unique, got \['a'\]"),
        (lambda: ab.check_seeds(0), ValueError, r"`seeds` must be an integer >= 1, got 0"),
        (lambda: ab.check_seeds(-2), ValueError, r"`seeds` must be an integer >= 1, got -2"),
        (lambda: ab.check_seeds(2.0), TypeError, r"`seeds` must be an integer >= 1, got float 2.0"),
        (lambda: ab.check_seeds(True), TypeError, r"got bool True"),
    ],
)
def test_bad_plan_input(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_load_yaml_mapping_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"trick file '.*nope.yaml' not found"):
        ab.load_yaml_mapping(tmp_path / "nope.yaml", "trick file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  callbacks: [\n")
    with pytest.raises(
        ValueError, match=r"(?s)trick file '.*bad.yaml' is not valid YAML: .*bad.yaml\", line 3"
    ):
        ab.load_yaml_mapping(bad, "trick file")
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match=r"must hold a YAML mapping .* got a list"):
        ab.load_yaml_mapping(lst, "trick file")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert ab.load_yaml_mapping(empty, "trick file") == {}


def _result(row: int, seed: int, test: float, val: float = 0.5) -> ab.RunResult:
    return ab.RunResult(
        row, f"r{row}", ("t",) * row, seed, val, test, 3, 30, 10.0 + seed, 8.0, 5.0 + row
    )


def test_summarize_gains_are_paired_per_seed() -> None:
    rows = ab.plan_rows(["a", "b"], "cumulative")
    results = [
        _result(0, 0, 0.90),
        _result(0, 1, 0.80),
        _result(1, 0, 0.95),
        _result(1, 1, 0.84),
        _result(2, 0, 0.93),  # row 2 has only seed 0 so far
    ]
    summ = ab.summarize(rows, results)
    assert [s.n for s in summ] == [2, 2, 1]
    assert summ[0].test[0] == pytest.approx(0.85) and summ[0].test[1] == pytest.approx(
        math.sqrt(0.005)
    )
    assert summ[0].gain is None
    assert summ[1].gain[0] == pytest.approx(0.045) and summ[1].gain[1] == pytest.approx(
        math.sqrt(2) * 0.005
    )
    assert summ[2].gain[0] == pytest.approx(-0.02) and math.isnan(summ[2].gain[1])  # only seed 0
    assert math.isnan(summ[2].test[1])
    assert summ[1].time_per_step_ms == 6.0 and summ[0].wall_time_s == 10.5
    empty = ab.summarize(rows, [])
    assert empty[1].gain is None and math.isnan(empty[0].test[0])


def test_csv_markdown_and_png(tmp_path: Path) -> None:
    rows = ab.plan_rows(["a", "b"], "cumulative")
    results = [_result(r, s, 0.9 + 0.01 * r + 0.002 * s) for r in (2, 0, 1) for s in (1, 0)]
    text = ab.results_csv(results)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == list(ab.CSV_FIELDS)
    assert [(p["row"], p["seed"]) for p in parsed] == [
        ("0", "0"),
        ("0", "1"),
        ("1", "0"),
        ("1", "1"),
        ("2", "0"),
        ("2", "1"),
    ]
    assert parsed[4]["tricks"] == "t+t" and parsed[0]["tricks"] == ""
    assert float(parsed[3]["test_acc"]) == pytest.approx(0.912)
    summ = ab.summarize(rows, results)
    md = ab.results_markdown(
        summ,
        mode="cumulative",
        evaluate="last",
        command="lightning-tricks ablate --config x",
        title="T",
    )
    lines = md.splitlines()
    assert lines[0] == "# T"
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| # | Row | Val acc (%) | Test acc (%) | Δ test (pp) |")
    assert table[1] == "| 0 | baseline | 50.0 ± 0.0 | 90.1 ± 0.1 |  | 3 | 30 | 5.0 | 8.0 | 2 |"
    assert table[2].startswith("| 1 | + a | 50.0 ± 0.0 | 91.1 ± 0.1 | +1.0 ± 0.0 |")
    assert "lightning-tricks ablate --config x" in md and "previous row" in md
    png = tmp_path / "r.png"
    ab.plot_results(summ, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a single seed has no std: the table shows the mean alone
    one = ab.summarize(rows, [r for r in results if r.seed == 0])
    md1 = ab.results_markdown(one, mode="leave-one-out", evaluate="best")
    assert "| 0 | baseline | 50.0 | 90.0 |  |" in md1 and "best" in md1
    ab.plot_results(one, tmp_path / "one.png")


def test_jsonargparse_append_syntax_is_understood() -> None:
    a = {"trainer": {"callbacks+": [{"class_path": "A"}]}}
    b = {"trainer": {"callbacks+": {"class_path": "B"}}, "data": {"init_args": {"extra+": [1]}}}
    base = {"trainer": {"callbacks+": [{"class_path": "Z"}]}, "data": {"init_args": {"extra": [0]}}}
    out = ab.compose(base, [a, b], _accepts_all)
    assert out == {
        "trainer": {"callbacks": [{"class_path": "Z"}, {"class_path": "A"}, {"class_path": "B"}]},
        "data": {"init_args": {"extra": [0, 1]}},
    }


def test_shipped_snippets_compose_onto_the_digits_base() -> None:
    root = Path(__file__).resolve().parents[2]
    base = ab.load_yaml_mapping(root / "configs/ablation/digits_base.yaml", "base config")
    names = [
        "warmup_cosine",
        "label_smoothing",
        "random_crop",
        "mixup",
        "cutout",
        "cutmix",
        "distill",
    ]
    snippets = [
        ab.load_yaml_mapping(root / f"configs/tricks/{n}.yaml", "trick file") for n in names
    ]
    out = ab.compose(base, snippets)
    callbacks = [c["class_path"].rsplit(".", 1)[1] for c in out["trainer"]["callbacks"]]
    assert callbacks == [
        "WarmupCosine",
        "LabelSmoothing",
        "BatchCropFlip",
        "MixUp",
        "Cutout",
        "CutMix",
    ]
    assert out["lr_scheduler"] is None  # warmup_cosine drops the base's (absent) scheduler
    # distill swaps the model class and keeps the student's arguments from the base
    assert out["model"]["class_path"] == "lightning_tricks.models.DistillationModule"
    assert out["model"]["init_args"]["backbone"] == "simple_cnn"
    assert out["model"]["init_args"]["teacher"]["init_args"]["backbone"] == "cifar_resnet20"
    assert out["data"] == base["data"] and out["optimizer"] == base["optimizer"]


@pytest.mark.parametrize(
    ("amount", "formatted"),
    [(0.4, "0s"), (59.6, "1m00s"), (3600, "1h00m00s"), (-3, "0s")],
)
def test_format_duration(amount: float, formatted: str) -> None:
    """String formatting of a given number of seconds (nothing is timed here)."""
    text = ab.format_duration(amount)
    assert text == formatted


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (
            {"total": 10, "earlier": 0, "done": 0, "running": 2, "failed": 0, "elapsed_s": 5},
            "runs: 0/10 done · 2 running · 0 failed · 8 waiting · 5s elapsed · "
            "time left: after the first run",
        ),
        (  # 3 runs ended in 90 s (2 at a time): the 5 not ended take 150 s at that pace
            {"total": 10, "earlier": 2, "done": 2, "running": 2, "failed": 1, "elapsed_s": 90},
            "runs: 4/10 done (2 earlier) · 2 running · 1 failed · 3 waiting · 1m30s elapsed · "
            "~2m30s left",
        ),
        (
            {"total": 4, "earlier": 1, "done": 2, "running": 0, "failed": 1, "elapsed_s": 61},
            "runs: 3/4 done (1 earlier) · 0 running · 1 failed · 0 waiting · 1m01s elapsed",
        ),
    ],
)
def test_progress_text_counts_and_time_left(counts: dict, expected: str) -> None:
    """The progress line for given counts and seconds (formatting only, nothing is timed)."""
    assert ab.progress_text(**counts) == expected
