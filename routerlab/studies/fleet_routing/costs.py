"""fleet_routing's inputs beyond the log: the three cost models (price list, FLOPs, latency
measured here), the no-model chance rows, and the RouteLLM lead on real data."""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.data import to_matrices
from routerlab.data.schema import RoutingMatrices
from routerlab.fleet.fleet import FleetConfig, lm_config
from routerlab.fleet.protocol import realised_point, savings_vs
from routerlab.fleet.routers import MFQuality, Split, UtilityRouter, one_blas_thread, trace
from routerlab.report import mean_ci
from routerlab.studies.fleet_routing.config import FleetRoutingConfig

__all__ = ["measure_latency", "cost_matrices", "chance_rows", "routellm_lead"]


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



def _tokens_out(log, m: RoutingMatrices) -> np.ndarray:
    """``[Q, M]`` generated tokens per query and model, aligned with ``m``."""
    frame = log.select_columns(["query_id", "model", "tokens_out"]).to_pandas()
    table = frame.pivot(index="query_id", columns="model", values="tokens_out")
    return table.loc[list(m.query_ids), list(m.models)].to_numpy(np.float64)



def cost_matrices(fleet, seed: int, m: RoutingMatrices, latency: dict[str, Any]) -> dict[str, np.ndarray]:
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
    ``{"available": False, "why": ...}`` when the files are not found or none is asked for."""
    from routerlab.config import ConfigError
    from routerlab.data.features import FeatureConfig, default_cache_dir, featurize
    from routerlab.studies.real_benchmarks import PUBLISHED, RealBenchConfig, load_dataset, resolve_data_dir

    if not cfg.real_datasets:
        return {"available": False, "why": "not asked for (real_datasets is empty)"}
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

