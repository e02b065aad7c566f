"""Routing across the fleet: every router's cost-quality frontier on the fleet's routing log,
online bandits on its replay, and the bandit's Pareto curve over the cost penalty.

Protocol, per fleet seed ``s`` (the fleet of :mod:`routerlab.fleet.fleet`, trained once and
cached): the routing log of seed ``s`` holds every model's exact-match outcome and cost on
every held-out query of the task suite; its queries are split 60/20/20 (train/val/test)
for routers by a hash of the query id. Prompt features are character 1-3-gram TF-IDF
reduced by truncated SVD, **fitted on the train prompts only** (the suite's prompts are
symbols and digits, which word-level TF-IDF ignores). Each router of
:func:`routerlab.fleet.routers.default_routers` (single models, random, per-task and
per-query oracles, the seed's pipeline ``task_classifier`` = logistic-regression task
classifier -> the model with the best train accuracy-minus-cost on that task, kNN, MLP and
MF utility routers, a cascade) is fitted on train, tuned on val and scored on test by
:func:`routerlab.fleet.evaluate.evaluate_router` (bootstrap intervals over test queries):
AIQ and an operating point chosen on val; and savings at 95% and at 100% of the
*reference* model's test quality (:func:`savings_vs`, bootstrap over test queries), where the
reference is the generalist with the best train quality (the seed's claim is against
generalists; the best model overall is recorded beside it).

Online (:func:`bandit_points`): LinUCB on :func:`routerlab.bandits.replay` of the test
queries (contexts: the same features plus an intercept; the context carries each model's
mean cost, as output length is unknown before the call), reward ``quality - lam * cost``
over a grid of ``lam``, and a global-budget variant (:func:`routerlab.bandits.lagrangian`,
budget = ``budget_fraction`` x the reference model's mean test cost x rounds). All of it is
one :func:`routerlab.bandits.simulate` call per variant: ``vmap`` over seeds and ``lam``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import check
from routerlab.data import to_matrices
from routerlab.data.schema import RoutingMatrices
from routerlab.fleet.evaluate import evaluate_router, interval
from routerlab.fleet.fleet import FleetConfig, ensure_fleet
from routerlab.fleet.metrics import aiq, cost_at_quality, nondecreasing_convex_hull
from routerlab.fleet.routers import Split, Trace, default_routers, one_blas_thread, trace
from routerlab.report import mean_ci
from routerlab.rundir import RunDir, atomic_write_text

__all__ = ["FleetRoutingConfig", "LambdaSweepConfig", "char_features", "bandit_points", "run", "summarize",
           "report", "paper", "run_lambda", "report_lambda", "paper_lambda", "fold", "savings_vs"]


@dataclass(frozen=True)
class FleetRoutingConfig:
    """Attributes:
      fleet: the fleet (shared with the other fleet experiments at the same scale).
      unit: cost column of the log: ``usd`` (the seed's price list) or ``flops``.
      feature_dim: SVD dimension of the character TF-IDF features.
      n_boot: bootstrap resamples per statistic.
      steps: optimiser steps of the JAX quality predictors (MLP, MF).
      bandit_rounds: rounds of each online replay (0 = no bandits).
      bandit_seeds: bandit seeds per fleet seed.
      lams: points of the ``lam`` grid; ``lam * (dearest - cheapest mean cost)`` spans 0..2.
      budget_fraction: the global budget as a fraction of the reference model's cost.
    """

    fleet: FleetConfig = field(default_factory=FleetConfig)
    unit: str = "usd"
    feature_dim: int = 32
    n_boot: int = 300
    steps: int = 300
    bandit_rounds: int = 2000
    bandit_seeds: int = 3
    lams: int = 9
    budget_fraction: float = 0.25

    def __post_init__(self):
        check(self.unit in ("usd", "flops"), "unit", f"must be usd or flops; got {self.unit!r}")
        check(self.feature_dim >= 2, "feature_dim", f"must be >= 2; got {self.feature_dim}")
        check(self.n_boot >= 10, "n_boot", f"must be >= 10; got {self.n_boot}")
        check(self.bandit_rounds >= 0 and self.bandit_rounds % 100 == 0, "bandit_rounds",
              "must be 0 or a multiple of 100")
        check(self.bandit_seeds >= 1 and self.lams >= 2, "bandit_seeds", "need >= 1 bandit seed and >= 2 lams")
        check(0 < self.budget_fraction <= 1, "budget_fraction", "must be in (0, 1]")


def _runs_root(rundir: RunDir) -> Path:
    return rundir.path.parent.parent


def char_features(m: RoutingMatrices, dim: int, seed: int = 0) -> np.ndarray:
    """Character 1-3-gram TF-IDF -> truncated SVD -> L2 rows, plus ``log1p(len) / 10``; fitted on train only."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    train = np.asarray(m.splits == "train")
    prompts = [str(p) for p in m.prompts]
    with one_blas_thread():
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, lowercase=False)
        tf_train = vec.fit_transform([p for p, t in zip(prompts, train, strict=True) if t])
        svd = TruncatedSVD(min(dim, tf_train.shape[1] - 1), random_state=seed).fit(tf_train)
        x = normalize(svd.transform(vec.transform(prompts)))
    length = np.log1p([len(p) for p in prompts])[:, None] / 10
    return np.concatenate([x, length], axis=1).astype(np.float32)


