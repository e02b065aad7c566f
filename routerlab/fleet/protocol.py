"""The deployable protocol across a fleet, and the online bandit on a routing log.

Shared by the studies that route over a log (``fleet_routing``, ``lambda_sweep``,
``real_benchmarks``); every number they report about an operating point or a bandit curve
comes from here or from :mod:`routerlab.fleet.metrics`.

* :func:`lambda_grid`: the cost penalties ``lam`` of LinUCB's reward ``quality - lam * cost``,
  scaled by the train cost gap so that ``lam * gap`` spans ``0..top`` quality units;
* :func:`replay_linucb`: LinUCB replayed on a split's queries (drawn with replacement, so it
  can memorise them: optimistic), one compiled call for every ``lam`` and seed;
* :func:`one_pass_points` and :func:`one_pass_bandit`: LinUCB serving each unseen query once,
  ``lam`` fixed on a one-pass run over validation (deployable);
* :func:`realised_point`: a fitted router's operating point fixed on validation and paid
  for on test, with how often the quality target is missed over test resamples;
* :func:`savings_vs`: savings read off a router's test hull against a reference model, with
  the bootstrap interval (optimistic: the hull is drawn on the test queries themselves);
* :func:`across_seeds`: one statistic's mean and t-interval over seeds, beside the seed-mean
  of its bootstrap interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.fleet.evaluate import choose_knob, interval
from routerlab.fleet.metrics import choose_operating_point, nondecreasing_convex_hull, savings_fraction
from routerlab.fleet.routers import Router, RouterTrace, Split, trace, visible

__all__ = ["cost_gap", "lambda_grid", "replay_linucb", "one_pass_points", "one_pass_bandit", "one_pass_bandits", "realised_point", "realised_stats",
           "savings_vs", "across_seeds"]


def cost_gap(train: Split) -> float:
    """The train mean cost of the dearest model minus the cheapest's (1 when all cost the same)."""
    return float(train.mean_cost.max() - train.mean_cost.min()) or 1.0


def lambda_grid(train: Split, points: int, top: float = 2.0) -> np.ndarray:
    """``points`` cost penalties from 0 to ``top /`` :func:`cost_gap`."""
    return np.linspace(0.0, top, points) / cost_gap(train)


def _contexts(split: Split) -> np.ndarray:
    """The bandit's context: the split's prompt features plus an intercept."""
    return np.concatenate([split.x, np.ones((len(split), 1), np.float32)], axis=1)


def replay_linucb(test: Split, *, rounds: int, seeds: list[int], lams: np.ndarray, budget: float | None = None,
                  alpha: float = 0.5) -> dict[str, Any]:
    """LinUCB replayed on ``test`` for every ``lam`` and seed in one compiled call.

    Costs are not known before the call: the context carries each model's mean cost
    (``cost_known=False``). Returns per-round mean ``quality`` and ``cost`` as ``[L][S]``
    lists, and with ``budget`` (total over ``rounds``; a Lagrangian-paced LinUCB with a hard
    stop) the budget violation ``[L][S]``.
    """
    from routerlab.bandits import lagrangian, linucb, replay, simulate

    env = replay(_contexts(test), test.quality, test.cost, cost_known=False)
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


def savings_vs(tr: RouterTrace, test: Split, ref: int, target: float, n_boot: int, seed: int) -> dict[str, float | None]:
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
            out[b] = savings_fraction(hull, target * ref_q[b], ref_c[b])
        return out

    return interval(stat, n, n_boot, seed)


def realised_stats(quality: np.ndarray, cost: np.ndarray, ref_quality: float, ref_cost: float, target: float,
                   missed: np.ndarray) -> dict[str, Any]:
    """What a deployed operating point paid and served: mean ``cost`` and ``quality``, their
    ratios to the reference model's (``cost_ratio`` is ``None`` for a free reference), ``miss`` (mean quality below ``target`` x the reference's)
    and ``miss_rate`` = the mean of ``missed`` (one flag per resample or query order)."""
    q, c = float(np.mean(quality)), float(np.mean(cost))
    return {"cost": c, "cost_ratio": c / ref_cost if ref_cost > 0 else None,
            "quality": q, "quality_ratio": q / max(ref_quality, 1e-12),  # a reference at 0 quality: huge
            "miss": bool(q < target * ref_quality), "miss_rate": float(np.mean(missed))}


