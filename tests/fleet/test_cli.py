"""`routerlab route-eval` on tables it has never seen, its outputs, user routers, and its one-line errors."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from routerlab.cli import main
from routerlab.data.features import FeatureConfig
from routerlab.fleet.cli import FEATURE_CHOICES, load_splits, register
from routerlab.fleet.routers import FEATURE_SETS, route_eval_features

NAMES = ("acme/tiny v1", "Big Model (2025)", "mid-😀")  # arbitrary model names
FAST = ("--n-boot", "20", "--quiet", "--json")


def _wide_frame(m, split: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame({"query_id": m.query_ids, "prompt": m.prompts, "task": m.tasks})
    if split:
        frame["split"] = m.splits
    for j, name in enumerate(NAMES):
        frame[name] = m.quality[:, [0, 2, 1][j]]
        frame[f"{name}|cost"] = m.cost[:, [0, 2, 1][j]]
    return frame


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory, make_planted):
    path = tmp_path_factory.mktemp("tables") / "wide.csv"
    _wide_frame(make_planted(n=300, seed=5)).to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _records(out: str) -> tuple[dict, str]:
    lines = [json.loads(line) for line in out.splitlines()]
    assert list(lines[-1]) == ["verdict"]
    return {r["router"]: r for r in lines[:-1]}, lines[-1]["verdict"]


def test_register_adds_subcommands_with_handlers():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["route-eval", "t.csv", "--budget", "0.5", "--router", "a:b", "--router", "c:d"])
    assert callable(args.func) and args.budget == 0.5 and args.router == ["a:b", "c:d"]
    assert args.split_seed == 0 and args.test is None and args.features == "words"
    rich = route_eval_features(parser.parse_args(["route-eval", "t.csv", "--features", "words+chars"]).features)
    assert rich.char_ngram_max == 4 and rich.text_stats and route_eval_features() == FeatureConfig()
    assert FEATURE_CHOICES == FEATURE_SETS
    assert callable(parser.parse_args(["data", "get", "routellm"]).func)


def test_help_lists_formats_required_columns_and_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["route-eval", "--help"])
    out = capsys.readouterr().out
    for needle in ("query_id", "<model>|cost", "<model>|total_cost", "tokens_out", "--split-seed", "--test",
                   "example:", "q1,What is 2+2?", "--router", "--out"):
        assert needle in out, needle


def test_route_eval_json_lines_zero_router_and_verdict(wide_csv, capsys):
    code, out, err = _run(capsys, "route-eval", str(wide_csv), *FAST)
    assert code == 0, err
    records, verdict = _records(out)
    names = list(records)
    assert names[:4] == ["zero_router"] + [f"single:{n}" for n in NAMES]
    assert {"random", "oracle", "knn", "mlp", "mf", "task_classifier", "ensemble", "cascade[ensemble]"} <= set(names)
    for r in records.values():
        assert set(r) >= {"mean_cost", "mean_quality", "aiq", "delta_aiq", "savings", "savings_vs_zero", "reference"}
        assert r["mean_cost"]["lo"] <= r["mean_cost"]["value"] <= r["mean_cost"]["hi"]
        assert "apgr" not in r  # three models
    zero = records["zero_router"]["delta_aiq"]
    assert [zero["value"], zero["lo"], zero["hi"]] == pytest.approx([0, 0, 0], abs=1e-12)  # itself, to rounding
    # The planted specialists are worth routing to: kNN beats the zero router, with an interval.
    assert records["knn"]["delta_aiq"]["lo"] > 0 and "knn" in verdict and verdict.startswith("Beat the zero router")
    assert records["knn"]["savings"]["value"] > 0.3
    assert records["single:Big Model (2025)"]["delta_aiq"]["value"] is None  # a dear single model has no AIQ


def test_table_output_out_dir_and_progress(wide_csv, capsys, tmp_path):
    out_dir = tmp_path / "report"
    code, out, err = _run(capsys, "route-eval", str(wide_csv), "--n-boot", "20", "--table", "--out", str(out_dir))
    assert code == 0, err
    header = out.splitlines()[0]
    assert header.split()[:2] == ["router", "cost/1k"] and "ΔAIQ vs zero [95%]" in header
    assert "zero_router" in out and "Beat the zero router" in out
    assert "route-eval: loaded 300 queries x 3 models" in err and "route-eval: knn: done" in err
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ["cost_quality.pdf", "cost_quality.png", "results.jsonl", "summary.json", "table.csv",
                       "table.md"]
    rows = pd.read_csv(out_dir / "table.csv")
    assert rows["router"].iloc[0] == "zero_router" and "delta_aiq_lo" in rows.columns
    full = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    assert "points" in full[0]
    assert "Beat the zero router" in json.loads((out_dir / "summary.json").read_text())["verdict"]


def test_split_column_and_split_seed(tmp_path, make_planted):
    m = make_planted(n=300, seed=7)
    path = tmp_path / "all.csv"
    _wide_frame(m, split=True).to_csv(path, index=False)
    np.testing.assert_array_equal(load_splits(path).splits, m.splits)  # the column, as given
    unsplit = tmp_path / "wide.csv"
    _wide_frame(m).to_csv(unsplit, index=False)
    hashed = [load_splits(unsplit, split_seed=seed).splits for seed in (0, 0, 3)]
    np.testing.assert_array_equal(hashed[0], hashed[1])  # the same seed, the same split
    assert (hashed[0] != hashed[2]).mean() > 0.1  # another --split-seed, another split


def test_separate_test_file_gives_the_same_result_as_one_split_table(wide_csv, tmp_path, capsys):
    # The hashed split of wide.csv written as TRAIN (with its train/val labels) and TEST: the
    # same queries in the same roles, so the same records (and the same shapes: no recompilation).
    frame = pd.read_csv(wide_csv, dtype=str)
    frame["split"] = load_splits(wide_csv).splits
    train_path, test_path = tmp_path / "train.csv", tmp_path / "test.jsonl"
    frame[frame["split"] != "test"].to_csv(train_path, index=False)
    frame[frame["split"] == "test"].drop(columns="split").to_json(test_path, orient="records", lines=True)
    code, out, err = _run(capsys, "route-eval", str(wide_csv), *FAST)
    assert code == 0, err
    whole, _ = _records(out)
    code, out, err = _run(capsys, "route-eval", str(train_path), "--test", str(test_path), *FAST)
    assert code == 0, err
    split, _ = _records(out)
    assert list(split) == list(whole)
    for name in ("zero_router", "knn", "ensemble"):
        assert split[name]["aiq"] == pytest.approx(whole[name]["aiq"], abs=1e-9), name


class AlwaysCheapest:
    """A user router (protocol 3, ``choose``): the cheapest model on train, for every query."""

    name = "always-cheapest"

    def fit(self, train, val):
        self.j = int(train.cost.mean(axis=0).argmin())

    def choose(self, queries):
        return np.full(len(queries.x), self.j)


class TaskMean:
    """A user quality predictor (protocol 2, ``predict``): each task's mean quality on train."""

    def fit(self, train, val):
        self.table = {t: train.quality[train.tasks == t].mean(axis=0) for t in np.unique(train.tasks)}

    def predict(self, queries):
        return np.stack([self.table[t] for t in queries.tasks])