def _splits(m: RoutingMatrices, dim: int, seed: int) -> tuple[Split, Split, Split]:
    x = char_features(m, dim, seed)
    return tuple(Split.of(m, x, s) for s in ("train", "val", "test"))  # type: ignore[return-value]


def bandit_points(train: Split, test: Split, *, rounds: int, seeds: list[int], lams: np.ndarray,
                  budget: float | None = None, alpha: float = 0.5) -> dict[str, Any]:
    """LinUCB replayed on ``test`` for every ``lam`` and seed in one compiled call.

    Returns per-round mean ``quality`` and ``cost`` as ``[L][S]`` lists, and with ``budget``
    (total over ``rounds``) the budget violation ``[L][S]``.
    """
    from routerlab.bandits import lagrangian, linucb, replay, simulate

    contexts = np.concatenate([test.x, np.ones((len(test), 1), np.float32)], axis=1)
    env = replay(contexts, test.quality, test.cost, cost_known=False)
    if budget is None:
        policy = linucb
    else:
        def policy(alpha):
            return lagrangian(linucb(alpha), budget, rounds)
    out = simulate(policy, env, rounds=rounds, seeds=seeds, hparams={"alpha": [alpha]}, lams=lams,
                   record_every=rounds // 100, budget=np.inf if budget is None else budget)
    q = np.asarray(out.quality)[0, :, :, -1] / rounds  # [L, S]
    c = np.asarray(out.cost)[0, :, :, -1] / rounds
    res = {"lam": [float(v) for v in lams], "quality": q.tolist(), "cost": c.tolist()}
    if budget is not None:
        res["budget"] = budget
        res["budget_violation"] = np.asarray(out.budget_violation)[0].tolist()
    return res


def savings_vs(tr: Trace, test: Split, ref: int, target: float, n_boot: int, seed: int) -> dict[str, float | None]:
    """Savings of a router's test hull at ``target`` x model ``ref``'s test quality, relative to
    ``ref``'s cost, with the percentile-bootstrap interval over test queries (the same
    resamples as :func:`routerlab.fleet.evaluate.evaluate_router` at the same seed)."""
    n = len(test)

    def stat(idx):
        counts = np.stack([np.bincount(row, minlength=n) for row in idx]) / n  # [B, Q] resample weights
        costs, quals = counts @ tr.cost.T, counts @ tr.quality.T
        ref_q, ref_c = counts @ test.quality[:, ref], counts @ test.cost[:, ref]
        out = np.empty(len(idx))
        for b in range(len(idx)):
            hull = nondecreasing_convex_hull(costs[b], quals[b])
            out[b] = 1.0 - cost_at_quality(hull, target * ref_q[b]) / ref_c[b]
        return out

    return interval(stat, n, n_boot, seed)


def fold(savings: float | None) -> float | None:
    """Cost reduction factor ``1 / (1 - savings)`` (10 = ten times cheaper)."""
    if savings is None or not np.isfinite(savings) or savings >= 1:
        return None
    return 1.0 / (1.0 - savings)


def run(cfg: FleetRoutingConfig, rundir: RunDir) -> dict[str, Any]:
    fleet = ensure_fleet(cfg.fleet, _runs_root(rundir))
    done = rundir.completed_units()
    for seed in fleet.seeds:
        unit = f"seed{seed}"
        if unit in done:
            continue
        m = to_matrices(fleet.log(seed, cfg.unit), source=f"fleet seed {seed}")
        train, val, test = _splits(m, cfg.feature_dim, seed)
        roles = {x["name"]: x["role"] for x in fleet.models}
        routers = default_routers(train, seed=seed, steps=cfg.steps)
        generalists = [i for i, name in enumerate(m.models) if roles[name] == "generalist"]
        ref_i = max(generalists, key=lambda i: train.mean_quality[i])  # the best generalist on train
        ref = m.models[ref_i]
        params = {x["name"]: x["params"] for x in fleet.models}
        big_i = max(generalists, key=lambda i: params[m.models[i]])  # the largest generalist
        results = []
        with one_blas_thread():
            for r in routers:
                r.fit(train, val)
                rec = evaluate_router(r, val, test, target=0.95, n_boot=cfg.n_boot, seed=seed)
                rec["savings_vs_best_model"] = rec.pop("savings")  # evaluate_router's reference: best train model
                tr = trace(r, test)
                rec["savings"] = savings_vs(tr, test, ref_i, 0.95, cfg.n_boot, seed)
                rec["savings100"] = savings_vs(tr, test, ref_i, 1.0, cfg.n_boot, seed)
                rec["savings_largest"] = savings_vs(tr, test, big_i, 0.95, cfg.n_boot, seed)
                rec["savings100_largest"] = savings_vs(tr, test, big_i, 1.0, cfg.n_boot, seed)
                if r.name == "task_classifier":
                    rec["task_accuracy_val"] = float(r.predictor.val_accuracy)
                results.append(rec)
        record: dict[str, Any] = {
            "unit": unit, "seed": seed, "fleet": f"_fleets/{fleet.path.name}", "models": list(m.models), "reference": ref,
            "best_model": m.models[int(np.argmax(train.mean_quality))], "largest": m.models[big_i],
            "queries": {s: int(np.sum(m.splits == s)) for s in ("train", "val", "test")},
            "test_mean_quality": test.mean_quality.tolist(), "test_mean_cost": test.mean_cost.tolist(),
            "routers": results,
        }
        if cfg.bandit_rounds:
            gap = float(train.mean_cost.max() - train.mean_cost.min()) or 1.0
            lams = np.linspace(0.0, 2.0, cfg.lams) / gap
            seeds = [seed * 1000 + i for i in range(cfg.bandit_seeds)]
            record["bandit"] = bandit_points(train, test, rounds=cfg.bandit_rounds, seeds=seeds, lams=lams)
            budget = cfg.budget_fraction * float(test.mean_cost[list(m.models).index(ref)]) * cfg.bandit_rounds
            record["bandit_budget"] = bandit_points(train, test, rounds=cfg.bandit_rounds, seeds=seeds,
                                                    lams=np.zeros(1), budget=budget)
        rundir.log(record)
    return summarize(rundir)


def _bandit_stats(record: dict[str, Any]) -> dict[str, float | None]:
    b = record["bandit"]
    cost, quality = np.asarray(b["cost"]).mean(axis=1), np.asarray(b["quality"]).mean(axis=1)
    test_c, test_q = np.asarray(record["test_mean_cost"]), np.asarray(record["test_mean_quality"])
    ref = record["models"].index(record["reference"])
    big = record["models"].index(record["largest"])
    lo, hi = test_c.min(), test_c.max()
    out: dict[str, float | None] = {"aiq": None}
    if cost.min() <= lo * (1 + 1e-6) and hi > lo:
        out["aiq"] = aiq(cost, quality, (max(lo, cost.min()), hi))
    hull = nondecreasing_convex_hull(cost, quality)
    for key, target, r in (("savings", 0.95, ref), ("savings100", 1.0, ref), ("savings_largest", 0.95, big),
                           ("savings100_largest", 1.0, big)):
        saved = 1.0 - cost_at_quality(hull, target * test_q[r]) / test_c[r]
        out[key] = float(saved) if np.isfinite(saved) else None
    return out


METRICS = ("mean_cost", "mean_quality", "aiq", "savings", "savings100", "savings_largest", "savings100_largest")


def summarize(rundir: RunDir) -> dict[str, Any]:
    """Per router: mean and 95% t-interval over fleet seeds of each metric, seed-mean bootstrap ends."""
    records = [r for r in rundir.records() if "routers" in r]
    per: dict[str, dict[str, list]] = {}
    order: list[str] = []
    for rec in records:
        for r in rec["routers"]:
            if r["router"] not in per:
                order.append(r["router"])
            cells = per.setdefault(r["router"], {k: [] for k in METRICS})
            for k in METRICS:
                cells[k].append(r[k])
        if "bandit" in rec:
            cells = per.setdefault("linucb (online)", {k: [] for k in METRICS[2:]})
            if "linucb (online)" not in order:
                order.append("linucb (online)")
            for k, v in _bandit_stats(rec).items():
                cells[k].append({"value": v, "lo": None, "hi": None})
    routers: dict[str, Any] = {}
    for name in order:
        out = {}
        for k, cells in per[name].items():
            values = [c["value"] for c in cells if c["value"] is not None]
            los = [c["lo"] for c in cells if c["lo"] is not None]
            his = [c["hi"] for c in cells if c["hi"] is not None]
            entry: dict[str, Any] = {"seeds": len(cells), "seeds_defined": len(values)}
            if values:
                entry.update(mean_ci(values)._asdict())
                entry["boot_lo"] = float(np.mean(los)) if len(los) == len(cells) else None
                entry["boot_hi"] = float(np.mean(his)) if len(his) == len(cells) else None
            out[k] = entry
        routers[name] = out
    budget = None
    bud = [r["bandit_budget"] for r in records if "bandit_budget" in r]
    if bud:
        q = [float(np.mean(b["quality"])) for b in bud]
        c = [float(np.mean(b["cost"])) for b in bud]
        viol = [float(np.mean(b["budget_violation"])) for b in bud]
        per_round_budget = [b["budget"] / rundir.config["bandit_rounds"] for b in bud]
        budget = {"quality": mean_ci(q)._asdict(), "cost": mean_ci(c)._asdict(),
                  "budget_per_round": float(np.mean(per_round_budget)), "violation": mean_ci(viol)._asdict()}
    refs = sorted({r["reference"] for r in records})
    return {"seeds": [r["seed"] for r in records], "models": records[0]["models"], "reference": refs,
            "best_models": sorted({r["best_model"] for r in records}),
            "largest": sorted({r["largest"] for r in records}),
            "routers": routers, "bandit_budget": budget,
            "task_accuracy_val": mean_ci([r2["task_accuracy_val"] for rec in records for r2 in rec["routers"]
                                          if "task_accuracy_val" in r2] or [float("nan")])._asdict()}


def _cell(e: dict[str, Any] | None, scale: float = 1.0, digits: int = 3) -> str:
    if not e or "mean" not in e:
        return "n/a" if not e else f"undefined ({e['seeds_defined']}/{e['seeds']} seeds)"
    text = f"{e['mean'] * scale:.{digits}f} ± {(e['hi'] - e['lo']) / 2 * scale:.{digits}f}"
    if e.get("boot_lo") is not None:
        text += f" [{e['boot_lo'] * scale:.{digits}f}, {e['boot_hi'] * scale:.{digits}f}]"
    if e["seeds_defined"] < e["seeds"]:
        text += f" ({e['seeds_defined']}/{e['seeds']} seeds)"
    return text


def _fold_cell(e: dict[str, Any] | None) -> str:
    if not e or "mean" not in e:
        return "n/a"
    f = fold(e["mean"])
    return f"{f:.1f}x" if f is not None else "n/a"


def report(rundir: RunDir) -> str:
    import matplotlib.pyplot as plt

    from routerlab.report import markdown_table, save_figure, setup_style
    from routerlab.report.figures import plot_router_curves

    s = rundir.summary
    cfg = rundir.config
    unit = "$ per 1k queries" if cfg["unit"] == "usd" else "GFLOPs per 1k queries"
    rows = []
    for name, e in s["routers"].items():
        rows.append({"router": name, f"cost ({unit})": _cell(e.get("mean_cost"), 1000.0, 4),
                     "quality": _cell(e.get("mean_quality")), "AIQ": _cell(e.get("aiq")),
                     "savings @95%": _cell(e.get("savings")), "cost cut @95%": _fold_cell(e.get("savings")),
                     "savings @100%": _cell(e.get("savings100")), "cost cut @100%": _fold_cell(e.get("savings100")),
                     "savings @95% largest": _cell(e.get("savings_largest")),
                     "cut @95% largest": _fold_cell(e.get("savings_largest")),
                     "savings @100% largest": _cell(e.get("savings100_largest")),
                     "cut @100% largest": _fold_cell(e.get("savings100_largest"))})
    lines = [
        f"Routers on the fleet's routing log (fleet seeds {s['seeds']}; per seed the log's queries split 60/20/20 "
        "train/val/test). Cells: mean ± 95% t-interval over fleet seeds, then in brackets the seed-mean of the "
        "95% bootstrap interval over test queries. Cost and quality at the operating point chosen on val "
        "(cheapest knob reaching 95% of the reference's val quality). Savings: 1 - cost at which the router's "
        f"test hull reaches 95% (100%) of the reference model's test quality / the reference's cost. Reference: "
        f"{', '.join(s['reference'])} (the generalist with the best train quality; the best train model overall "
        f"is {', '.join(s['best_models'])}). The operating point's knob is chosen on val against the best "
        "train model overall (routerlab.fleet.evaluate). "
        f"The 'largest' columns use the largest generalist ({', '.join(s['largest'])}) as the reference instead. "
        "The price list caps any cost cut at about the ratio of the dearest to the cheapest model's cost per query. "
        "Cost cut = 1 / (1 - savings). The online row is LinUCB's hull over its lam grid (no bootstrap).",
        "",
        markdown_table(rows),
        f"Task classifier validation accuracy: {s['task_accuracy_val']['mean']:.3f}.",
        "",
    ]
    if s.get("bandit_budget"):
        b = s["bandit_budget"]
        lines += [f"Global budget (LinUCB + Lagrangian pacing and hard stop, budget = {cfg['budget_fraction']:.0%} "
                  f"of the reference's cost): quality {b['quality']['mean']:.3f} "
                  f"[{b['quality']['lo']:.3f}, {b['quality']['hi']:.3f}], cost per round "
                  f"{b['cost']['mean']:.3g} vs budget per round {b['budget_per_round']:.3g}, "
                  f"violation {b['violation']['mean']:.3g}.", ""]
    records = [r for r in rundir.records() if "routers" in r]
    rec = records[0]
    setup_style()
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_router_curves(ax, rec["routers"])
    if "bandit" in rec:
        b = rec["bandit"]
        ax.plot(np.mean(b["cost"], axis=1) * 1000, np.mean(b["quality"], axis=1), "x", color="black",
                label="linucb (online)")
    ax.set(xscale="log", title=f"fleet routing (test, seed {rec['seed']})", xlabel=f"cost ({unit})",
           ylabel="mean exact match")
    ax.legend(fontsize=6, loc="lower right")
    save_figure(fig, rundir.artifacts / "fleet_routing")
    lines += ["![cost-quality](fleet_routing.png)", ""]
    return "\n".join(lines)


def findings(rundir: RunDir) -> str:
    """The seed's pipeline (task classifier -> best model for the task) against the reference
    generalists, the best learned router by AIQ, and the per-query oracle, from the summary."""
    s = rundir.summary
    r = s["routers"]
    ref, largest = ", ".join(s["reference"]), ", ".join(s["largest"])
    quality = {name: r[f"single:{name}"]["mean_quality"] for name in (*s["reference"], *s["largest"])
               if f"single:{name}" in r}
    lines = []
    if "task_classifier" in r:
        t = r["task_classifier"]
        lines.append(
            f"The seed's pipeline (task classifier, validation accuracy {s['task_accuracy_val']['mean']:.2f}, then "
            f"the best model for the task) reaches test quality {_cell(t.get('mean_quality'))} against "
            + ", ".join(f"{n}'s {_cell(q)}" for n, q in quality.items())
            + f". It saves {_cell(t.get('savings'))} of the best generalist's ({ref}) cost at 95% of its quality "
            f"(a {_fold_cell(t.get('savings'))} cost cut) and {_cell(t.get('savings_largest'))} of the largest "
            f"generalist's ({largest}) ({_fold_cell(t.get('savings_largest'))}). Any cut is capped by the price "
            "list's ratio of the dearest to the cheapest model's cost per query"
            + ("." if s["reference"] == s["largest"] else
               "; the seed's 10-100x compares against the dearest model, not the best one."))
    if "mf" in r and r["mf"].get("aiq", {}).get("mean") is not None:
        # quoted router fixed in advance (RouteLLM's), not the best on test
        text = f"AIQ of the matrix-factorisation router: {_cell(r['mf']['aiq'])}"
        if "oracle" in r:
            text += f"; the per-query oracle reaches {_cell(r['oracle'].get('aiq'))}"
        if "random" in r:
            text += f"; random routing {_cell(r['random'].get('aiq'))}"
        lines.append(text + ".")
    return "\n\n".join(lines) + "\n"


def paper(rundir: RunDir, out: Path, provenance: str) -> list[Path]:
    from routerlab.report import latex_table
    from routerlab.report.paper import write_findings

    s = rundir.summary
    rows = [{"router": n, "AIQ": _cell(e.get("aiq")), "savings@95": _cell(e.get("savings")),
             "savings@100": _cell(e.get("savings100")), "savings@95 (largest)": _cell(e.get("savings_largest")),
             "savings@100 (largest)": _cell(e.get("savings100_largest"))} for n, e in s["routers"].items()]
    table = latex_table(rows, ["router", "AIQ", "savings@95", "savings@100", "savings@95 (largest)",
                               "savings@100 (largest)"],
                        caption=(f"Routing over the toy fleet: AIQ and cost saved at 95\\% / 100\\% of the best "
                                 f"generalist ({', '.join(s['reference'])}) and of the largest "
                                 f"({', '.join(s['largest'])}), mean $\\pm$ 95\\% t-interval over "
                                 f"{len(s['seeds'])} fleet seeds [bootstrap interval]."),
                        label="tab:fleet_routing")
    tex = out / "tables" / "fleet_routing.tex"
    tex.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(tex, f"% {provenance}\n" + table)
    return [tex, write_findings(out, "fleet_routing", findings(rundir), provenance)]


# -- the lambda sweep ----------------------------------------------------------------------


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


def _oracle_curve(test: Split, lams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query oracle under ``quality - lam * cost`` at each ``lam``: mean (cost, quality)."""
    c, q = [], []
    for lam in lams:
        pick = np.argmax(test.quality - lam * test.cost, axis=1)
        rows = np.arange(len(test))
        c.append(test.cost[rows, pick].mean())
        q.append(test.quality[rows, pick].mean())
    return np.array(c), np.array(q)


def run_lambda(cfg: LambdaSweepConfig, rundir: RunDir) -> dict[str, Any]:
    fleet = ensure_fleet(cfg.fleet, _runs_root(rundir))
    done = rundir.completed_units()
    for seed in fleet.seeds:
        unit = f"seed{seed}"
        if unit in done:
            continue
        m = to_matrices(fleet.log(seed, cfg.unit), source=f"fleet seed {seed}")
        train, _, test = _splits(m, cfg.feature_dim, seed)
        gap = float(train.mean_cost.max() - train.mean_cost.min()) or 1.0
        lams = np.concatenate([[0.0], np.geomspace(cfg.lam_min, cfg.lam_max, cfg.lams - 1)]) / gap
        seeds = [seed * 1000 + i for i in range(cfg.bandit_seeds)]
        pts = bandit_points(train, test, rounds=cfg.rounds, seeds=seeds, lams=lams)
        oc, oq = _oracle_curve(test, lams)
        rundir.log({"unit": unit, "seed": seed, "fleet": f"_fleets/{fleet.path.name}", "models": list(m.models),
                    "test_mean_quality": test.mean_quality.tolist(), "test_mean_cost": test.mean_cost.tolist(),
                    "lam_scaled": (lams * gap).tolist(), **pts,
                    "oracle_cost": oc.tolist(), "oracle_quality": oq.tolist()})
    return summarize_lambda(rundir)


def summarize_lambda(rundir: RunDir) -> dict[str, Any]:
    records = [r for r in rundir.records() if "lam" in r]
    lam_scaled = records[0]["lam_scaled"]
    # per lam: mean over fleet seeds of the bandit-seed mean; intervals over fleet seeds
    q = np.array([np.mean(r["quality"], axis=1) for r in records])  # [fleet seeds, L]
    c = np.array([np.mean(r["cost"], axis=1) for r in records])
    curve = [{"lam_scaled": lam_scaled[i], "quality": mean_ci(q[:, i])._asdict(), "cost": mean_ci(c[:, i])._asdict()}
             for i in range(len(lam_scaled))]
    aiqs = []
    for r in records:
        cost, qual = np.mean(r["cost"], axis=1), np.mean(r["quality"], axis=1)
        lo, hi = min(r["test_mean_cost"]), max(r["test_mean_cost"])
        aiqs.append(aiq(cost, qual, (max(lo, cost.min()), hi)) if cost.min() <= lo * (1 + 1e-6) else float("nan"))
    finite = [a for a in aiqs if np.isfinite(a)]
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


def findings_lambda(rundir: RunDir) -> str:
    """Both ends of LinUCB's curve over the cost penalty."""
    s = rundir.summary
    lo, hi = s["curve"][0], s["curve"][-1]

    def point(p: dict[str, Any]) -> str:
        q, c = p["quality"], p["cost"]
        return (f"quality {q['mean']:.3f} ± {(q['hi'] - q['lo']) / 2:.3f} at "
                f"${c['mean'] * 1000:.3g} ± {(c['hi'] - c['lo']) / 2 * 1000:.2g} per 1k queries")

    return (f"LinUCB replayed online over {len(s['curve'])} cost penalties in one compiled call: {point(lo)} at "
            f"lam = {lo['lam_scaled']:g} (times the cost gap), {point(hi)} at lam = {hi['lam_scaled']:g}.\n")


def paper_lambda(rundir: RunDir, out: Path, provenance: str) -> list[Path]:
    """``figures/lambda_sweep.pdf`` and its findings."""
    from routerlab.report import save_figure
    from routerlab.report.paper import write_findings

    return [write_findings(out, "lambda_sweep", findings_lambda(rundir), provenance),
            *save_figure(_lambda_figure(rundir), out / "figures" / "lambda_sweep", subject=provenance, png=False)]


def report_lambda(rundir: RunDir) -> str:
    from routerlab.report import markdown_table, save_figure

    s = rundir.summary
    rows = [{"lam x cost gap": f"{p['lam_scaled']:.3g}",
             "cost / 1k queries": f"{p['cost']['mean'] * 1000:.4g} ± {(p['cost']['hi'] - p['cost']['lo']) / 2 * 1000:.2g}",
             "quality": f"{p['quality']['mean']:.3f} ± {(p['quality']['hi'] - p['quality']['lo']) / 2:.3f}"}
            for p in s["curve"]]
    a = s.get("aiq")
    lines = [f"LinUCB's cost-quality curve over the cost penalty, one compiled vmap over lam x bandit seeds per fleet "
             f"seed {s['seeds']} (mean ± 95% t-interval over fleet seeds of the bandit-seed means).",
             "", markdown_table(rows),
             f"AIQ of the bandit curve: {a['mean']:.3f} [{a['lo']:.3f}, {a['hi']:.3f}] "
             f"({s['aiq_seeds_defined']}/{len(s['seeds'])} seeds defined)." if a else "AIQ undefined.", ""]
    save_figure(_lambda_figure(rundir), rundir.artifacts / "lambda_sweep")
    lines += ["![lambda sweep](lambda_sweep.png)", ""]
    return "\n".join(lines)
