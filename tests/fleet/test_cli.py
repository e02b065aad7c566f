"""`routerlab route-eval` on tables it has never seen, and its one-line errors."""

import argparse
import json

import pandas as pd
import pytest

from routerlab.cli import main
from routerlab.fleet.cli import register

NAMES = ("acme/tiny v1", "Big Model (2025)", "mid-😀")  # arbitrary model names


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory, make_planted):
    m = make_planted(n=300, seed=5)
    frame = pd.DataFrame({"query_id": m.query_ids, "prompt": m.prompts, "task": m.tasks})
    for j, name in enumerate(NAMES):
        frame[name] = m.quality[:, [0, 2, 1][j]]
        frame[f"{name}|cost"] = m.cost[:, [0, 2, 1][j]]
    path = tmp_path_factory.mktemp("tables") / "wide.csv"
    frame.to_csv(path, index=False)
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_register_adds_subcommands_with_handlers():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["route-eval", "t.csv", "--budget", "0.5"])
    assert callable(args.func) and args.budget == 0.5
    assert callable(parser.parse_args(["data", "get", "routellm"]).func)


def test_route_eval_prints_one_json_object_per_router(wide_csv, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path))
    code, out, err = _run(capsys, "route-eval", str(wide_csv), "--n-boot", "30")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    names = [r["router"] for r in records]
    assert names[:3] == [f"single:{n}" for n in NAMES]
    assert {"random", "oracle", "knn", "mlp", "mf", "task_classifier"} <= set(names)
    for r in records:
        assert set(r) >= {"mean_cost", "mean_quality", "aiq", "savings"}
        assert r["mean_cost"]["lo"] <= r["mean_cost"]["value"] <= r["mean_cost"]["hi"]
        assert "apgr" not in r  # three models
    knn = next(r for r in records if r["router"] == "knn")
    assert knn["savings"]["value"] > 0.3


def test_route_eval_long_table_with_budget_and_price_table(tmp_path, capsys, monkeypatch, make_planted):
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path))
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
                          "--n-boot", "20")
    assert code == 0, err
    records = {json.loads(line)["router"]: json.loads(line) for line in out.splitlines()}
    assert "apgr" in records["mf"] and "cpt50" in records["random"]  # two models: RouteLLM's metrics too
    assert records["single:L"]["mean_cost"]["value"] > 0.0005  # a single model cannot obey the budget
    assert records["oracle"]["mean_cost"]["value"] <= 0.0005 * 1.5  # budget chosen on val, applied to test


@pytest.mark.parametrize(
    "argv, message",
    [
        (["route-eval", "missing.csv"], "path: no such file"),
        (["route-eval", "{wide}", "--budget", "-1"], "--budget: must be a mean cost per query >= 0"),
        (["route-eval", "{bad}"], "no model columns found"),
        (["route-eval", "{wide}", "--price-table", "{prices}"], '--price-table: '),
    ],
)
def test_route_eval_errors_are_one_line_exit_2(argv, message, wide_csv, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"query_id": ["a"], "prompt": ["x"], "m1": [1.0]}).to_csv(bad, index=False)
    prices = tmp_path / "p.json"
    prices.write_text("[1, 2]")
    argv = [a.format(wide=wide_csv, bad=bad, prices=prices) for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