def realised_point(router: Router, val: Split, test: Split, ref: int, target: float, n_boot: int,
                   seed: int) -> dict[str, Any]:
    """The deployable protocol: the operating point fixed on *validation*, then paid for on test.

    The knob is the cheapest whose validation quality reaches ``target`` x model ``ref``'s
    validation quality (:func:`routerlab.fleet.evaluate.choose_knob`; the best knob when none
    does). On test, :func:`realised_stats`, whose ``miss_rate`` is the fraction of ``n_boot``
    bootstrap resamples of the test queries on which the realised quality falls below
    ``target`` x ``ref``'s quality on that resample; ``knob`` is the knob (``None`` if infinite).
    """
    val_tr = trace(router, val)
    k = choose_knob(val_tr, target * val.mean_quality[ref])
    q, c = router.route(visible(router, test), val_tr.knobs[k]).outcomes(test)
    n = len(test)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    missed = q[idx].mean(axis=1) < target * test.quality[idx, ref].mean(axis=1)
    knob = float(val_tr.knobs[k]) if np.isfinite(val_tr.knobs[k]) else None
    return {"knob": knob, **realised_stats(q, c, float(test.mean_quality[ref]), float(test.mean_cost[ref]), target,
                                           missed)}


def _pass_env(contexts: np.ndarray, quality: np.ndarray, cost: np.ndarray, known_cost: np.ndarray):
    """A bandit environment that serves the queries in the order ``params["order"]`` (one pass).

    The context carries ``known_cost``, each model's mean cost on *train* (a call's cost is
    not known before the answer is written).
    """
    import jax.numpy as jnp

    from routerlab.bandits.types import BanditSpec, Context, Env, Round

    q_, m_ = quality.shape
    params = {"contexts": jnp.asarray(contexts, jnp.float32), "quality": jnp.asarray(quality, jnp.float32),
              "cost": jnp.asarray(cost, jnp.float32), "known": jnp.asarray(known_cost, jnp.float32),
              "order": jnp.arange(q_)}

    def step(p, key, t):
        i = p["order"][t]
        q, c = p["quality"][i], p["cost"][i]
        ctx = Context(p["contexts"][i], jnp.zeros((m_, 0), jnp.float32), jnp.ones((m_,), bool), p["known"],
                      jnp.zeros((), jnp.float32))
        return Round(ctx, q, c, q, c)

    return Env("one_pass", BanditSpec(m_, contexts.shape[1], 0), step, params)


def one_pass_points(train: Split, split: Split, lams: np.ndarray, orders: int, seed: int,
                    alpha: float = 0.5) -> dict[str, Any]:
    """LinUCB starting cold and serving each query of ``split`` exactly once, in ``orders``
    random orders, for every ``lam``: mean quality and cost per query as ``[L][E]`` lists."""
    import jax
    import jax.numpy as jnp

    from routerlab.bandits import linucb, simulate

    env = _pass_env(_contexts(split), split.quality, split.cost, train.mean_cost)
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(len(split)) for _ in range(orders)])
    stacked = jax.tree.map(lambda a: jnp.stack([a] * orders), env.params)
    stacked["order"] = jnp.asarray(perms)
    rounds = len(split)
    out = simulate(linucb, env, rounds=rounds, seeds=[seed], hparams={"alpha": [alpha]}, lams=lams,
                   env_params=stacked, record_every=rounds)
    q = np.asarray(out.quality)[:, 0, :, 0, -1] / rounds  # [E, L]
    c = np.asarray(out.cost)[:, 0, :, 0, -1] / rounds
    return {"lam": [float(v) for v in lams], "quality": q.T.tolist(), "cost": c.T.tolist()}


def one_pass_bandit(train: Split, val: Split, test: Split, ref: int, *, target: float, lams: np.ndarray,
                    orders: int, seed: int) -> dict[str, Any]:
    """The online router under the deployable protocol: ``lam`` fixed on a one-pass run over the
    validation queries (:func:`~routerlab.fleet.metrics.choose_operating_point`: the cheapest
    ``lam`` whose mean quality reaches ``target`` x ``ref``'s, else the best), then one pass
    over the unseen test queries. ``miss_rate`` is over orders; ``curve`` holds the test
    pass's mean cost and quality at every ``lam``. One :func:`one_pass_points` call per split:
    the reference for :func:`one_pass_bandits`, which runs many cost models in one call."""
    on_val = one_pass_points(train, val, lams, orders, seed)
    on_test = one_pass_points(train, test, lams, orders, seed + 1)
    return _deployed(on_val, on_test, val, test, ref, target, lams)


def _deployed(on_val: dict[str, Any], on_test: dict[str, Any], val: Split, test: Split, ref: int, target: float,
              lams: np.ndarray) -> dict[str, Any]:
    """``lam`` fixed on the validation pass, paid for on the test pass (see :func:`one_pass_bandit`)."""
    k = choose_operating_point(np.mean(on_val["cost"], axis=1), np.mean(on_val["quality"], axis=1),
                               target * val.mean_quality[ref])
    q, c = np.asarray(on_test["quality"][k]), np.asarray(on_test["cost"][k])
    ref_q = float(test.mean_quality[ref])
    return {"lam": float(lams[k]),
            **realised_stats(q, c, ref_q, float(test.mean_cost[ref]), target, q < target * ref_q),
            "curve": {"cost": np.mean(on_test["cost"], axis=1).tolist(),
                      "quality": np.mean(on_test["quality"], axis=1).tolist()}}


