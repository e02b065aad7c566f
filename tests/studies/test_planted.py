"""Planted experts: task, matched compute, routing readout, and the run end to end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.cli import main
from routerlab.moe import ExpertChoiceRouting, Routing, SoftRouting
from routerlab.rundir import RunDir, find_runs
from routerlab.studies.planted import VARIANTS, PlantedConfig, PlantedTask, ffn_size, main_expert, make_teacher, sample_task


def test_task_is_a_planted_mixture():
    task = PlantedTask(num_clusters=3, input_dim=4, separation=10.0, spread=0.1)
    x, y, cluster = sample_task(task, make_teacher(task), jax.random.key(0), 600)
    assert x.shape == (600, 4) and y.shape == (600, task.output_dim) and cluster.shape == (600,)
    centres = make_teacher(task)["centres"]
    nearest = jnp.argmin(jnp.linalg.norm(x[:, None, :] - centres[None], axis=-1), axis=-1)
    assert jnp.all(nearest == cluster)  # well separated: the partition is recoverable from x
    x2, y2, _ = sample_task(task, make_teacher(task), jax.random.key(0), 600)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_variants_match_active_compute():
    cfg = PlantedConfig()
    dense = ffn_size(cfg, "dense")["active_flops_per_token"]
    # Dense FFN: 2 matmuls x 2 FLOPs per multiply-add x d x f = 4 * 32 * 32 = 4096.
    assert dense == 4 * cfg.d_model * cfg.expert_d_ff
    for variant in set(VARIANTS) - {"dense", "soft"}:
        flops = ffn_size(cfg, variant)["active_flops_per_token"]
        # Token-choice and expert-choice variants add only the router: 2 * d * E FLOPs,
        # at most 2 * 32 * 16 = 1024 for the fine-grained (2K = 16 expert) variants.
        assert dense <= flops <= dense + 1024, (variant, flops)
    # Soft MoE with S = batch = 256 slots: its FFN runs on 256 slot rows per 256 tokens (4096
    # per token, matched), but the router (2*d*S = 16384) and the dispatch and combine
    # mixing (2 * 2*S*d = 32768) dominate at this tiny width: 4096 + 16384 + 32768 = 53248.
    assert ffn_size(cfg, "soft")["active_flops_per_token"] == 53248


def test_main_expert_reads_every_routing_kind():
    probs = jnp.full((4, 2), 0.5)
    tc = Routing(expert_index=jnp.array([[1, 0], [0, 1], [1, 0], [0, 1]]), gates=jnp.ones((4, 2)), logits=None, probs=probs)
    np.testing.assert_array_equal(main_expert(tc, 2), [1, 0, 1, 0])
    # Expert 0 took tokens 0 and 2 (gates .9, .4), expert 1 took 2 and 3 (gates .6, .7):
    # token 2 goes to expert 1 (0.6 > 0.4); token 1 was taken by nobody -> label E = 2.
    ec = ExpertChoiceRouting(token_index=jnp.array([[0, 2], [2, 3]]), gates=jnp.array([[0.9, 0.4], [0.6, 0.7]]),
                             logits=probs, probs=probs)
    np.testing.assert_array_equal(main_expert(ec, 2), [0, 2, 1, 1])
    # Two experts with two slots each; token 0 puts 0.7 on expert 1's slots, token 1 0.8 on expert 0's.
    combine = jnp.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.3, 0.1, 0.1]])
    soft = SoftRouting(dispatch=combine, combine=combine, logits=combine)
    np.testing.assert_array_equal(main_expert(soft, 2), [1, 0])


SMOKE = ["--scale", "smoke", "--set", "variants=[\"dense\",\"switch\",\"hash\"]", "--set", "steps=40"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same smoke config run twice (the second compiles nothing: jitted steps are cached)."""
    out = tmp_path_factory.mktemp("runs")
    assert main(["run", "planted_experts", *SMOKE, "--out", str(out)]) == 0
    assert main(["run", "planted_experts", *SMOKE, "--out", str(out)]) == 0
    return find_runs(out, "planted_experts")


def test_same_config_and_seed_give_identical_metrics(two_runs):
    first, second = two_runs
    assert first.metrics_path.read_bytes() == second.metrics_path.read_bytes()
    records = list(first.records())
    assert len(records) == 3 * 3  # 3 variants x 3 seeds
    assert all(np.isfinite(r["test_nmse"]) for r in records)
    assert {r["ami"] is None for r in records if r["variant"] == "dense"} == {True}
    summary = first.summary["variants"]
    assert set(summary) == {"dense", "switch", "hash"} and summary["switch"]["seeds"] == 3


def test_killed_run_resumes_to_identical_metrics(two_runs):
    first, second = two_runs
    metrics = first.metrics_path.read_bytes()
    # Kill simulation: no DONE, the last variant missing, a torn line at the end.
    (second.path / "DONE").unlink()
    lines = metrics.decode().splitlines(keepends=True)
    second.metrics_path.write_text("".join(lines[:4]) + lines[4][:25])
    assert main(["run", "--resume", str(second.path)]) == 0
    assert RunDir.open(second.path).done
    assert second.metrics_path.read_bytes() == metrics


def test_report_is_written_and_rewritable(two_runs, capsys):
    run = two_runs[0]
    report = (run.artifacts / "report.md").read_text()
    assert "| switch |" in report and (run.artifacts / "planted_experts.pdf").is_file()
    (run.artifacts / "report.md").unlink()
    assert main(["report", str(run.path)]) == 0
    assert (run.artifacts / "report.md").read_text() == report


