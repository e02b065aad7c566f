"""The zoo at smoke scale: runs, resumes byte-identically, reports."""

import math

import pytest

from routerlab.studies.bandit_zoo import PLUMBING, BanditZooConfig, report, run
from routerlab.config import ConfigError
from routerlab.rundir import RunDir


@pytest.mark.slow  # default-suite budget (2026-12-01): covered at smoke by a notebook or a faster test
def test_zoo_smoke_runs_and_reports(tmp_path, check_paper_hook):
    cfg = BanditZooConfig.smoke()
    rundir = RunDir.create(tmp_path, "bandit_zoo", cfg, scale="smoke")
    summary = run(cfg, rundir)
    rundir.finish(summary)  # what `routerlab run` does after run()
    reg = summary["final_regret"]
    assert set(reg) == set(cfg.envs) and all(set(v) == set(cfg.policies) for v in reg.values())
    for env in cfg.envs:  # learning beats uniform on every environment
        assert reg[env]["linucb"]["final_regret"] < reg[env]["uniform"]["final_regret"]
    pareto = summary["pareto"]
    assert [p["lam"] for p in pareto] == list(cfg.lams)
    assert pareto[0]["cost_per_round"] > pareto[-1]["cost_per_round"]
    assert all(math.isfinite(p["quality_ci95"]) for p in pareto)
    text = report(rundir)
    assert "| linucb |" in text and "λ" in text and text.startswith(PLUMBING)
    assert (rundir.artifacts / "bandit_zoo_regret.png").stat().st_size > 1000
    assert (rundir.artifacts / "bandit_zoo_pareto.png").stat().st_size > 1000
    written = check_paper_hook("bandit_zoo", rundir)
    assert set(written) == {"bandit_zoo.tex", "bandit_zoo_findings.tex", "bandit_zoo.pdf"}
    assert "linucb" in written["bandit_zoo.tex"].read_text()
    assert "against uniform" in written["bandit_zoo_findings.tex"].read_text()
    # `routerlab paper` regenerates paper/figures/bandit_zoo.pdf from the newest recorded run
    from routerlab.paper_cli import build_paper

    paper = build_paper(tmp_path, tmp_path / "paper", scale="smoke", experiments=["bandit_zoo"])
    pdf = tmp_path / "paper" / "figures" / "bandit_zoo.pdf"
    assert pdf in paper and pdf.read_bytes().startswith(b"%PDF")
    assert rundir.path.name.encode() in pdf.read_bytes()  # its provenance names the run it was drawn from

    # resuming after losing the last unit reproduces the same bytes
    full = rundir.metrics_path.read_bytes()
    lines = full.splitlines(keepends=True)
    rundir.metrics_path.write_bytes(b"".join(lines[:-1]))
    run(cfg, RunDir.open(rundir.path))
    assert rundir.metrics_path.read_bytes() == full


def test_config_validation():
    with pytest.raises(ConfigError, match="num_seeds"):
        BanditZooConfig(num_seeds=2)
    with pytest.raises(ConfigError, match="unknown policy"):
        BanditZooConfig(policies=("linucb", "nope"))


def test_regret_bands_share_their_lines_colour():
    """Each policy's band is drawn in its own line's colour, in every panel.

    The policies appear in non-alphabetical order ("ucb" before "eps"), which is what made the
    bands and lines of the old figure pair up wrongly (bands in alphabetical order, lines in order
    of appearance).
    """
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    from routerlab.studies.bandit_zoo import _regret_figure

    class Records:
        def records(self):
            for env in ("wheel", "fleet"):
                for k, policy in enumerate(("ucb", "eps", "greedy")):
                    yield {"kind": "regret", "env": env, "policy": policy, "curve_round": [1, 2, 3],
                           "curve_regret": [k, 2 * k, 3 * k], "curve_regret_ci95": [0.1, 0.1, 0.1]}

    fig = _regret_figure(Records())
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["fleet", "wheel"]
    colours = {}
    for ax in panels:
        lines = {ln.get_gid().split(":", 1)[1]: mcolors.to_rgb(ln.get_color()) for ln in ax.get_lines()}
        bands = {c.get_gid().split(":", 1)[1]: tuple(c.get_facecolor()[0][:3])
                 for c in ax.collections if (c.get_gid() or "").startswith("band:")}
        assert set(lines) == set(bands) == {"ucb", "eps", "greedy"}
        for policy, rgb in lines.items():
            assert bands[policy] == pytest.approx(rgb)
            assert colours.setdefault(policy, rgb) == rgb  # the same colour in every panel
        # the line of "ucb" really is ucb's data (regret 0), not another policy's
        ucb = next(ln for ln in ax.get_lines() if ln.get_gid() == "line:ucb")
        assert list(ucb.get_ydata()) == [0, 0, 0]
    assert len(set(colours.values())) == 3
    plt.close(fig)
