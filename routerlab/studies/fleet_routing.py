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
from routerlab.fleet.evaluate import choose_knob, evaluate_router, interval
from routerlab.fleet.fleet import FleetConfig, ensure_fleet, lm_config
from routerlab.fleet.metrics import common_range_aiq, nondecreasing_convex_hull, savings_fraction
from routerlab.fleet.routers import Router, Split, Trace, default_routers, one_blas_thread, trace, visible
from routerlab.report import mean_ci
from routerlab.rundir import RunDir, atomic_write_text

__all__ = ["FleetRoutingConfig", "LambdaSweepConfig", "char_features", "bandit_points", "run", "summarize",
           "report", "paper", "run_lambda", "report_lambda", "paper_lambda", "fold", "savings_vs", "COST_MODELS",
           "realised_point", "measure_latency", "one_pass_points", "one_pass_bandit", "routellm_lead",
           "chance_rows"]

#: The three cost models, side by side: the seed's price list (USD), forward FLOPs per query
#: (parameters x tokens, :mod:`routerlab.models.accounting`) and latency measured in the run.
COST_MODELS = ("price", "flops", "latency")


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
      target: the quality target, a fraction of the reference model's quality (RouteLLM's 95%).
      one_pass_orders: random orders of the test (and val) queries for the one-pass bandit.
      latency_repeats: timed repeats (median) of each architecture's forward pass.
      real_datasets: RouteLLM logs (MMLU, GSM8K; MT-Bench is dropped: its 80 questions leave
        ~8 test questions per split) on which the study leads, when the files are present.
      real_seeds: split seeds of the RouteLLM logs.
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
    target: float = 0.95
    one_pass_orders: int = 5
    latency_repeats: int = 7
    real_datasets: tuple[str, ...] = ("mmlu", "gsm8k")
    real_seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self):
        check(self.unit in ("usd", "flops"), "unit", f"must be usd or flops; got {self.unit!r}")
        check(self.feature_dim >= 2, "feature_dim", f"must be >= 2; got {self.feature_dim}")
        check(0 < self.target <= 1, "target", f"must be in (0, 1]; got {self.target}")
        check(self.one_pass_orders >= 2, "one_pass_orders", f"must be >= 2; got {self.one_pass_orders}")
        check(self.latency_repeats >= 5, "latency_repeats", f"must be >= 5 (a median); got {self.latency_repeats}")
        for d in self.real_datasets:
            check(d in ("mmlu", "gsm8k"), "real_datasets",
                  f"must hold mmlu and/or gsm8k (MT-Bench's ~8 test questions per split are too few); got {d!r}")
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
            out[b] = savings_fraction(hull, target * ref_q[b], ref_c[b])
        return out

    return interval(stat, n, n_boot, seed)


def fold(savings: float | None) -> float | None:
    """Cost reduction factor ``1 / (1 - savings)`` (10 = ten times cheaper)."""
    if savings is None or not np.isfinite(savings) or savings >= 1:
        return None
    return 1.0 / (1.0 - savings)


def realised_point(router: Router, val: Split, test: Split, ref: int, target: float, n_boot: int,
                   seed: int) -> dict[str, Any]:
    """The deployable protocol: the operating point fixed on *validation*, then paid for on test.

    The knob is the cheapest whose validation quality reaches ``target`` x model ``ref``'s
    validation quality (:func:`routerlab.fleet.evaluate.choose_knob`; the best knob when none
    does). On test: the realised mean ``cost`` and ``quality``, ``cost_ratio`` (cost / ``ref``'s
    cost), and ``miss_rate``: the fraction of ``n_boot`` bootstrap resamples of the test
    queries on which the realised quality falls below ``target`` x ``ref``'s quality on that
    resample (``miss``: the same on the test set itself).
    """
    val_tr = trace(router, val)
    k = choose_knob(val_tr, target * val.mean_quality[ref])
    q, c = router.route(visible(router, test), val_tr.knobs[k]).outcomes(test)
    n = len(test)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    miss = q[idx].mean(axis=1) < target * test.quality[idx, ref].mean(axis=1)
    ref_c = float(test.mean_cost[ref])
    return {"knob": float(val_tr.knobs[k]) if np.isfinite(val_tr.knobs[k]) else None,
            "cost": float(c.mean()), "cost_ratio": float(c.mean() / ref_c) if ref_c > 0 else None,
            "quality": float(q.mean()), "quality_ratio": float(q.mean() / max(test.mean_quality[ref], 1e-12)),
            "miss": bool(q.mean() < target * test.mean_quality[ref]), "miss_rate": float(miss.mean())}