def test_user_routers_are_evaluated_beside_the_built_ins(wide_csv, capsys):
    code, out, err = _run(capsys, "route-eval", str(wide_csv), *FAST, "--router", f"{__name__}:AlwaysCheapest",
                          "--router", f"{__name__}:TaskMean")
    assert code == 0, err
    records, _ = _records(out)
    cheapest = records["always-cheapest"]
    single = records[f"single:{NAMES[0]}"]  # acme/tiny v1 is the cheapest model
    assert cheapest["mean_quality"] == single["mean_quality"] and cheapest["mean_cost"] == single["mean_cost"]
    # TaskMean sends math to small-math and code to small-code: the per-task oracle's routing.
    assert records["TaskMean"]["aiq"]["value"] == pytest.approx(records["per_task_oracle"]["aiq"]["value"], abs=0.02)


def test_router_from_a_file_and_a_table_on_a_terminal(wide_csv, tmp_path, capsys, monkeypatch):
    plugin = tmp_path / "my_routers.py"
    plugin.write_text("import numpy as np\n\n\nclass Dearest:\n    def fit(self, train, val):\n"
                      "        self.j = int(train.cost.mean(axis=0).argmax())\n\n    def choose(self, queries):\n"
                      "        return np.full(len(queries.x), self.j)\n")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)  # no --json or --table: a terminal gets the table
    code, out, err = _run(capsys, "route-eval", str(wide_csv), "--n-boot", "20", "--quiet", "--router",
                          f"{plugin}:Dearest")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("router") and "-0.000" not in out
    dearest = next(line for line in lines if line.startswith("Dearest "))
    big = next(line for line in lines if line.startswith("single:Big Model (2025) "))
    assert dearest.split()[1:3] == big.split()[3:5]  # same cost and quality as the dearest single model


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_colon", "--router: no_colon: expected MODULE:ATTR"),
        ("no_such_module_xyz:R", "--router: no_such_module_xyz:R: cannot import 'no_such_module_xyz'"),
        (f"{__name__}:Missing", "has no attribute 'Missing'"),
        (f"{__name__}:NAMES", "the router has no fit(train, val) method"),
    ],
)
def test_bad_user_router_is_one_line_exit_2(spec, message, wide_csv, capsys):
    code, out, err = _run(capsys, "route-eval", str(wide_csv), *FAST, "--router", spec)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_route_eval_long_table_with_budget_and_price_table(tmp_path, capsys, make_planted):
    m = make_planted(n=240, seed=6, models=("small-code", "large"))
    rows = [
        {"query_id": q, "prompt": p, "model": name, "quality": m.quality[i, j], "tokens_out": 100 * (j + 1)}
        for i, (q, p) in enumerate(zip(m.query_ids, m.prompts)) for j, name in enumerate(("s", "L"))
    ]
    table = tmp_path / "long.jsonl"
    pd.DataFrame(rows).to_json(table, orient="records", lines=True)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"s": [1.0, 1.0], "L": [10.0, 30.0]}))
    code, out, err = _run(capsys, "route-eval", str(table), "--price-table", str(prices), "--budget", "0.0005",
                          *FAST)
    assert code == 0, err
    records, _ = _records(out)
    assert "apgr" in records["mf"] and "cpt50" in records["random"]  # two models: RouteLLM's metrics too
    assert records["single:L"]["mean_cost"]["value"] > 0.0005  # a single model cannot obey the budget
    assert records["oracle"]["mean_cost"]["value"] <= 0.0005 * 1.5  # budget chosen on val, applied to test


