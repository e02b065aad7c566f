"""fleet_routing's run (one resumable unit per fleet seed) and its summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.data import to_matrices
from routerlab.data.schema import RoutingMatrices
from routerlab.fleet.evaluate import evaluate_router
from routerlab.fleet.fleet import ensure_fleet
from routerlab.fleet.metrics import curve_stats
from routerlab.fleet.protocol import (
    across_seeds,
    lambda_grid,
    one_pass_bandits,
    realised_point,
    replay_linucb,
    savings_vs,
)
from routerlab.fleet.routers import default_routers, one_blas_thread, trace
from routerlab.fleet.shipped import load_shipped
from routerlab.report import mean_ci
from routerlab.rundir import RunDir
from routerlab.studies.fleet_routing.config import COST_MODELS, FleetRoutingConfig, _runs_root, char_features, splits_of
from routerlab.studies.fleet_routing.costs import chance_rows, cost_matrices, measure_latency, routellm_lead

__all__ = ["run", "summarize", "METRICS", "ONE_PASS", "REPLAY"]

#: Row names of the online bandits: the deployable one-pass run, and the replay that serves the
#: test log's few hundred queries thousands of times (so it can memorise them: optimistic).
ONE_PASS = "linucb (one pass, online)"
REPLAY = "linucb (replayed log, optimistic)"

#: Per-router statistics summarised over fleet seeds (each a per-seed bootstrap interval).
METRICS = ("mean_cost", "mean_quality", "aiq", "delta_aiq", "savings", "savings100", "savings_largest",
           "savings100_largest")
#: The bandit replay's statistics (its curve has no bootstrap; no ΔAIQ).
REPLAY_METRICS = ("aiq", "savings", "savings100", "savings_largest", "savings100_largest")


def _fleet(cfg: FleetRoutingConfig, rundir: RunDir):
    """The fleet whose logs are routed: the shipped one (checksums verified) or ``cfg.fleet``."""
    if cfg.fleet_log:
        return load_shipped(cfg.fleet_log.removeprefix("shipped:"))
    return ensure_fleet(cfg.fleet, _runs_root(rundir))


def _seed_record(cfg: FleetRoutingConfig, fleet, seed: int, latency: dict[str, Any]) -> dict[str, Any]:
    """Every router, under every cost model, on fleet seed ``seed``'s log."""
    m = to_matrices(fleet.log(seed, cfg.unit), source=f"fleet seed {seed}")
    x = char_features(m, cfg.feature_dim, seed)
    costs = cost_matrices(fleet, seed, m, latency)
    splits = {u: splits_of(RoutingMatrices(m.query_ids, m.models, m.tasks, m.prompts, m.splits, m.quality, costs[u]), x)
              for u in COST_MODELS}
    train, val, test = splits_of(m, x)
    roles = {x["name"]: x["role"] for x in fleet.models}
    routers = default_routers(train, seed=seed, steps=cfg.steps)
    generalists = [i for i, name in enumerate(m.models) if roles[name] == "generalist"]
    ref_i = max(generalists, key=lambda i: train.mean_quality[i])  # the best generalist on train
    params = {x["name"]: x["params"] for x in fleet.models}
    big_i = max(generalists, key=lambda i: params[m.models[i]])  # the largest generalist
    results = []
    with one_blas_thread():
        for r in routers:
            r.fit(train, val)
            rec = evaluate_router(r, val, test, target=cfg.target, n_boot=cfg.n_boot, seed=seed)
            rec["savings_vs_best_model"] = rec.pop("savings")  # evaluate_router's reference: best test model
            tr = trace(r, test)
            for key, ref, goal in (("savings", ref_i, cfg.target), ("savings100", ref_i, 1.0),
                                   ("savings_largest", big_i, cfg.target), ("savings100_largest", big_i, 1.0)):
                rec[key] = savings_vs(tr, test, ref, goal, cfg.n_boot, seed)
            if r.name == "task_classifier":
                rec["task_accuracy_val"] = float(r.predictor.val_accuracy)
            rec["cost_models"] = {}
            for u in COST_MODELS:  # fitted predictors are reused; only the cost knob changes
                tr_u, va_u, te_u = splits[u]
                r.fit(tr_u, va_u)
                rec["cost_models"][u] = {
                    "realised": realised_point(r, va_u, te_u, ref_i, cfg.target, cfg.n_boot, seed),
                    "hull_savings": savings_vs(trace(r, te_u), te_u, ref_i, cfg.target, cfg.n_boot, seed)}
            r.fit(train, val)
            results.append(rec)
    record: dict[str, Any] = {
        "unit": f"seed{seed}", "seed": seed, "fleet": getattr(fleet, "label", f"_fleets/{fleet.path.name}"),
        "models": list(m.models),
        "reference": m.models[ref_i], "best_model": m.models[int(np.argmax(train.mean_quality))],
        "largest": m.models[big_i], "queries": {s: int(np.sum(m.splits == s)) for s in ("train", "val", "test")},
        "test_mean_quality": test.mean_quality.tolist(), "test_mean_cost": test.mean_cost.tolist(),
        "test_mean_cost_models": {u: splits[u][2].mean_cost.tolist() for u in COST_MODELS},
        "latency": latency, "target": cfg.target, "routers": results,
        "chance": fleet.chance(seed) if cfg.fleet_log else chance_rows(m, cfg.fleet, seed),
        "one_pass": one_pass_bandits(splits, ref_i, target=cfg.target, points=cfg.lams, orders=cfg.one_pass_orders,
                                     seed=seed),
    }
    if cfg.bandit_rounds:
        lams = lambda_grid(train, cfg.lams)
        seeds = [seed * 1000 + i for i in range(cfg.bandit_seeds)]
        record["bandit"] = replay_linucb(test, rounds=cfg.bandit_rounds, seeds=seeds, lams=lams)
        budget = cfg.budget_fraction * float(test.mean_cost[ref_i]) * cfg.bandit_rounds
        record["bandit_budget"] = replay_linucb(test, rounds=cfg.bandit_rounds, seeds=seeds, lams=np.zeros(1),
                                                budget=budget)
    return record