def measure_latency(fleet: FleetConfig, models: dict[str, str], repeats: int = 7, inner: int = 20) -> dict[str, Any]:
    """Seconds per forward pass of each model's architecture on this machine (one query, full context).

    ``models`` maps a model name to its architecture's name (``spec`` or a generalist's).
    Each architecture's jitted forward runs ``inner`` times per repeat after a warm-up; the
    repeats are interleaved across architectures (so load on the machine hits all alike) and
    the median of ``repeats`` is kept, with the min and max beside it.
    """
    import time

    import jax
    import jax.numpy as jnp
    from flax import nnx

    from routerlab.models.lm import LM

    archs = {fleet.specialist.name: fleet.specialist} | {g.name: g for g in fleet.generalists}
    tokens = jnp.ones((1, fleet.tasks.seq_len), jnp.int32)
    fns = {}
    for name in sorted(set(models.values())):
        model = LM(lm_config(archs[name], fleet.tasks.seq_len), rngs=nnx.Rngs(params=0))
        graphdef, state = nnx.split(model)
        fn = jax.jit(lambda st, x, g=graphdef: nnx.merge(g, st)(x)[0])
        fn(state, tokens).block_until_ready()
        fns[name] = (fn, state)
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(repeats):
        for name, (fn, state) in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                out = fn(state, tokens)
            out.block_until_ready()
            times[name].append((time.perf_counter() - start) / inner)
    per_arch = {n: {"median_s": float(np.median(t)), "min_s": float(np.min(t)), "max_s": float(np.max(t)),
                    "repeats": repeats} for n, t in times.items()}
    return {"per_forward": {m: per_arch[a] for m, a in models.items()}, "device": jax.devices()[0].device_kind}


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

    contexts = np.concatenate([split.x, np.ones((len(split), 1), np.float32)], axis=1)
    env = _pass_env(contexts, split.quality, split.cost, train.mean_cost)
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
    validation queries (the cheapest ``lam`` whose mean quality reaches ``target`` x ``ref``'s,
    else the best), then one pass over the unseen test queries. ``miss_rate`` is over orders."""
    on_val = one_pass_points(train, val, lams, orders, seed)
    vq, vc = np.mean(on_val["quality"], axis=1), np.mean(on_val["cost"], axis=1)
    ok = vq >= target * val.mean_quality[ref]
    k = int(np.flatnonzero(ok)[np.argmin(vc[ok])]) if ok.any() else int(np.lexsort((vc, -vq))[0])
    on_test = one_pass_points(train, test, lams, orders, seed + 1)
    q, c = np.asarray(on_test["quality"][k]), np.asarray(on_test["cost"][k])
    ref_q, ref_c = float(test.mean_quality[ref]), float(test.mean_cost[ref])
    return {"lam": float(lams[k]), "cost": float(c.mean()),
            "cost_ratio": float(c.mean() / ref_c) if ref_c > 0 else None,
            "quality": float(q.mean()), "quality_ratio": float(q.mean() / max(ref_q, 1e-12)),
            "miss": bool(q.mean() < target * ref_q), "miss_rate": float(np.mean(q < target * ref_q)),
            "curve": {"cost": np.mean(on_test["cost"], axis=1).tolist(),
                      "quality": np.mean(on_test["quality"], axis=1).tolist()}}


def chance_rows(m: RoutingMatrices, fleet_cfg: FleetConfig, seed: int) -> dict[str, float]:
    """Mean quality on the router-test queries of answering without a model (cost 0): each
    family's majority answer, and a uniform guess among the family's training answers; and
    the ceiling. The suite is redrawn from the fleet's config and seed (as the fleet drew it)."""
    from routerlab.fleet.tasks import CEILING, FAMILIES, guess_baselines, make_suite

    suite = make_suite(fleet_cfg.tasks, FAMILIES, train_size=fleet_cfg.train_size, eval_size=fleet_cfg.eval_size,
                       seed=seed)
    wanted: dict[str, list[tuple[str, int]]] = {}
    for qid in m.query_ids[np.asarray(m.splits == "test")]:
        _, family, split, i = str(qid).split("/")  # s<seed>/<family>/<split>/<index>
        wanted.setdefault(family, []).append((split, int(i)))
    maj, uni = [], []
    for family, items in wanted.items():
        pairs = [getattr(suite, split)[family][i] for split, i in items]
        _, hit, p = guess_baselines(suite.train[family], pairs)
        maj += hit.astype(float).tolist()
        uni += p.tolist()
    return {"majority": float(np.mean(maj)), "uniform": float(np.mean(uni)), "ceiling": CEILING}