def _bad_tables(tmp, wide_csv):
    """name -> path of small broken tables (written once per test)."""
    wide = pd.read_csv(wide_csv, dtype=str)
    files = {}

    def put(name, frame=None, text=None):
        path = tmp / name
        if text is not None:
            path.write_text(text)
        elif path.suffix == ".jsonl":
            frame.to_json(path, orient="records", lines=True)
        else:
            frame.to_csv(path, index=False)
        files[name.split(".")[0]] = path

    put("bad.csv", pd.DataFrame({"query_id": ["a"], "prompt": ["x"], "m1": [1.0]}))
    put("nocost.csv", wide.drop(columns=[f"{NAMES[1]}|cost"]))  # the best model's cost column is missing
    put("dupcol.csv", text=open(wide_csv).read().replace(f"{NAMES[2]}|cost", f"{NAMES[1]}|cost", 1))
    put("empty.csv", text="")
    put("header.csv", text=open(wide_csv).readline())
    put("nan.csv", wide.assign(**{NAMES[0]: [None] + list(wide[NAMES[0]][1:])}))
    put("badsplit.csv", wide.assign(split=["train"] * 299 + ["Train"]))
    put("longcost.jsonl", pd.DataFrame({"query_id": ["a", "a"], "prompt": ["x", "x"], "model": ["s", "L"],
                                        "quality": [1, 0], "cost": [0.1, 0.2], "tokens_out": [1, 1]}))
    put("nullper.json", text=json.dumps({"per": None, "prices": {"s": [1, 1], "L": [2, 2]}}))
    put("prices.json", text="[1, 2]")
    put("onlytrain.csv", wide.assign(split="train"))
    test_file = wide.assign(split="train")
    put("trainlabel.csv", test_file)
    return files