def test_report_refuses_incomplete_run(tmp_path, capsys):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        seed: int = 0

    run = RunDir.create(tmp_path, "planted_experts", Cfg())
    assert main(["report", str(run.path)]) == 2  # a run that cannot be used as asked: one line, exit 2
    assert "incomplete run" in capsys.readouterr().err


def test_paper_tables_regenerate_from_runs(two_runs, tmp_path):
    """The consistency check: tables and figures regenerate from complete runs, every file
    main.tex inputs exists, and the paper compiles where TeX is installed."""
    import shutil
    import subprocess
    from pathlib import Path

    from routerlab.paper_cli import build_paper
    from routerlab.report.paper import missing_inputs

    paper = Path(__file__).resolve().parents[2] / "paper"
    assert missing_inputs(paper / "main.tex") == []  # the committed, generated tables and figures
    out = tmp_path / "paper"
    shutil.copytree(paper, out, ignore=shutil.ignore_patterns("*.pdf", "*.aux", "*.log", "*.bbl", "*.blg", "*.fls",
                                                              "*.fdb_latexmk", "*.out"))
    for generated in ("tables/planted_experts.tex", "tables/planted_experts_findings.tex",
                      "figures/planted_experts.pdf"):
        (out / generated).unlink(missing_ok=True)
    assert "tables/planted_experts" in missing_inputs(out / "main.tex")
    root = two_runs[0].path.parents[1]
    written = build_paper(root, out, experiments=["planted_experts"])
    tex = (out / "tables" / "planted_experts.tex").read_text()
    newest = two_runs[-1]  # both runs are complete; the paper uses the newest
    assert tex.startswith("% Generated by `routerlab paper") and newest.path.name in tex.splitlines()[0]
    assert r"\toprule" in tex and "switch" in tex
    assert (out / "figures" / "planted_experts.pdf") in written
    findings = (out / "tables" / "planted_experts_findings.tex").read_text()
    assert findings.startswith("% Generated by `routerlab paper") and "Test NMSE: dense" in findings
    assert r"$\pm$" in findings and "±" not in findings  # typeset by pdfLaTeX
    if shutil.which("latexmk") is None:
        pytest.skip("no TeX installation (latexmk); the LaTeX compile check needs one")
    for pdf in (paper / "figures").glob("*.pdf"):  # the other experiments' committed figures
        if not (out / "figures" / pdf.name).exists():
            shutil.copy(pdf, out / "figures" / pdf.name)
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"], cwd=out,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]


def test_paper_refuses_missing_or_partial_runs(tmp_path):
    from dataclasses import dataclass

    from routerlab.paper_cli import build_paper
    from routerlab.rundir import RunDirError

    with pytest.raises(RunDirError, match="no complete run of planted_experts"):
        build_paper(tmp_path, tmp_path / "paper", experiments=["planted_experts"])

    @dataclass(frozen=True)
    class Cfg:
        seed: int = 0

    partial = RunDir.create(tmp_path, "planted_experts", Cfg())
    with pytest.raises(RunDirError, match="incomplete \\(no DONE\\)"):
        build_paper(tmp_path, tmp_path / "paper", experiments=["planted_experts"])
    assert partial.path.exists()


@pytest.mark.parametrize("bad", ["batch_size=60", "test_size=100", "expert_d_ff=15"])
def test_config_rejects_inconsistent_sizes(bad, tmp_path):
    assert main(["run", "planted_experts", "--set", bad, "--out", str(tmp_path)]) == 2


@pytest.mark.slow  # 30 s: a planted smoke run, then `paper --run-missing` on it
def test_reproduce_writes_one_report_and_reuses_complete_runs(tmp_path, capsys, monkeypatch):
    out = tmp_path / "runs"
    argv = ["reproduce", "--scale", "smoke", "--only", "planted_experts", "--out", str(out)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    report = out / "reproduce-smoke.md"
    assert "## planted_experts (smoke scale)" in report.read_text()
    assert main(argv) == 0  # same config, complete run: reused, not rerun
    assert "reusing" in capsys.readouterr().out and "reusing" not in first
    assert len(find_runs(out, "planted_experts")) == 1

    # `routerlab paper --run-missing` reuses that complete run (and would run a missing one)
    monkeypatch.setattr("routerlab.paper_cli.paper_experiments", lambda: ["planted_experts"])
    paper = tmp_path / "paper"
    assert main(["paper", "--runs", str(out), "--out", str(paper), "--scale", "smoke", "--run-missing"]) == 0
    printed = capsys.readouterr().out
    assert "planted_experts (smoke): reusing" in printed and len(find_runs(out, "planted_experts")) == 1
    assert find_runs(out, "planted_experts")[0].path.name in (paper / "tables" / "planted_experts.tex").read_text()
    assert main(["paper", "--runs", str(out), "--out", str(paper), "--run-missing"]) == 2  # needs --scale


def test_s1_verdict_judges_every_learned_router_against_the_ami_bar():
    from routerlab.report.paper import claim_verdict
    from routerlab.studies.planted_report import s1_verdict

    ci = lambda lo, hi: {"ami": {"mean": (lo + hi) / 2, "lo": lo, "hi": hi}}  # noqa: E731
    high = {"dense": {}, "hash": ci(0.0, 0.1), "switch": ci(0.7, 0.8), "top2": ci(0.8, 0.9)}
    assert claim_verdict({"verdict": s1_verdict(high)})[0] == "holds"  # the hash control is not judged
    assert claim_verdict({"verdict": s1_verdict({**high, "soft": ci(0.27, 0.39)})})[0] == "depends"
    assert claim_verdict({"verdict": s1_verdict({"switch": ci(0.1, 0.3)})})[0] == "fails"