def routellm_lead(cfg: FleetRoutingConfig) -> dict[str, Any]:
    """RouteLLM's real outcomes (Mixtral-8x7B vs GPT-4) read through the project's loaders:
    the MF router's savings at ``target`` x GPT-4's quality, from its test hull (optimistic) and
    at the operating point fixed on validation (realised, with its miss rate), per split seed.
    ``{"available": False, "why": ...}`` when the files are not found."""
    from routerlab.config import ConfigError
    from routerlab.data.features import FeatureConfig, default_cache_dir, featurize
    from routerlab.fleet.routers import MFQuality, UtilityRouter
    from routerlab.studies.real_benchmarks import PUBLISHED, RealBenchConfig, load_dataset, resolve_data_dir

    try:
        resolve_data_dir(None)
    except ConfigError as e:
        return {"available": False, "why": str(e)}
    out: dict[str, Any] = {"available": True, "router": "mf", "datasets": {}}
    for name in cfg.real_datasets:
        rows = []
        for seed in cfg.real_seeds:
            m = load_dataset(name, RealBenchConfig(datasets=(name,), seeds=(seed,)), seed)
            x = featurize(m, FeatureConfig(), cache_dir=default_cache_dir() / "features")
            train, val, test = (Split.of(m, x, sp) for sp in ("train", "val", "test"))
            ref = int(np.argmax(train.mean_quality))  # GPT-4
            with one_blas_thread():
                r = UtilityRouter(MFQuality(seed=seed, steps=cfg.steps), name="mf").fit(train, val)
                hull = savings_vs(trace(r, test), test, ref, cfg.target, cfg.n_boot, seed)
                real = realised_point(r, val, test, ref, cfg.target, cfg.n_boot, seed)
            rows.append({"seed": seed, "test_queries": len(test), "reference": m.models[ref],
                         "hull_savings": hull, "realised": real})
        hs = [r["hull_savings"]["value"] for r in rows if r["hull_savings"]["value"] is not None]
        out["datasets"][name] = {
            "seeds": rows, "published_savings": PUBLISHED[name]["savings"],
            "hull_savings": mean_ci(hs)._asdict() if hs else None,
            "realised_savings": mean_ci([1 - r["realised"]["cost_ratio"] for r in rows])._asdict(),
            "realised_quality_ratio": mean_ci([r["realised"]["quality_ratio"] for r in rows])._asdict(),
            "miss_rate": float(np.mean([r["realised"]["miss_rate"] for r in rows]))}
    return out


def _tokens_out(log, m: RoutingMatrices) -> np.ndarray:
    """``[Q, M]`` generated tokens per query and model, aligned with ``m``."""
    frame = log.select_columns(["query_id", "model", "tokens_out"]).to_pandas()
    table = frame.pivot(index="query_id", columns="model", values="tokens_out")
    return table.loc[list(m.query_ids), list(m.models)].to_numpy(np.float64)


