"""The lambda sweep: LinUCB's cost-quality Pareto curve over the cost penalty ``lam``, one
compiled ``vmap`` over ``lam`` x bandit seeds per fleet seed, on the replayed test log of the
fleet's routing log (:mod:`routerlab.fleet.fleet`), beside the per-query oracle under the
same penalty (:func:`routerlab.fleet.metrics.oracle_curve`) and every single model.

The replay draws the test log's queries many times each, so LinUCB can memorise them: an
optimistic curve, not a deployable router (``fleet_routing`` reports the one-pass run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import check
from routerlab.data import to_matrices
from routerlab.fleet.fleet import FleetConfig, ensure_fleet
from routerlab.fleet.metrics import curve_stats, oracle_curve
from routerlab.fleet.protocol import replay_linucb
from routerlab.report import mean_ci
from routerlab.rundir import RunDir
from routerlab.studies.fleet_routing.config import char_features, splits_of

__all__ = ["LambdaSweepConfig", "run", "summarize", "report", "findings", "paper"]

#: The first line of the report at smoke scale.
PLUMBING = "**Plumbing check at smoke scale, not a result**: the fleet trains for seconds and sits near chance."


@dataclass(frozen=True)
class LambdaSweepConfig:
    """One compiled ``vmap`` over the cost penalty: LinUCB's Pareto curve on each fleet seed's test replay.

    ``lams`` points log-spaced in ``[lam_min, lam_max]`` of ``lam * (dearest - cheapest mean
    cost)`` (plus 0), ``bandit_seeds`` seeds each.
    """

    fleet: FleetConfig = field(default_factory=FleetConfig)
    unit: str = "usd"
    feature_dim: int = 32
    rounds: int = 4000
    bandit_seeds: int = 4
    lams: int = 24
    lam_min: float = 0.01
    lam_max: float = 20.0

    def __post_init__(self):
        check(self.unit in ("usd", "flops"), "unit", f"must be usd or flops; got {self.unit!r}")
        check(self.rounds >= 100 and self.rounds % 100 == 0, "rounds", "must be a multiple of 100")
        check(self.bandit_seeds >= 1 and self.lams >= 2, "lams", "need >= 2 lams and >= 1 seed")
        check(0 < self.lam_min < self.lam_max, "lam_min", "need 0 < lam_min < lam_max")



def run(cfg: LambdaSweepConfig, rundir: RunDir) -> dict[str, Any]:
    """One record per fleet seed: the bandit's curve, the per-query oracle's, every single model; resumable."""
    fleet = ensure_fleet(cfg.fleet, rundir.path.parent.parent)
    done = rundir.completed_units()
    for seed in fleet.seeds:
        unit = f"seed{seed}"
        if unit in done:
            continue
        m = to_matrices(fleet.log(seed, cfg.unit), source=f"fleet seed {seed}")
        train, _, test = splits_of(m, char_features(m, cfg.feature_dim, seed))
        gap = float(train.mean_cost.max() - train.mean_cost.min()) or 1.0
        lams = np.concatenate([[0.0], np.geomspace(cfg.lam_min, cfg.lam_max, cfg.lams - 1)]) / gap
        seeds = [seed * 1000 + i for i in range(cfg.bandit_seeds)]
        pts = replay_linucb(test, rounds=cfg.rounds, seeds=seeds, lams=lams)
        oc, oq = oracle_curve(test.quality, test.cost, lams)
        rundir.log({"unit": unit, "seed": seed, "fleet": f"_fleets/{fleet.path.name}", "models": list(m.models),
                    "test_mean_quality": test.mean_quality.tolist(), "test_mean_cost": test.mean_cost.tolist(),
                    "lam_scaled": (lams * gap).tolist(), **pts,
                    "oracle_cost": oc.tolist(), "oracle_quality": oq.tolist()})
    return summarize(rundir)



def summarize(rundir: RunDir) -> dict[str, Any]:
    records = [r for r in rundir.records() if "lam" in r]
    lam_scaled = records[0]["lam_scaled"]
    # per lam: mean over fleet seeds of the bandit-seed mean; intervals over fleet seeds
    q = np.array([np.mean(r["quality"], axis=1) for r in records])  # [fleet seeds, L]
    c = np.array([np.mean(r["cost"], axis=1) for r in records])
    curve = [{"lam_scaled": lam_scaled[i], "quality": mean_ci(q[:, i])._asdict(), "cost": mean_ci(c[:, i])._asdict()}
             for i in range(len(lam_scaled))]
    aiqs = [curve_stats(np.mean(r["cost"], axis=1), np.mean(r["quality"], axis=1),
                        (min(r["test_mean_cost"]), max(r["test_mean_cost"])), {})["aiq"] for r in records]
    finite = [a for a in aiqs if a is not None]
    return {"seeds": [r["seed"] for r in records], "curve": curve,
            "aiq": mean_ci(finite)._asdict() if finite else None, "aiq_seeds_defined": len(finite)}



def _lambda_figure(rundir: RunDir):
    import matplotlib.pyplot as plt

    from routerlab.report import setup_style

    rec = next(r for r in rundir.records() if "lam" in r)
    setup_style()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(np.asarray(rec["oracle_cost"]) * 1000, rec["oracle_quality"], "--", color="grey", label="per-query oracle")
    ax.plot(np.mean(rec["cost"], axis=1) * 1000, np.mean(rec["quality"], axis=1), "o-", ms=3, label="LinUCB (online)")
    for name, c, q in zip(rec["models"], rec["test_mean_cost"], rec["test_mean_quality"], strict=True):
        ax.plot(c * 1000, q, "s", color="black", ms=3)
        ax.annotate(name, (c * 1000, q), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set(xscale="log", xlabel="cost per 1k queries", ylabel="mean exact match",
           title=f"lambda sweep (seed {rec['seed']})")
    ax.legend(fontsize=7)
    return fig



def findings(rundir: RunDir) -> str:
    """Both ends of LinUCB's curve over the cost penalty."""
    s = rundir.summary
    lo, hi = s["curve"][0], s["curve"][-1]

    def point(p: dict[str, Any]) -> str:
        q, c = p["quality"], p["cost"]
        return (f"quality {q['mean']:.3f} ± {(q['hi'] - q['lo']) / 2:.3f} at "
                f"${c['mean'] * 1000:.3g} ± {(c['hi'] - c['lo']) / 2 * 1000:.2g} per 1k queries")

    return (f"LinUCB replayed online over {len(s['curve'])} cost penalties in one compiled call: {point(lo)} at "
            f"lam = {lo['lam_scaled']:g} (times the cost gap), {point(hi)} at lam = {hi['lam_scaled']:g}.\n")