def run(cfg: FleetRoutingConfig, rundir: RunDir) -> dict[str, Any]:
    """One record for the RouteLLM lead, then one per fleet seed; resumable."""
    fleet = _fleet(cfg, rundir)
    done = rundir.completed_units()
    if "routellm" not in done:
        rundir.log({"unit": "routellm", "routellm": routellm_lead(cfg)})
    if cfg.fleet_log and "provenance" not in done:
        rundir.log({"unit": "provenance", "shipped": fleet.provenance})
    if not cfg.fleet_log and "size_control" not in done:
        rundir.log({"unit": "size_control", "size_control": fleet_size_control(
            fleet.meta, measure=cfg.size_measure, alpha=cfg.size_alpha)})
    latency = fleet.latency if cfg.fleet_log else None  # shipped: measured when the log was made
    for seed in fleet.seeds:
        if f"seed{seed}" in done:
            continue
        if latency is None:  # measured once per run, on this machine, for every model of the log
            arch = {x["name"]: (cfg.fleet.specialist.name if x["role"] == "specialist" else x["name"])
                    for x in fleet.models}
            logged = sorted(set(fleet.log(seed, cfg.unit)["model"]))  # the fleet's controls are not routed
            latency = measure_latency(cfg.fleet, {name: arch[name] for name in logged}, cfg.latency_repeats)
        rundir.log(_seed_record(cfg, fleet, seed, latency))
    return summarize(rundir)


def _bandit_stats(record: dict[str, Any]) -> dict[str, float | None]:
    """AIQ and savings of the replayed bandit's curve (bandit-seed means over the lam grid)."""
    b = record["bandit"]
    test_c, test_q = record["test_mean_cost"], record["test_mean_quality"]
    ref, big = record["models"].index(record["reference"]), record["models"].index(record["largest"])
    targets = {"savings": (0.95 * test_q[ref], test_c[ref]), "savings100": (test_q[ref], test_c[ref]),
               "savings_largest": (0.95 * test_q[big], test_c[big]), "savings100_largest": (test_q[big], test_c[big])}
    return curve_stats(np.mean(b["cost"], axis=1), np.mean(b["quality"], axis=1), (min(test_c), max(test_c)), targets)


