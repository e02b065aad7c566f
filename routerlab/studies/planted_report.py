"""Planted experts' report: the Markdown table and figure, the findings in words, the paper's table.

Reads only the run directory (``config.json``, ``summary.json``): see :mod:`routerlab.studies.planted`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from routerlab.rundir import RunDir, atomic_write_text

__all__ = ["findings", "report", "paper"]


def _table_rows(rundir: RunDir) -> list[dict[str, Any]]:
    from routerlab.report import MeanCI, fmt_ci

    rows = []
    summary = rundir.summary["variants"]
    for variant in [v for v in rundir.config["variants"] if v in summary]:
        entry = summary[variant]
        ci = lambda m: fmt_ci(MeanCI(**entry[m])) if m in entry else "n/a"  # noqa: E731
        rows.append({
            "variant": variant,
            "FFN params": entry["params"],
            "FLOPs/token": f"{entry['active_flops_per_token']:.0f}",
            "test NMSE": ci("test_nmse"),
            "AMI": ci("ami"),
            "MaxVio": ci("max_vio"),
            "dropped": ci("dropped_frac"),
        })
    return rows


def _figure(rundir: RunDir):
    """Test NMSE and AMI per variant: mean and the same 95% t-interval as the table."""
    import matplotlib.pyplot as plt

    from routerlab.report import setup_style

    summary = rundir.summary["variants"]
    order = [v for v in rundir.config["variants"] if v in summary]
    setup_style()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, metric, label in ((axes[0], "test_nmse", "test NMSE (lower is better)"),
                              (axes[1], "ami", "AMI with planted clusters")):
        shown = [v for v in order if metric in summary[v]]
        mean = [summary[v][metric]["mean"] for v in shown]
        half = [(summary[v][metric]["hi"] - summary[v][metric]["lo"]) / 2 for v in shown]
        ax.errorbar(range(len(shown)), mean, yerr=half, fmt="o", capsize=3)
        ax.set_xticks(range(len(shown)), shown, rotation=45, ha="right")
        ax.set_ylabel(label)
    axes[1].set_ylim(-0.05, 1.05)
    return fig


def findings(rundir: RunDir) -> str:
    """The verdict in words, from the summary: does routing beat the dense layer, and does it find the clusters?"""
    from routerlab.report import MeanCI, fmt_ci

    summary = rundir.summary["variants"]
    ci = {v: MeanCI(**e["test_nmse"]) for v, e in summary.items() if "test_nmse" in e}
    learned = [v for v in ci if v not in ("dense", "hash")]
    lines = []
    if "dense" in ci and learned:
        best = min(learned, key=lambda v: ci[v].mean)
        beat = [v for v in learned if ci[v].hi < ci["dense"].lo]
        lines.append(f"Test NMSE: dense {fmt_ci(ci['dense'])}; best learned router {best} {fmt_ci(ci[best])}. "
                     f"{len(beat)} of {len(learned)} learned routers beat the dense layer with disjoint 95% "
                     f"intervals{': ' + ', '.join(beat) if beat else ''}.")
    if "hash" in ci:
        lines.append(f"The hash control, which never learns, reaches {fmt_ci(ci['hash'])}.")
    ami = {v: MeanCI(**summary[v]["ami"]) for v in learned if "ami" in summary[v]}
    if ami:
        lo, hi = min(ami, key=lambda v: ami[v].mean), max(ami, key=lambda v: ami[v].mean)
        lines.append(f"AMI of the learned routing with the planted clusters ranges from {fmt_ci(ami[lo], 2)} ({lo}) "
                     f"to {fmt_ci(ami[hi], 2)} ({hi}).")
    return " ".join(lines) + "\n"


def report(rundir: RunDir) -> str:
    """Markdown table plus a two-panel figure (test NMSE, routing AMI) in ``artifacts/``."""
    from routerlab.report import markdown_table, save_figure

    save_figure(_figure(rundir), rundir.artifacts / "planted_experts")
    cfg = rundir.config
    return (
        f"Planted experts: a mixture of {cfg['task']['num_clusters']} clusters, each with its own "
        f"target; {cfg['num_seeds']} seeds, {cfg['steps']} steps. Test NMSE is MSE over target "
        "variance; AMI compares each input's top expert with its planted cluster. Intervals are "
        "95% Student-t over seeds.\n\n"
        + findings(rundir) + "\n"
        + markdown_table(_table_rows(rundir))
        + "\n![planted experts](planted_experts.png)\n"
    )


def paper(rundir: RunDir, out: Path, provenance: str) -> list[Path]:
    """``tables/planted_experts.tex``, its findings and ``figures/planted_experts.pdf`` for the paper."""
    from routerlab.report import latex_table, save_figure
    from routerlab.report.paper import write_findings

    cfg = rundir.config
    table = latex_table(
        _table_rows(rundir),
        ["variant", "FFN params", "FLOPs/token", "test NMSE", "AMI", "MaxVio", "dropped"],
        caption=(f"Planted experts ({cfg['task']['num_clusters']} clusters, {cfg['num_seeds']} seeds, "
                 f"{cfg['steps']} steps): test NMSE and AMI of the routing with the planted partition, "
                 "mean $\\pm$ 95\\% t-interval half-width over seeds."),
        label="tab:planted",
    )
    tex = out / "tables" / "planted_experts.tex"
    atomic_write_text(tex, f"% {provenance}\n" + table)
    return [tex, write_findings(out, "planted_experts", findings(rundir), provenance),
            *save_figure(_figure(rundir), out / "figures" / "planted_experts", subject=provenance, png=False)]


#: S1's bar for "tokens are routed to experts specialised for them": the AMI of a learned
#: router's top expert with the planted clusters, whose 95% interval must lie above it.
S1_AMI = 0.5


def s1_verdict(variants: dict[str, Any]) -> str:
    """S1 on the planted task, from each learned router's AMI with the planted clusters (95%
    t-interval over seeds): ``holds`` if every learned router's interval lies above
    :data:`S1_AMI`, ``fails`` if every one lies below, ``depends`` (on the router) otherwise.
    Dense and hash (the control that never learns) are not routers being judged."""
    ami = {v: e["ami"] for v, e in variants.items() if v not in ("dense", "hash") and "ami" in e}
    if not ami:
        return "S1 is not testable here: no learned router's routing was scored against the planted clusters."
    above = sorted(v for v, e in ami.items() if e["lo"] > S1_AMI)
    below = sorted(v for v, e in ami.items() if e["hi"] < S1_AMI)
    word = "holds" if len(above) == len(ami) else "fails" if len(below) == len(ami) else "depends on the router"
    cells = ", ".join(f"{v} {e['mean']:.2f} [{e['lo']:.2f}, {e['hi']:.2f}]" for v, e in sorted(ami.items(), key=lambda x: -x[1]["mean"]))
    return (f"S1 (tokens go to experts specialised for them) {word} on the planted task: AMI of each learned "
            f"router's top expert with the planted clusters (95% t-interval; the bar is {S1_AMI}): {cells}.")