def _cost_matrices(fleet, seed: int, m: RoutingMatrices, latency: dict[str, Any]) -> dict[str, np.ndarray]:
    """``[Q, M]`` cost per query of each model under each of :data:`COST_MODELS`, aligned with ``m``:
    USD from the price list, GFLOPs (forward, parameters x tokens), and seconds (one forward
    pass per generated token, at the forward latency measured in this run)."""
    out = {}
    for name, unit in (("price", "usd"), ("flops", "flops")):
        other = to_matrices(fleet.log(seed, unit), models=m.models, source=f"fleet seed {seed} ({unit})")
        if list(other.query_ids) != list(m.query_ids):
            order = {q: i for i, q in enumerate(other.query_ids)}
            other = other.take(np.array([order[q] for q in m.query_ids]))
        out[name] = other.cost
    per_forward = np.array([latency["per_forward"][name]["median_s"] for name in m.models])
    out["latency"] = _tokens_out(fleet.log(seed, "usd"), m) * per_forward[None, :]
    return out


def run(cfg: FleetRoutingConfig, rundir: RunDir) -> dict[str, Any]:
    fleet = ensure_fleet(cfg.fleet, _runs_root(rundir))
    done = rundir.completed_units()
    if "routellm" not in done:
        rundir.log({"unit": "routellm", "routellm": routellm_lead(cfg)})
    latency = None
    for seed in fleet.seeds:
        unit = f"seed{seed}"
        if unit in done:
            continue
        m = to_matrices(fleet.log(seed, cfg.unit), source=f"fleet seed {seed}")
        if latency is None:  # measured once per run, on this machine, for every model of the log
            arch = {x["name"]: (cfg.fleet.specialist.name if x["role"] == "specialist" else x["name"])
                    for x in fleet.models}
            latency = measure_latency(cfg.fleet, {name: arch[name] for name in m.models}, cfg.latency_repeats)
        x = char_features(m, cfg.feature_dim, seed)
        costs = _cost_matrices(fleet, seed, m, latency)
        splits = {u: tuple(Split.of(RoutingMatrices(m.query_ids, m.models, m.tasks, m.prompts, m.splits, m.quality,
                                                    costs[u]), x, sp) for sp in ("train", "val", "test"))
                  for u in COST_MODELS}
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
                rec = evaluate_router(r, val, test, target=cfg.target, n_boot=cfg.n_boot, seed=seed)
                rec["savings_vs_best_model"] = rec.pop("savings")  # evaluate_router's reference: best test model
                tr = trace(r, test)
                rec["savings"] = savings_vs(tr, test, ref_i, cfg.target, cfg.n_boot, seed)
                rec["savings100"] = savings_vs(tr, test, ref_i, 1.0, cfg.n_boot, seed)
                rec["savings_largest"] = savings_vs(tr, test, big_i, cfg.target, cfg.n_boot, seed)
                rec["savings100_largest"] = savings_vs(tr, test, big_i, 1.0, cfg.n_boot, seed)
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
            "unit": unit, "seed": seed, "fleet": f"_fleets/{fleet.path.name}", "models": list(m.models), "reference": ref,
            "best_model": m.models[int(np.argmax(train.mean_quality))], "largest": m.models[big_i],
            "queries": {s: int(np.sum(m.splits == s)) for s in ("train", "val", "test")},
            "test_mean_quality": test.mean_quality.tolist(), "test_mean_cost": test.mean_cost.tolist(),
            "test_mean_cost_models": {u: splits[u][2].mean_cost.tolist() for u in COST_MODELS},
            "latency": latency, "chance": chance_rows(m, cfg.fleet, seed), "target": cfg.target,
            "routers": results,
        }
        record["one_pass"] = {}
        for u in COST_MODELS:
            tr_u, va_u, te_u = splits[u]
            gap = float(tr_u.mean_cost.max() - tr_u.mean_cost.min()) or 1.0
            lams = np.linspace(0.0, 2.0, cfg.lams) / gap
            record["one_pass"][u] = one_pass_bandit(tr_u, va_u, te_u, ref_i, target=cfg.target, lams=lams,
                                                    orders=cfg.one_pass_orders, seed=seed)
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
    hull = nondecreasing_convex_hull(cost, quality)
    a = common_range_aiq(hull, lo, hi)
    out: dict[str, float | None] = {"aiq": float(a) if np.isfinite(a) else None}
    for key, target, r in (("savings", 0.95, ref), ("savings100", 1.0, ref), ("savings_largest", 0.95, big),
                           ("savings100_largest", 1.0, big)):
        saved = savings_fraction(hull, target * test_q[r], test_c[r])
        out[key] = float(saved) if np.isfinite(saved) else None
    return out