def _protocol_entry(points: list[dict[str, Any]], hull: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Across seeds: realised cost (fraction of the reference's), savings, quality, miss rate,
    and the optimistic hull savings beside them."""
    ratios = [p["cost_ratio"] for p in points if p["cost_ratio"] is not None]
    hs = [h["value"] for h in hull if h and h.get("value") is not None]
    return {"cost": mean_ci(ratios)._asdict() if ratios else None,
            "savings": mean_ci([1 - r for r in ratios])._asdict() if ratios else None,
            "quality": mean_ci([p["quality"] for p in points])._asdict(),
            "quality_ratio": mean_ci([p["quality_ratio"] for p in points])._asdict(),
            "miss_rate": float(np.mean([p["miss_rate"] for p in points])),
            "hull_savings_optimistic": ({**mean_ci(hs)._asdict(), "seeds_defined": len(hs), "seeds": len(hull)}
                                        if hs else {"seeds_defined": 0, "seeds": len(hull)})}


def _add_protocol(routers: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Per router (and the one-pass bandit): ``cost_models[u]`` for each cost model and
    ``realised`` = ``{"cost", "quality", "miss_rate"}`` under the price list."""
    if not records or "one_pass" not in records[0]:
        return
    for name in [r["router"] for r in records[0]["routers"]]:
        recs = [next(r for r in rec["routers"] if r["router"] == name) for rec in records]
        routers[name]["cost_models"] = {
            u: _protocol_entry([r["cost_models"][u]["realised"] for r in recs],
                               [r["cost_models"][u]["hull_savings"] for r in recs]) for u in COST_MODELS}
    hull: dict[str, list[dict[str, float | None]]] = {u: [] for u in COST_MODELS}
    for u in COST_MODELS:
        for rec in records:
            one = rec["one_pass"][u]
            ref = rec["models"].index(rec["reference"])
            costs = rec["test_mean_cost_models"][u]
            goal = (rec.get("target", 0.95) * rec["test_mean_quality"][ref], costs[ref])
            stats = curve_stats(one["curve"]["cost"], one["curve"]["quality"], (min(costs), max(costs)), {"s": goal})
            hull[u].append({"value": stats["s"]})
    routers[ONE_PASS] = {"cost_models": {u: _protocol_entry([rec["one_pass"][u] for rec in records], hull[u])
                                         for u in COST_MODELS}}
    for entry in routers.values():
        if "cost_models" in entry:
            price = entry["cost_models"]["price"]
            entry["realised"] = {"cost": price["cost"], "quality": price["quality"], "miss_rate": price["miss_rate"]}


def _chance_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not records or "chance" not in records[0]:
        return None
    return {"majority": mean_ci([r["chance"]["majority"] for r in records])._asdict(),
            "uniform": mean_ci([r["chance"]["uniform"] for r in records])._asdict(),
            "ceiling": records[0]["chance"]["ceiling"]}


def _budget_summary(records: list[dict[str, Any]], rounds: int) -> dict[str, Any] | None:
    bud = [r["bandit_budget"] for r in records if "bandit_budget" in r]
    if not bud:
        return None
    return {"quality": mean_ci([float(np.mean(b["quality"])) for b in bud])._asdict(),
            "cost": mean_ci([float(np.mean(b["cost"])) for b in bud])._asdict(),
            "budget_per_round": float(np.mean([b["budget"] / rounds for b in bud])),
            "violation": mean_ci([float(np.mean(b["budget_violation"])) for b in bud])._asdict()}


def summarize(rundir: RunDir) -> dict[str, Any]:
    """Per router: mean and 95% t-interval over fleet seeds of each metric, seed-mean bootstrap ends."""
    records = [r for r in rundir.records() if "routers" in r]
    per: dict[str, dict[str, list]] = {}
    for rec in records:
        for r in rec["routers"]:
            cells = per.setdefault(r["router"], {k: [] for k in METRICS})
            for k in METRICS:
                cells[k].append(r.get(k) or {"value": None, "lo": None, "hi": None})
        if "bandit" in rec:
            cells = per.setdefault(REPLAY, {k: [] for k in REPLAY_METRICS})
            for k, v in _bandit_stats(rec).items():
                cells[k].append({"value": v, "lo": None, "hi": None})
    routers = {name: {k: across_seeds(cells) for k, cells in metrics.items()} for name, metrics in per.items()}
    _add_protocol(routers, records)
    provenance = next((r["shipped"] for r in rundir.records() if "shipped" in r), None)
    size = next((r["size_control"] for r in rundir.records() if "size_control" in r),
                (provenance or {}).get("size_control"))
    return {"seeds": [r["seed"] for r in records], "models": records[0]["models"],
            "reference": sorted({r["reference"] for r in records}),
            "best_models": sorted({r["best_model"] for r in records}),
            "largest": sorted({r["largest"] for r in records}), "fleet": records[0].get("fleet"),
            "shipped": provenance, "routers": routers,
            "bandit_budget": _budget_summary(records, rundir.config["bandit_rounds"]),
            "target": rundir.config.get("target", 0.95), "chance": _chance_summary(records),
            "routellm": next((r["routellm"] for r in rundir.records() if "routellm" in r), None),
            "size_control": size,
            "verdict": gated_s5(s5_verdict(routers, len(records)), size),
            "replay_rounds_per_query": (rundir.config["bandit_rounds"] / records[0]["queries"]["test"]
                                        if records and rundir.config.get("bandit_rounds") else None),
            "task_accuracy_val": mean_ci([r2["task_accuracy_val"] for rec in records for r2 in rec["routers"]
                                          if "task_accuracy_val" in r2] or [float("nan")])._asdict()}


def fleet_size_control(meta: dict[str, Any], needed: int | None = None, measure: str | None = None,
                       alpha: float = 0.05) -> dict[str, Any]:
    """The fleet's size control (:func:`routerlab.studies.fleet_specialists.study.size_control`:
    each larger generalist beats the next smaller one on ``measure``, test exact match or answer
    NLL, paired over seeds, on at least ``needed`` families), read from a built fleet's
    ``fleet.json``; the shape the shipped log's manifest records it in. ``needed`` and
    ``measure`` default to specialists_vs_generalists' own; under ``answer_nll`` the families at
    the exact-match ceiling neither count nor decide, as there."""
    from routerlab.studies.fleet_specialists.study import SpecialistsConfig, size_control, size_metric

    needed = SpecialistsConfig.size_families if needed is None else needed
    measure = SpecialistsConfig.size_measure if measure is None else measure

    gens = [m for m in meta["models"] if m["role"] == "generalist"]
    families = meta["families"]
    if len(gens) < 2:
        return {"resolved": True, "families_resolved": 0, "families": len(families), "needed": needed,
                "note": "one generalist: no size ladder"}
    per_seed = list(meta["seeds"].values())
    names = [g["name"] for g in gens]
    em, _ = size_control(size_metric(per_seed, names, families), gens, families, needed, alpha)
    entry = em if measure == "exact_match" else size_control(
        size_metric(per_seed, names, families, measure), gens, families, needed, alpha, measure,
        also_saturated=em["at_ceiling"])[0]
    return {"resolved": entry["resolved"], "families_resolved": entry["families_resolved"],
            "families": len(families), "needed": needed, "resolved_families": entry["families"],
            "at_ceiling": entry["at_ceiling"], "measure": measure}


def gated_s5(verdict: str, size: dict[str, Any] | None) -> str:
    """S5 is judged only on a fleet whose size control passes (a bigger generalist must beat a
    smaller one before "better quality per dollar than any single model" means anything): else
    ``underpowered: ...``, with the ungated reading kept for the record."""
    if size is None or size["resolved"]:
        return verdict
    on = " on answer NLL" if size.get("measure") == "answer_nll" else ""
    telling = size["families"] - len(size.get("at_ceiling", []))
    return (f"underpowered: the fleet's size control{on} is not resolved ({size['families_resolved']} of the "
            f"{telling} families that can tell resolve gen-l > gen-m > gen-s, {size['needed']} needed), so S5 is "
            f"not judged on this fleet. For the record: {verdict}")


def s5_verdict(routers: dict[str, Any], seeds: int) -> str:
    """S5 on the fleet: does a router beat the zero router (the hull of the single models: any
    mix of them at any cost) in AIQ? Each candidate's ΔAIQ t-test over fleet seeds (p from its
    95% t-interval), Holm-corrected over the candidates: ``holds`` if one is resolved above 0,
    ``fails`` if every interval lies below 0, not resolved otherwise. Single models, oracles,
    random mixing and the replayed-log bandit (optimistic) are not candidates."""
    from scipy import stats

    from routerlab.report.stats import holm

    cand = {n: e["delta_aiq"] for n, e in routers.items()
            if not n.startswith("single:") and "oracle" not in n and n != "random" and "replayed" not in n
            and (e.get("delta_aiq") or {}).get("lo") is not None and e["delta_aiq"].get("n", 0) >= 2}
    if not cand:
        return "S5 is not testable here: no router's AIQ over the zero router was measured over >= 2 fleet seeds."
    names = sorted(cand)

    def p_value(e: dict[str, Any]) -> float:
        se = (e["hi"] - e["lo"]) / 2 / stats.t.ppf(0.975, e["n"] - 1)
        return float(2 * stats.t.sf(abs(e["mean"]) / se, e["n"] - 1)) if se > 0 else float(e["mean"] == 0)

    p_holm = dict(zip(names, holm([p_value(cand[n]) for n in names])))
    won = [n for n in names if cand[n]["mean"] > 0 and p_holm[n] < 0.05]
    word = "holds" if won else "fails" if all(cand[n]["hi"] < 0 for n in names) else "is not resolved"
    shown = won or [max(names, key=lambda n: cand[n]["mean"])]
    cells = "; ".join(f"{n} {cand[n]['mean']:+.3f} [{cand[n]['lo']:+.3f}, {cand[n]['hi']:+.3f}], Holm p "
                      f"{p_holm[n]:.2g}" for n in shown)
    return (f"S5 (a routed fleet gives better quality per dollar than any single model) {word} on the toy fleet: "
            f"{'resolved' if won else 'best'} ΔAIQ over the zero router (the hull of the single models) across "
            f"{seeds} fleet seeds, {cells} (95% t-interval; Holm over {len(names)} routers).")
