"""The bandit zoo study: every policy of :mod:`routerlab.bandits` on every environment, seeds
in one vmap, plus a Pareto sweep (the library keeps the policies, environments and simulator).

::

    cfg = BanditZooConfig.smoke()
    run = RunDir.create("runs", "bandit_zoo", cfg, scale="smoke")
    summary = bandit_zoo.run(cfg, run)  # metrics.jsonl (one record per unit), summary.json, DONE
    print(bandit_zoo.report(run))       # Markdown; figures in run.artifacts

Each (environment, policy) pair is one compiled call of :func:`~routerlab.bandits.simulate.simulate`
over ``num_seeds`` seeds and logs one record (``unit = "<env>/<policy>"``); a resumed run
skips completed units. The Pareto sweep runs ``pareto_policy`` on the routing-log replay
environment over the ``lams`` grid in one call (``unit = "pareto/<lam>"``).

The replay environment here replays a synthetic full-information routing log (``fleet_log``:
five models whose quality rises with cost, with query-dependent strengths); real logs from
the across-model work plug in through :func:`routerlab.bandits.envs.replay`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.bandits import envs as E
from routerlab.bandits import policies as P
from routerlab.bandits.neural import neural_linear, neural_ucb
from routerlab.bandits.simulate import log_trace, simulate
from routerlab.bandits.types import Env, Policy
from routerlab.config import check

#: The first line of the report at smoke scale.
PLUMBING = ("**Plumbing check at smoke scale, not a result**: a few hundred rounds, two policies and two "
            "environments; run `--scale quick` for the zoo.")

__all__ = ["PLUMBING", "BanditZooConfig", "run", "report", "paper", "regret_rows", "POLICIES", "ENVIRONMENTS", "fleet_log"]

# name -> (factory, hyperparameters as data)
POLICIES: dict[str, tuple[Callable[..., Policy], dict[str, float]]] = {
    "uniform": (P.uniform, {}),
    "epsilon_greedy": (P.epsilon_greedy, {"eps": 0.05}),
    "softmax": (P.softmax, {"tau": 0.05}),
    "linucb": (P.linucb, {"alpha": 1.0}),
    "lin_ts": (P.lin_ts, {"v": 0.3}),
    "squarecb": (P.squarecb, {"gamma": 200.0}),
    "bootstrap": (lambda: P.bootstrap(P.greedy(), 8), {}),
    "neural_linear": (lambda v: neural_linear(v, hidden=16, buffer=256), {"v": 0.3}),
    "neural_ucb": (lambda alpha: neural_ucb(alpha, hidden=16, buffer=256), {"alpha": 0.5}),
}


def fleet_log(num_queries: int = 2000, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic full-information routing log: ``contexts [Q, d], quality [Q, 5], cost [Q, 5]``.

    Five models with base quality rising with price; each model is better or worse on a
    query-dependent "topic" direction; cost scales with a query-length feature.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_queries, dim))
    x[:, 0] = 1.0
    length = 1.0 + np.abs(x[:, 1:2])
    base = np.array([0.35, 0.5, 0.6, 0.7, 0.8])
    skill = rng.normal(scale=0.15, size=(dim - 2, 5))
    quality = np.clip(base + np.tanh(x[:, 2:]) @ skill + 0.05 * rng.normal(size=(num_queries, 5)), 0.0, 1.0)
    price = np.array([0.05, 0.1, 0.2, 0.5, 1.0])
    return x.astype(np.float32), quality.astype(np.float32), (price * length).astype(np.float32)


def _digits() -> Env:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / (X.std(0) + 1e-6)
    u, s, _ = np.linalg.svd(X, full_matrices=False)
    Z = u[:, :15] * s[:15] / np.sqrt(len(X))
    Z = np.concatenate([np.ones((len(X), 1)), Z / Z.std(0)], axis=1)
    return E.multiclass(Z, y, num_classes=10, name="multiclass_digits")


ENVIRONMENTS: dict[str, Callable[[int], Env]] = {
    "synthetic": lambda seed: E.synthetic_linear(10, 8, seed=seed, noise=0.1),
    "wheel": lambda seed: E.wheel(0.5),
    "drifting": lambda seed: E.drifting_linear(5, 6, seed=seed, period=2000.0),
    "multiclass_digits": lambda seed: _digits(),
    "replay_fleet": lambda seed: E.replay(*fleet_log(seed=seed), name="replay_fleet"),
}


@dataclasses.dataclass(frozen=True)
class BanditZooConfig:
    seed: int = 0
    num_seeds: int = 5
    rounds: int = 5000
    record_every: int = 100
    policies: tuple[str, ...] = tuple(POLICIES)
    envs: tuple[str, ...] = tuple(ENVIRONMENTS)
    lams: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
    pareto_policy: str = "linucb"

    def __post_init__(self):
        check(self.num_seeds >= 3, "num_seeds", f"must be >= 3 (95% intervals); got {self.num_seeds}")
        check(self.rounds >= 1, "rounds", f"must be >= 1; got {self.rounds}")
        check(self.record_every >= 1 and self.rounds % self.record_every == 0, "record_every",
              f"must divide rounds ({self.rounds}); got {self.record_every}")
        for p in self.policies + (self.pareto_policy,):
            check(p in POLICIES, "policies", f"unknown policy {p!r}; known: {', '.join(POLICIES)}")
        for e in self.envs:
            check(e in ENVIRONMENTS, "envs", f"unknown environment {e!r}; known: {', '.join(ENVIRONMENTS)}")
        check(len(self.lams) >= 2 and all(v >= 0 for v in self.lams), "lams", f"need >= 2 values >= 0; got {self.lams}")

    @classmethod
    def smoke(cls) -> BanditZooConfig:
        return cls(num_seeds=3, rounds=200, record_every=50, policies=("uniform", "linucb"),
                   envs=("synthetic", "replay_fleet"), lams=(0.0, 0.2, 0.8))


def _seeds(cfg: BanditZooConfig) -> np.ndarray:
    return np.arange(cfg.seed * 1000, cfg.seed * 1000 + cfg.num_seeds)


def run(cfg: BanditZooConfig, rundir) -> dict[str, Any]:
    """Run every policy on every environment and the Pareto sweep; returns the summary.

    Units already in ``metrics.jsonl`` are skipped, so an interrupted run resumes.
    """
    done = rundir.completed_units()
    seeds = _seeds(cfg)
    for env_name in cfg.envs:
        env = ENVIRONMENTS[env_name](cfg.seed)
        for pol_name in cfg.policies:
            unit = f"{env_name}/{pol_name}"
            if unit in done:
                continue
            factory, hp = POLICIES[pol_name]
            trace = simulate(factory, env, rounds=cfg.rounds, seeds=seeds,
                             hparams={k: [v] for k, v in hp.items()} or None, record_every=cfg.record_every)
            trace = trace._replace(**{f: getattr(trace, f)[0] for f in trace._fields}) if hp else trace
            log_trace(rundir, trace, unit=unit, rounds=cfg.rounds,
                      labels={"kind": "regret", "env": env_name, "policy": pol_name, **hp})
    if not all(f"pareto/{lam:g}" in done for lam in cfg.lams):
        env = ENVIRONMENTS["replay_fleet"](cfg.seed)
        factory, hp = POLICIES[cfg.pareto_policy]
        trace = simulate(lambda **h: factory(**h), env, rounds=cfg.rounds, seeds=seeds, lams=list(cfg.lams),
                         hparams={k: [v] for k, v in hp.items()} or None, record_every=cfg.record_every)
        for i, lam in enumerate(cfg.lams):
            if f"pareto/{lam:g}" in done:
                continue
            sub = trace._replace(**{f: (getattr(trace, f)[0] if hp else getattr(trace, f))[i] for f in trace._fields})
            log_trace(rundir, sub, unit=f"pareto/{lam:g}", rounds=cfg.rounds,
                      labels={"kind": "pareto", "env": "replay_fleet", "policy": cfg.pareto_policy, "lam": lam})
    return _summary(rundir, cfg)


def _summary(rundir, cfg: BanditZooConfig) -> dict[str, Any]:
    recs = list(rundir.records())
    regret: dict[str, dict[str, Any]] = {}
    for r in recs:
        if r.get("kind") == "regret":
            regret.setdefault(r["env"], {})[r["policy"]] = {"final_regret": r["regret"], "ci95": r["regret_ci95"]}
    best = {env: min(d, key=lambda p: d[p]["final_regret"]) for env, d in regret.items()}
    pareto = sorted(
        ({"lam": r["lam"], "quality_per_round": r["quality"] / cfg.rounds, "cost_per_round": r["cost"] / cfg.rounds,
          "quality_ci95": r["quality_ci95"] / cfg.rounds, "cost_ci95": r["cost_ci95"] / cfg.rounds}
         for r in recs if r.get("kind") == "pareto"), key=lambda p: p["lam"])
    return {"rounds": cfg.rounds, "num_seeds": cfg.num_seeds, "final_regret": regret, "best_policy": best,
            "pareto": pareto, "pareto_policy": cfg.pareto_policy}


def _regret_figure(rundir):
    """Cumulative-regret curves, one panel per environment, 95% bands over seeds."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    from routerlab.report import setup_style

    setup_style()
    rows = []
    for r in rundir.records():
        if r.get("kind") != "regret":
            continue
        for t, m, h in zip(r["curve_round"], r["curve_regret"], r["curve_regret_ci95"]):
            rows.append({"env": r["env"], "policy": r["policy"], "round": t, "regret": m, "lo": m - h, "hi": m + h})
    curves = pd.DataFrame(rows)
    envs = sorted(curves["env"].unique())
    # One colour per policy, fixed before drawing, so each band has its own line's colour in every
    # panel (seaborn's hue order and a groupby's alphabetical order need not agree).
    policies = list(dict.fromkeys(curves["policy"]))
    palette = dict(zip(policies, sns.color_palette(n_colors=len(policies))))
    cols = min(3, max(1, len(envs)))
    nrows = -(-len(envs) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols + 1.6, 2.9 * nrows), squeeze=False)
    for ax, env in zip(axes.flat, envs):
        sub = curves[curves["env"] == env]
        for policy in policies:
            g = sub[sub["policy"] == policy]
            if g.empty:
                continue
            ax.plot(g["round"], g["regret"], color=palette[policy], label=policy, gid=f"line:{policy}")
            ax.fill_between(g["round"], g["lo"], g["hi"], color=palette[policy], alpha=0.15, linewidth=0,
                            gid=f"band:{policy}")
        ax.set_title(env)
        ax.set_xlabel("round")
        ax.set_ylabel("cumulative regret")
    for ax in list(axes.flat)[len(envs):]:
        ax.axis("off")
    if envs:
        list(axes.flat)[len(envs) - 1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
    return fig


def _pareto_figure(summary: dict[str, Any]):
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    from routerlab.report import setup_style

    setup_style()
    pareto = pd.DataFrame(summary["pareto"])
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    sns.lineplot(data=pareto, x="cost_per_round", y="quality_per_round", marker="o", sort=False, ax=ax)
    for _, p in pareto.iterrows():
        ax.annotate(f"λ={p['lam']:g}", (p["cost_per_round"], p["quality_per_round"]), fontsize=8,
                    xytext=(4, -10), textcoords="offset points")
    ax.set_xlabel("cost per query")
    ax.set_ylabel("quality per query")
    ax.set_title(f"{summary['pareto_policy']} on replay_fleet")
    return fig


def regret_rows(summary: dict[str, Any], *, bold: str = "**") -> list[dict[str, str]]:
    """One row per policy: final regret ``mean ± half-width`` per environment, the best per environment marked."""
    regret = summary["final_regret"]
    envs = sorted(regret)
    rows = []
    for pol in sorted({p for d in regret.values() for p in d}):
        row = {"policy": pol}
        for env in envs:
            v = regret[env].get(pol)
            if v is None:
                row[env] = "–"
                continue
            text = f"{v['final_regret']:.1f} ± {v['ci95']:.1f}"
            row[env] = f"{bold}{text}{bold}" if summary["best_policy"][env] == pol else text
        rows.append(row)
    return rows


def findings(summary: dict[str, Any]) -> str:
    """Per environment: the best policy, and whether it beats uniform routing with disjoint intervals."""
    lines = [f"Final cumulative regret after {summary['rounds']:,} rounds ({summary['num_seeds']} seeds):"]
    for env, by_policy in sorted(summary["final_regret"].items()):
        best = summary["best_policy"][env]
        b = by_policy[best]
        text = f"- {env}: best {best} {b['final_regret']:.1f} ± {b['ci95']:.1f}"
        if "uniform" in by_policy and best != "uniform":
            u = by_policy["uniform"]
            separated = b["final_regret"] + b["ci95"] < u["final_regret"] - u["ci95"]
            text += (f" against uniform's {u['final_regret']:.1f} ± {u['ci95']:.1f}"
                     f" ({'intervals disjoint' if separated else 'intervals overlap'})")
        lines.append(text)
    return "\n".join(lines) + "\n"


def report(rundir) -> str:
    """A Markdown section (tables) and seaborn figures in ``rundir.artifacts``."""
    from routerlab.report import markdown_table, save_figure

    summary = rundir.summary
    save_figure(_regret_figure(rundir), rundir.artifacts / "bandit_zoo_regret")
    save_figure(_pareto_figure(summary), rundir.artifacts / "bandit_zoo_pareto")
    lines = [PLUMBING, ""] if rundir.header.get("scale") == "smoke" else []
    lines += [f"## Bandit zoo ({summary['num_seeds']} seeds, {summary['rounds']} rounds)", "",
             findings(summary), "",
             "Final cumulative pseudo-regret, mean ± 95% interval over seeds (lower is better; best in bold).", "",
             markdown_table(regret_rows(summary))]
    lines += ["", f"Cost–quality trade-off of {summary['pareto_policy']} on the replay log, one compiled call "
              "over λ (reward = quality − λ·cost):", "", "| λ | quality / query | cost / query |", "|---|---|---|"]
    for p in summary["pareto"]:
        lines.append(f"| {p['lam']:g} | {p['quality_per_round']:.4f} ± {p['quality_ci95']:.4f} | "
                     f"{p['cost_per_round']:.4f} ± {p['cost_ci95']:.4f} |")
    lines += ["", "![regret](bandit_zoo_regret.png)", "![pareto](bandit_zoo_pareto.png)", ""]
    return "\n".join(lines)


def paper(rundir, out: Path, provenance: str) -> list[Path]:
    """``tables/bandit_zoo.tex`` (final regret per policy and environment) and ``figures/bandit_zoo.pdf``."""
    from routerlab.report import latex_table, save_figure
    from routerlab.report.paper import write_findings
    from routerlab.rundir import atomic_write_text

    summary = rundir.summary
    rows = regret_rows(summary, bold="")
    columns = ["policy", *sorted(summary["final_regret"])]
    table = latex_table(rows, columns, label="tab:bandit_zoo", caption=(
        f"Contextual bandits: final cumulative pseudo-regret after {summary['rounds']:,} rounds, mean $\\pm$ "
        f"95\\% t-interval half-width over {summary['num_seeds']} seeds (lower is better)."))
    tex = out / "tables" / "bandit_zoo.tex"
    atomic_write_text(tex, f"% {provenance}\n" + table)
    return [tex, write_findings(out, "bandit_zoo", findings(summary), provenance),
            *save_figure(_regret_figure(rundir), out / "figures" / "bandit_zoo", subject=provenance, png=False)]