METRICS = ("mean_cost", "mean_quality", "aiq", "savings", "savings100", "savings_largest", "savings100_largest")


#: The first line of this study's report at smoke scale: the toy fleet is plumbing, RouteLLM is not.
PLUMBING_FLEET = ("**Plumbing check at smoke scale, not a result**, for every toy-fleet number below (the fleet "
                  "trains for seconds and sits near chance). The RouteLLM paragraph is real data (one split seed "
                  "at this scale).")

#: Row names of the online bandits: the deployable one-pass run, and the replay that serves the
#: test log's few hundred queries thousands of times (so it can memorise them: optimistic).
ONE_PASS = "linucb (one pass, online)"
REPLAY = "linucb (replayed log, optimistic)"


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
    names = [r["router"] for r in records[0]["routers"]]
    for name in names:
        recs = [next(r for r in rec["routers"] if r["router"] == name) for rec in records]
        routers[name]["cost_models"] = {
            u: _protocol_entry([r["cost_models"][u]["realised"] for r in recs],
                               [r["cost_models"][u]["hull_savings"] for r in recs]) for u in COST_MODELS}
    hull = {}
    for u in COST_MODELS:
        hull[u] = []
        for rec in records:
            one = rec["one_pass"][u]
            ref = rec["models"].index(rec["reference"])
            ref_q, ref_c = rec["test_mean_quality"][ref], rec["test_mean_cost_models"][u][ref]
            h = nondecreasing_convex_hull(np.asarray(one["curve"]["cost"]), np.asarray(one["curve"]["quality"]))
            saved = savings_fraction(h, rec.get("target", 0.95) * ref_q, ref_c)
            hull[u].append({"value": float(saved) if np.isfinite(saved) else None})
    routers[ONE_PASS] = {"cost_models": {u: _protocol_entry([rec["one_pass"][u] for rec in records], hull[u])
                                         for u in COST_MODELS}}
    for name, entry in routers.items():
        if "cost_models" in entry:
            price = entry["cost_models"]["price"]
            entry["realised"] = {"cost": price["cost"], "quality": price["quality"], "miss_rate": price["miss_rate"]}


def _chance_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not records or "chance" not in records[0]:
        return None
    return {"majority": mean_ci([r["chance"]["majority"] for r in records])._asdict(),
            "uniform": mean_ci([r["chance"]["uniform"] for r in records])._asdict(),
            "ceiling": records[0]["chance"]["ceiling"]}


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
            cells = per.setdefault(REPLAY, {k: [] for k in METRICS[2:]})
            if REPLAY not in order:
                order.append(REPLAY)
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
    _add_protocol(routers, records)
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
            "routers": routers, "bandit_budget": budget, "target": rundir.config.get("target", 0.95),
            "chance": _chance_summary(records), "routellm": next((r["routellm"] for r in rundir.records()
                                                                   if "routellm" in r), None),
            "replay_rounds_per_query": (rundir.config["bandit_rounds"] / records[0]["queries"]["test"]
                                        if records and rundir.config.get("bandit_rounds") else None),
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


def _mean_ci(e: dict[str, Any]) -> str:
    if e.get("n", 2) < 2 or not np.isfinite(e["hi"]):
        return f"{e['mean']:.3f} (1 seed)"
    return f"{e['mean']:.3f} ± {(e['hi'] - e['lo']) / 2:.3f}"


def _pct(e: dict[str, Any] | None) -> str:
    if not e or "mean" not in e:
        return "n/a"
    if e.get("n", 2) < 2 or not np.isfinite(e["hi"]):
        return f"{e['mean']:.1%} (1 seed)"
    return f"{e['mean']:.1%} ± {(e['hi'] - e['lo']) / 2:.1%}"