def paper(rundir: RunDir, out: Path, provenance: str) -> list[Path]:
    """``figures/lambda_sweep.pdf`` and its findings."""
    from routerlab.report import save_figure
    from routerlab.report.paper import write_findings

    return [write_findings(out, "lambda_sweep", findings(rundir), provenance),
            *save_figure(_lambda_figure(rundir), out / "figures" / "lambda_sweep", subject=provenance, png=False)]



def report(rundir: RunDir) -> str:
    from routerlab.report import markdown_table, save_figure

    s = rundir.summary
    head = [PLUMBING, ""] if rundir.header.get("scale") == "smoke" else []
    rows = [{"lam x cost gap": f"{p['lam_scaled']:.3g}",
             "cost / 1k queries": f"{p['cost']['mean'] * 1000:.4g} ± {(p['cost']['hi'] - p['cost']['lo']) / 2 * 1000:.2g}",
             "quality": f"{p['quality']['mean']:.3f} ± {(p['quality']['hi'] - p['quality']['lo']) / 2:.3f}"}
            for p in s["curve"]]
    a = s.get("aiq")
    lines = head + [
             f"LinUCB's cost-quality curve over the cost penalty, one compiled vmap over lam x bandit seeds per fleet "
             f"seed {s['seeds']} (mean ± 95% t-interval over fleet seeds of the bandit-seed means). The bandit "
             "replays the test log's queries many times each (with replacement), so it can memorise them: an "
             "optimistic curve, not a deployable one (fleet_routing reports the one-pass, validation-fixed run).",
             "", markdown_table(rows),
             f"AIQ of the bandit curve: {a['mean']:.3f} [{a['lo']:.3f}, {a['hi']:.3f}] "
             f"({s['aiq_seeds_defined']}/{len(s['seeds'])} seeds defined)." if a else "AIQ undefined.", ""]
    save_figure(_lambda_figure(rundir), rundir.artifacts / "lambda_sweep")
    lines += ["![lambda sweep](lambda_sweep.png)", ""]
    return "\n".join(lines)

