"""The real-benchmarks study: config checks, data discovery, and a tiny end-to-end run."""

from pathlib import Path

import pytest

from routerlab.config import ConfigError
from routerlab.registry import load_experiment
from routerlab.rundir import RunDir
from routerlab.studies.real_benchmarks import PLUMBING, RealBenchConfig, report, resolve_data_dir, run

SHARED = Path(__file__).resolve().parents[2] / "../shared/data/routellm"


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLAB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("routerlab.studies.real_benchmarks.REPO_DATA", tmp_path / "also-nowhere")
    with pytest.raises(ConfigError, match="run `routerlab data get routellm`"):
        resolve_data_dir()
    with pytest.raises(ConfigError, match="data_dir: no RouteLLM evaluation files"):
        resolve_data_dir(str(tmp_path))


def test_config_validation_and_scales():
    with pytest.raises(ConfigError, match="seeds"):
        RealBenchConfig(seeds=(1, 1))
    with pytest.raises(ConfigError, match="bandit_rounds"):
        RealBenchConfig(bandit_rounds=150)
    exp = load_experiment("real_benchmarks")
    assert exp.scales == ("smoke", "quick", "paper")
    assert len(exp.config("quick").seeds) >= 3
    assert exp.config("smoke", ["datasets=[\"gsm8k\"]"]).datasets == ("gsm8k",)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="RouteLLM's files are not at ../shared/data/routellm")
def test_tiny_run_and_report(tmp_path, monkeypatch, check_paper_hook):
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path / "cache"))
    cfg = RealBenchConfig(datasets=("gsm8k", "routerbench"), seeds=(0,), data_dir=str(SHARED), max_queries=400,
                          n_boot=20, steps=30, bandit_rounds=200)
    rundir = RunDir.create(tmp_path, "real_benchmarks", cfg, scale="smoke")
    summary = run(cfg, rundir)
    gsm8k = summary["datasets"]["gsm8k"]
    assert gsm8k["reference"] == "gpt-4-1106-preview"
    assert {"random", "oracle", "mf", "knn", "mlp", "cascade[mlp]", "linucb (online)"} <= set(gsm8k["routers"])
    assert 0.2 < gsm8k["routers"]["random"]["apgr"]["mean"] < 0.8
    assert gsm8k["routers"]["oracle"]["apgr"]["mean"] > 0.8
    assert "skipped" in summary["datasets"]["routerbench"] or "routers" in summary["datasets"]["routerbench"]
    rundir.write_json("summary.json", summary)
    text = report(rundir)
    assert "RouteLLM savings @95% GPT-4 (published)" in text and "Protocol differences" in text
    assert text.startswith(PLUMBING)  # a smoke-scale report says it is a plumbing check
    assert (rundir.artifacts / "cost_quality.png").is_file()
    assert run(cfg, rundir) == summary  # resumable: every unit is done, nothing reruns
    rundir.finish()
    written = check_paper_hook("real_benchmarks", rundir)
    assert "RouteLLM (published)" in written["real_benchmarks.tex"].read_text()
    assert "real_benchmarks.pdf" in written and "real_benchmarks_findings.tex" in written


def test_s4_verdict_reads_the_headline_routers_savings_intervals():
    from routerlab.report.paper import claim_verdict
    from routerlab.studies.real_benchmarks import verdict

    def data(*cells):
        out = {f"d{i}": {"routers": {"mf": {"savings": {"mean": (lo + hi) / 2, "lo": lo, "hi": hi}}}}
               for i, (lo, hi) in enumerate(cells)}
        out["mt_bench"] = {"routers": {"mf": {"savings": {"mean": 0.95, "lo": 0.92, "hi": 0.98}}}}  # left out
        return out

    assert claim_verdict({"verdict": verdict(data((0.2, 0.7), (0.1, 0.8)))})[0] == "fails"
    assert claim_verdict({"verdict": verdict(data((0.91, 0.99), (0.93, 0.97)))})[0] == "holds"
    assert "is not resolved" in verdict(data((0.2, 0.95), (0.91, 0.99)))
    assert "not testable here" in verdict({"routerbench": {"skipped": "no table"}})