def routellm_text(s: dict[str, Any]) -> str:
    """The lead of the S4 verdict: RouteLLM's real outcomes, then the seed's 90%+ claim against them."""
    r = s.get("routellm")
    if not r:
        return "RouteLLM's real outcomes were not evaluated in this run."
    if not r.get("available"):
        return f"RouteLLM's real outcomes are not available here ({r['why']}); the fleet below is a toy."
    parts = []
    for name, d in r["datasets"].items():
        n = len(d["seeds"])
        parts.append(
            f"{name.upper()} ({d['seeds'][0]['test_queries']:,} test queries per split, {n} split seed"
            f"{'s' if n > 1 else ''}): the MF router saves {_pct(d['realised_savings'])} of GPT-4's cost at the "
            f"operating point fixed on validation (it keeps {_pct(d['realised_quality_ratio'])} of GPT-4's quality; "
            f"the {s['target']:.0%} target is missed on {d['miss_rate']:.0%} of test resamples), "
            f"{_pct(d['hull_savings'])} read off its test hull (optimistic); RouteLLM published "
            f"{d['published_savings']:.0%}")
    best = max((d["realised_savings"]["mean"] for d in r["datasets"].values()), default=float("nan"))
    verdict = ("the seed's '90%+ cost reduction' does NOT hold on real data" if best < 0.9 else
               "the seed's '90%+ cost reduction' holds on real data")
    return (f"**Real data first (RouteLLM, Mixtral-8x7B vs GPT-4, routers trained in distribution on each "
            f"benchmark's train split; MT-Bench dropped: ~8 test questions per split):** " + "; ".join(parts)
            + f". So {verdict}.")


def protocol_rows(s: dict[str, Any]) -> list[dict[str, str]]:
    """One row per router: realised savings, quality kept and miss rate under each cost model,
    and the optimistic test-hull savings beside them."""
    rows = []
    for name, e in s["routers"].items():
        cm = e.get("cost_models")
        if not cm:
            continue
        row = {"router": name}
        for u in COST_MODELS:
            c = cm[u]
            row[f"{u}: saved (realised)"] = _pct(c["savings"])
            row[f"{u}: miss"] = f"{c['miss_rate']:.2f}"
            row[f"{u}: saved (test hull, optimistic)"] = _pct(c["hull_savings_optimistic"])
        row["quality kept (price)"] = _pct(cm["price"]["quality_ratio"])
        rows.append(row)
    return rows