@pytest.mark.parametrize(
    "argv, message",
    [
        (["route-eval", "missing.csv"], "path: no such file"),
        (["route-eval", "{wide}", "--budget", "-1"], "--budget: must be a mean cost per query >= 0"),
        (["route-eval", "{wide}", "--n-boot", "0"], "--n-boot: must be >= 10"),
        (["route-eval", "{bad}"], "{bad}: column 'm1': looks like a model's quality but has no 'm1|cost' column"),
        (["route-eval", "{nocost}"], "{nocost}: column 'Big Model (2025)': looks like a model's quality but has no"),
        (["route-eval", "{dupcol}"], "{dupcol}: column 'Big Model (2025)|cost': column name appears twice in the "
                                     "header (positions 7 and 9)"),
        (["route-eval", "{empty}"], "{empty}: empty file (no header, no rows)"),
        (["route-eval", "{header}"], "{header}: no data rows (header only: ["),
        (["route-eval", "{nan}"], "{nan}: row 1, column 'acme/tiny v1': missing quality (NaN); allow it with "
                                  "nan_policy 'drop' or 'zero' (route-eval: --nan-policy)"),
        (["route-eval", "{badsplit}"], "{badsplit}: row 300, column 'split': unknown split label 'Train'"),
        (["route-eval", "{wide}", "--price-table", "{prices}"], "--price-table: "),
        (["route-eval", "{longcost}", "--price-table", "{nullper}"],
         '--price-table: {nullper}: "per" must be a positive whole number of tokens; got None'),
        (["route-eval", "{longcost}", "--price-table", "{goodprices}"],
         "{longcost}: column 'cost': the table has costs and a price table was given too"),
        (["route-eval", "{onlytrain}"], "{onlytrain}: need queries in every split (at least 2 in train); got "
                                        "{{'train': 300, 'val': 0, 'test': 0}} (column 'split')"),
        (["route-eval", "{wide}", "--test", "{trainlabel}"],
         "{trainlabel}: column 'split': query 'q0' has split 'train'; every query of the --test file must be a test"),
        (["route-eval", "{wide}", "--out", "{header}"], "--out: {header} exists and is not a directory"),
    ],
)
def test_route_eval_errors_are_one_line_exit_2_and_write_nothing(argv, message, wide_csv, tmp_path, capsys):
    files = _bad_tables(tmp_path, wide_csv)
    goodprices = tmp_path / "goodprices.json"
    goodprices.write_text(json.dumps({"s": [1, 1], "L": [2, 2]}))
    names = {**files, "wide": wide_csv, "goodprices": goodprices}
    before = sorted(p.name for p in tmp_path.iterdir())
    out_dir = [] if "--out" in argv else ["--out", str(tmp_path / "out")]
    code, out, err = _run(capsys, *[a.format(**names) for a in argv], "--quiet", *out_dir)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message.format(**names) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no --out folder, nothing written


@pytest.mark.parametrize("flag, value", [("--seed", "-1"), ("--split-seed", "-1"), ("--split-seed", str(2**32))])
def test_route_eval_seeds_out_of_range_are_one_line(tmp_path, capsys, flag, value):
    from routerlab.data.table import example_table

    table = tmp_path / "log.csv"
    example_table().to_csv(table, index=False)
    assert main(["route-eval", str(table), flag, value, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and flag in err


def test_a_user_router_file_that_fails_to_import_is_one_line(tmp_path, capsys):
    from routerlab.data.table import example_table

    table = tmp_path / "log.csv"
    example_table().to_csv(table, index=False)
    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n")
    assert main(["route-eval", str(table), "--router", f"{broken}:Router", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "SyntaxError" in err