def one_pass_bandits(splits: dict[str, tuple[Split, Split, Split]], ref: int, *, target: float, points: int,
                     orders: int, seed: int, alpha: float = 0.5) -> dict[str, dict[str, Any]]:
    """:func:`one_pass_bandit` for several cost models at once (``splits[unit] = (train, val,
    test)``, the same queries and outcomes under another cost), in ONE compiled simulation.

    Each unit's ``lams`` is :func:`lambda_grid` of its train split; the costs are divided by
    the unit's cost gap instead, so every unit shares one grid (``lam * cost`` is unchanged up
    to float32 rounding). The validation and test passes run side by side, padded to the
    longer split with queries of zero context, quality and cost served *after* every real
    query (so they change no decision and add nothing to the sums). Query orders and policy
    seeds are those of :func:`one_pass_bandit` (``seed`` for validation, ``seed + 1`` for test).
    """
    import jax.numpy as jnp

    from routerlab.bandits import linucb, simulate

    units = list(splits)
    first_train, first_val, first_test = splits[units[0]]
    n = max(len(first_val), len(first_test))
    scaled = np.linspace(0.0, 2.0, points)
    gaps = {u: cost_gap(splits[u][0]) for u in units}
    entries = []  # (phase index, unit, order) per env entry
    stacked: dict[str, list] = {"contexts": [], "quality": [], "cost": [], "known": [], "order": []}
    for phase, idx in (("val", 1), ("test", 2)):
        split = first_val if phase == "val" else first_test
        rng = np.random.default_rng(seed + (idx - 1))
        perms = [rng.permutation(len(split)) for _ in range(orders)]
        pad = n - len(split)
        ctx = np.concatenate([_contexts(split), np.zeros((pad, split.x.shape[1] + 1), np.float32)])
        for u in units:
            part = splits[u][idx]
            cost = np.concatenate([part.cost, np.zeros((pad, part.cost.shape[1]))]) / gaps[u]
            qual = np.concatenate([part.quality, np.zeros((pad, part.quality.shape[1]))])
            for e, perm in enumerate(perms):
                entries.append((idx - 1, u, e))
                stacked["contexts"].append(ctx)
                stacked["quality"].append(qual)
                stacked["cost"].append(cost)
                stacked["known"].append(splits[u][0].mean_cost / gaps[u])
                stacked["order"].append(np.concatenate([perm, np.arange(len(split), n)]))
    env = _pass_env(stacked["contexts"][0], stacked["quality"][0], stacked["cost"][0], stacked["known"][0])
    params = {k: jnp.asarray(np.stack(v), jnp.int32 if k == "order" else jnp.float32) for k, v in stacked.items()}
    out = simulate(linucb, env, rounds=n, seeds=[seed, seed + 1], hparams={"alpha": [alpha]}, lams=scaled,
                   env_params=params, record_every=n)
    quality = np.asarray(out.quality)[:, 0, :, :, -1]  # [E, L, S] totals over the pass
    cost = np.asarray(out.cost)[:, 0, :, :, -1]
    result: dict[str, dict[str, Any]] = {}
    for u in units:
        train, val, test = splits[u]
        passes = []
        for phase, split in ((0, val), (1, test)):
            rows = [i for i, (ph, unit, _) in enumerate(entries) if ph == phase and unit == u]
            q = quality[rows, :, phase] / len(split)  # [orders, L]; the pass's own policy seed
            c = cost[rows, :, phase] * gaps[u] / len(split)
            passes.append({"quality": q.T.tolist(), "cost": c.T.tolist()})
        result[u] = _deployed(passes[0], passes[1], val, test, ref, target, scaled / gaps[u])
    return result


def across_seeds(cells: list[dict[str, float | None]]) -> dict[str, Any]:
    """One statistic over seeds: ``cells`` are per-seed ``{"value", "lo", "hi"}`` (bootstrap ends,
    ``None`` where undefined). Returns the mean and 95% t-interval of the defined values
    (:func:`routerlab.report.mean_ci`), ``boot_lo``/``boot_hi`` = the seed-mean of the bootstrap
    ends (``None`` unless every seed has them), ``seeds``, ``seeds_defined`` and
    ``seeds_lo_above_zero`` (seeds whose bootstrap interval lies above 0)."""
    from routerlab.report import mean_ci

    values = [c["value"] for c in cells if c["value"] is not None]
    los = [c["lo"] for c in cells if c.get("lo") is not None]
    his = [c["hi"] for c in cells if c.get("hi") is not None]
    entry: dict[str, Any] = {"seeds": len(cells), "seeds_defined": len(values),
                             "seeds_lo_above_zero": sum(lo > 0 for lo in los)}
    if values:
        entry.update(mean_ci(values)._asdict())
        entry["boot_lo"] = float(np.mean(los)) if len(los) == len(cells) else None
        entry["boot_hi"] = float(np.mean(his)) if len(his) == len(cells) else None
    return entry