def _latency_text(rundir: RunDir) -> str:
    rec = next((r for r in rundir.records() if "latency" in r), None)
    if not rec:
        return ""
    lat = rec["latency"]["per_forward"]
    parts = [f"{m} {v['median_s'] * 1e3:.3f} ms" for m, v in lat.items() if not m.startswith("spec-")]
    spec = next((v for m, v in lat.items() if m.startswith("spec-")), None)
    if spec:
        parts.insert(0, f"specialists {spec['median_s'] * 1e3:.3f} ms")
    return (f"Latency cost model: one forward pass per generated token, at the median of "
            f"{next(iter(lat.values()))['repeats']} timed repeats per architecture on this machine "
            f"({rec['latency']['device']}, interleaved, one query): " + ", ".join(parts) + " per forward.")


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
    if s.get("chance"):  # baselines without any model call (cost 0), and the ceiling
        blank = {k: "" for k in rows[0] if k not in ("router", f"cost ({unit})", "quality")} if rows else {}
        rows += [{"router": "*majority answer (no model)*", f"cost ({unit})": "0", "quality":
                  _mean_ci(s["chance"]["majority"]), **blank},
                 {"router": "*uniform guess (no model)*", f"cost ({unit})": "0", "quality":
                  _mean_ci(s["chance"]["uniform"]), **blank},
                 {"router": "*ceiling*", f"cost ({unit})": "", "quality": f"{s['chance']['ceiling']:.3f}", **blank}]
    lines = [PLUMBING_FLEET, ""] if rundir.header.get("scale") == "smoke" else []
    lines += [routellm_text(s), ""]
    ch = s.get("chance")
    if s["routers"] and any("cost_models" in e for e in s["routers"].values()):
        lines += [
            f"**Deployable protocol on the toy fleet** (fleet seeds {s['seeds']}): each router's operating point "
            f"(its threshold or lam) is fixed on validation as the cheapest reaching {s['target']:.0%} of the "
            f"reference's ({', '.join(s['reference'])}) validation quality; 'saved (realised)' is 1 - its test cost / "
            "the reference's test cost, 'miss' the fraction of test bootstrap resamples (x seeds) on which it falls "
            f"below {s['target']:.0%} of the reference's quality. 'saved (test hull, optimistic)' reads the cost off "
            "the router's hull on the test queries themselves. Three cost models: the seed's price list, forward "
            "FLOPs per query (parameters x tokens) and latency measured here. The one-pass LinUCB serves each "
            "unseen test query once (cold start, lam fixed by a one-pass run on validation; miss over query orders).",
            "", markdown_table(protocol_rows(s)), _latency_text(rundir), ""]
    if ch:
        lines += [f"Without any model: always the family's majority answer scores {_mean_ci(ch['majority'])}, a "
                  f"uniform guess {_mean_ci(ch['uniform'])} (cost 0); ceiling {ch['ceiling']:.2f}; the per-query "
                  "oracle row "
                  "below is the best any router could do with these models.", ""]
    lines += [
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
        "Cost cut = 1 / (1 - savings). Savings here are read off each router's test hull (optimistic; the "
        "realised ones are above). The replayed-log LinUCB row serves the test log's queries "
        f"~{s.get('replay_rounds_per_query') or 0:.0f} times each, so it can memorise them (optimistic, not "
        "deployable); its cells are its hull over the lam grid (no bootstrap).",
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
                label=REPLAY)
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
    lines = [routellm_text(s).replace("**", "")]
    if "task_classifier" in r and "cost_models" in r["task_classifier"]:
        cm = r["task_classifier"]["cost_models"]
        lines.append(
            f"On the toy fleet, the seed's pipeline at the operating point fixed on validation saves "
            + ", ".join(f"{_pct(cm[u]['savings'])} of {ref}'s cost under the {u} cost model (target missed on "
                        f"{cm[u]['miss_rate']:.0%} of resamples)" for u in COST_MODELS)
            + ".")
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
    def realised(e: dict[str, Any], u: str) -> str:
        cm = e.get("cost_models")
        return f"{_pct(cm[u]['savings'])} ({cm[u]['miss_rate']:.2f})" if cm else "n/a"

    rows = [{"router": n, "AIQ": _cell(e.get("aiq")), "realised, price": realised(e, "price"),
             "realised, FLOPs": realised(e, "flops"), "realised, latency": realised(e, "latency"),
             "hull@95 (optimistic)": _cell(e.get("savings")),
             "hull@95 largest (optimistic)": _cell(e.get("savings_largest"))} for n, e in s["routers"].items()]
    table = latex_table(rows, ["router", "AIQ", "realised, price", "realised, FLOPs", "realised, latency",
                               "hull@95 (optimistic)", "hull@95 largest (optimistic)"],
                        caption=(f"Routing over the toy fleet: AIQ; cost saved against the best generalist "
                                 f"({', '.join(s['reference'])}) at the operating point fixed on validation for "
                                 f"{s.get('target', 0.95):.0%} of its quality, under the price list, forward FLOPs "
                                 "and measured latency (in brackets: how often the target is missed over test "
                                 "resamples and seeds); and, optimistic, read off the test hull against it and "
                                 f"against the largest ({', '.join(s['largest'])}); mean $\\pm$ 95\\% t-interval over "
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
        aiqs.append(common_range_aiq(nondecreasing_convex_hull(cost, qual), lo, hi))
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
    head = [PLUMBING_FLEET.split(", for every")[0] + ": the fleet trains for seconds and sits near chance.", ""] \
        if rundir.header.get("scale") == "smoke" else []
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
