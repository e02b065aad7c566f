"""LinUCB throughput and regret: routerlab against a numpy loop and installed peer libraries.

Every case plays LinUCB (``alpha = 1``, ridge ``1``) online, one row at a time, on the
synthetic linear environment of :func:`routerlab.bandits.envs.synthetic_linear`
(``arms`` arms, ``dim`` features, noise 0.1, environment seed ``seed``):

* ``routerlab_single``  one jitted ``lax.scan`` over ``rounds`` rounds (the simulator, drawing
  ``gcd(rounds, 800)`` rounds of contexts at a time: ``run_bandit(..., draw_chunk=800)``,
  the same stream).
* ``routerlab_vmap``    the same, vmapped over ``seeds`` seeds; rounds/s is aggregate.
* ``routerlab_seed_batched``  the same seeds, ``seed_batch`` at a time (``jax.lax.map`` over
  groups of vmapped seeds, :func:`routerlab.bandits.simulate`'s ``seed_batch``): identical
  numbers, a group's ridge state fits in cache.
* ``numpy_sm``          a plain numpy Sherman–Morrison loop (float64, arms vectorised).
* peers, when installed: MABWiser (``predict`` + ``partial_fit`` per row; it must be fitted
  before predicting, so its first ``arms`` rounds are a round-robin warm start). Other
  peers (contextualbandits, Vowpal Wabbit ``--cb_explore_adf``, Open Bandit Pipeline) get
  a ``skipped`` record naming the reason: not installed, or no adapter written yet.

The single-stream cases (routerlab, numpy, peers) play the identical stream of contexts
and rewards (the simulator's, seed 0). routerlab computes in float32, the numpy loop in
float64, so they choose the same arms until the first round whose two best scores are
closer than float32 can resolve; from there the two runs follow different (equally valid)
paths and their regrets differ by the luck of those paths, not by an error. Untimed
agreement fields say how far they agree:

* ``routerlab_single``: ``agree_until`` (rounds played with the numpy loop's arm before
  the first different one; ``rounds`` if none), ``agree_fraction`` (``agree_until / rounds``),
  ``numpy_top2_gap_at_divergence`` (the numpy loop's best minus second-best score at that
  round; ``null`` if none).
* ``numpy_sm``: ``final_regret_float32``, the same loop run in float32 (a float32 run
  without JAX, to show how much of a regret gap float32 alone makes).

Until 2026-12-01 the two diverged at round 13 (final regret 365 against 385 at 20,000
rounds, 10 arms, d = 32) on an exact tie, not a near one: XLA's CPU matvec gave arms 8
and 9 (unplayed, identical states) a width 1 ulp above arms 3-7, so ``argmax`` took
arm 8 where numpy takes the first; :func:`routerlab.bandits.linalg.ridge_width2` now sums
every arm alike.

Where the time goes (2026-12-01, CPU-time ablations in one process, 10 arms, d = 32, the
2 cores shared at load ~8, so ratios only). Single stream: the simulator alone (a policy
that always plays arm 0) is ~20-25% of a LinUCB round; selection (one batched matvec
``P_a x`` over arms, fused scores, argmax) ~25%; the rank-1 update of the chosen arm's
inverse (a dynamic slice, a d x d matvec and a dynamic-update-slice fusion) ~50%. Tried
and dropped: ``lax.scan(unroll=2..8)`` (1.6-2x slower; ``unroll=8`` crashes XLA's CPU
fusion compiler, jax 0.10.2), a one-hot masked update of all arms (~3x slower),
stacking inverse and Gram into one [K, 2, d, d] array (2x slower), reusing the select's
matvec in the update (slower). Batched: under ``vmap`` the chosen arm's state is read by
``gather`` and written by ``scatter`` (the compiled module: 6 gathers, 2 scatters; none
with the arm-0 policy); a one-hot masked update instead is ~1.85x slower (it touches
every arm); ``seed_batch`` 8-32 is best (64:
~1.3x slower per lane, inverse plus Gram of 64 lanes is 5 MB against 2 MB of L2 per
core). Per lane-round: ~1.5 us CPU of simulator and ~3.5 us of LinUCB, i.e. at most
~200k lane-rounds per CPU-second; the 1M rounds/s goal needs ~2.5x that on both cores.

Timing: medians of ``repeats`` interleaved rounds
(:mod:`routerlab.bench.common`), after one untimed warm-up round that includes
compilation; one process.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from routerlab.bandits.envs import synthetic_linear
from routerlab.bandits.policies import linucb
from routerlab.bandits.simulate import run_bandit
from routerlab.bandits.types import Policy
from routerlab.bench.common import environment, interleaved_median_ms
from routerlab.config import ConfigError
from routerlab.report.stats import mean_ci
from routerlab.rng import stream_key

__all__ = ["bench_bandits", "recording", "agreement"]

ALPHA, REG, NOISE = 1.0, 1.0, 0.1
SINGLE_DRAW_CHUNK = 800  # one stream draws gcd(rounds, 800) rounds at a time (run_bandit's draw_chunk); vmap per round


def _stream(env, seed: int, rounds: int):
    """The contexts, realized rewards and means the simulator draws for ``seed``."""
    k_env = stream_key(jnp.uint32(seed), "bandit/env")
    rnd = jax.jit(jax.vmap(lambda t: env.step(env.params, jax.random.fold_in(k_env, t), t)))(jnp.arange(rounds))
    return np.asarray(rnd.context.x, np.float64), np.asarray(rnd.quality, np.float64), np.asarray(rnd.mean_quality, np.float64)


def _numpy_linucb(X, R, M, arms: int, dtype=np.float64, record: bool = False):
    """Plain numpy LinUCB, Sherman–Morrison inverse per arm; returns final pseudo-regret.

    ``record=True`` (untimed) also returns every round's arm and top-two score gap.
    """
    d = X.shape[1]
    X, R = X.astype(dtype), R.astype(dtype)
    P = np.stack([np.eye(d, dtype=dtype) / dtype(REG)] * arms)
    b = np.zeros((arms, d), dtype)
    theta = np.zeros((arms, d), dtype)
    regret = 0.0
    chosen, gaps = [], []
    for t in range(X.shape[0]):
        x = X[t]
        px = P @ x
        scores = theta @ x + dtype(ALPHA) * np.sqrt(np.maximum(px @ x, 0.0))
        a = int(np.argmax(scores))
        if record:
            top2 = np.partition(scores, -2)[-2:]
            chosen.append(a), gaps.append(float(top2[1] - top2[0]))
        u = px[a]
        P[a] -= np.outer(u, u) / (dtype(1.0) + x @ u)
        b[a] += R[t, a] * x
        theta[a] = P[a] @ b[a]
        regret += M[t].max() - M[t, a]
    return (regret, np.array(chosen), np.array(gaps)) if record else regret


class _Logged(NamedTuple):
    inner: Any
    arms: jax.Array  # [rounds] int32: the arm chosen in each round
    t: jax.Array


def recording(policy: Policy, rounds: int) -> Policy:
    """``policy`` that also logs the arm of each of ``rounds`` rounds into its state.

    Same selections and updates; read the log with ``run_bandit(..., return_state=True)``
    (``state.arms``). For agreement checks, not for timing (the log is a write per round).
    """

    def init(key, spec):
        return _Logged(policy.init(key, spec), jnp.zeros((rounds,), jnp.int32), jnp.zeros((), jnp.int32))

    def select(state, ctx, key):
        return policy.select(state.inner, ctx, key)

    def update(state, ctx, arm, reward):
        return _Logged(policy.update(state.inner, ctx, arm, reward), state.arms.at[state.t].set(arm), state.t + 1)

    return Policy(init, select, update)


def agreement(arms, ref_arms, ref_gaps) -> dict:
    """How far ``arms`` follows ``ref_arms``: see the module docstring's agreement fields."""
    arms, ref_arms = np.asarray(arms), np.asarray(ref_arms)
    differ = np.flatnonzero(arms != ref_arms)
    until = int(differ[0]) if differ.size else int(arms.size)
    return {"agree_until": until, "agree_fraction": until / arms.size,
            "numpy_top2_gap_at_divergence": float(ref_gaps[until]) if differ.size else None}


def _mabwiser_linucb(X, R, M, arms: int):
    from mabwiser.mab import MAB, LearningPolicy

    model = MAB(list(range(arms)), LearningPolicy.LinUCB(alpha=ALPHA, l2_lambda=REG), seed=0)
    warm = list(range(arms))
    model.fit(warm, [R[t, a] for t, a in enumerate(warm)], X[:arms])
    regret = sum(M[t].max() - M[t, a] for t, a in enumerate(warm))
    for t in range(arms, X.shape[0]):
        x = X[t : t + 1]
        a = int(model.predict(x))
        model.partial_fit([a], [R[t, a]], x)
        regret += M[t].max() - M[t, a]
    return regret


_OTHER_PEERS = {
    "contextualbandits": "contextualbandits",
    "vowpalwabbit_cb_explore_adf": "vowpalwabbit",
    "open_bandit_pipeline": "obp",
}


def bench_bandits(*, rounds=20_000, arms=10, dim=32, seeds=256, seed=0, repeats=5, seed_batch=32) -> list[dict]:
    """One record per case: ``rounds_per_s``, ``final_regret`` (and ``skipped`` notes)."""
    if not isinstance(seed_batch, int) or not 1 <= seed_batch <= seeds:
        raise ConfigError("seed_batch", f"must be an integer in [1, seeds={seeds}]; got {seed_batch!r}")
    env = synthetic_linear(arms, dim, seed=seed, noise=NOISE)
    policy = linucb(ALPHA, reg=REG)
    record_every = rounds  # one recorded point: the final numbers

    single = jax.jit(lambda s: run_bandit(policy, env, env.params, s, rounds=rounds, record_every=record_every,
                                          draw_chunk=SINGLE_DRAW_CHUNK))
    lane = lambda s: run_bandit(policy, env, env.params, s, rounds=rounds, record_every=record_every)  # noqa: E731
    many = jax.jit(jax.vmap(lane))
    grouped = jax.jit(lambda s: jax.lax.map(lane, s, batch_size=seed_batch))
    seed_arr = jnp.uint32(seed)
    seed_lanes = jnp.arange(seed, seed + seeds, dtype=jnp.uint32)
    X, R, M = _stream(env, seed, rounds)

    results: dict[str, Any] = {}

    def timed(name, fn):
        def thunk():
            out = fn()
            results[name] = out
            return out

        return thunk

    fns = {
        "routerlab_single": timed("routerlab_single", lambda: single(seed_arr).regret),
        "routerlab_vmap": timed("routerlab_vmap", lambda: many(seed_lanes).regret),
        "routerlab_seed_batched": timed("routerlab_seed_batched", lambda: grouped(seed_lanes).regret),
        "numpy_sm": timed("numpy_sm", lambda: _numpy_linucb(X, R, M, arms)),
    }
    peers_skipped = []
    if importlib.util.find_spec("mabwiser") is not None:
        fns["mabwiser"] = timed("mabwiser", lambda: _mabwiser_linucb(X, R, M, arms))
    else:
        peers_skipped.append(("mabwiser", "not installed (pip install mabwiser, the `bench` extra)"))
    for case, module in _OTHER_PEERS.items():
        if importlib.util.find_spec(module) is None:
            peers_skipped.append((case, f"not installed ({module})"))
        else:
            peers_skipped.append((case, f"{module} is installed but routerlab has no adapter for it yet"))

    t0 = time.perf_counter()
    ms = interleaved_median_ms(fns, repeats=repeats, warmup=1)
    # Untimed: which arms the single stream chose, against the numpy loop's (same stream).
    logged = jax.jit(lambda s: run_bandit(recording(policy, rounds), env, env.params, s, rounds=rounds,
                                          record_every=record_every, draw_chunk=SINGLE_DRAW_CHUNK,
                                          return_state=True)[1].arms)(seed_arr)
    _, ref_arms, ref_gaps = _numpy_linucb(X, R, M, arms, record=True)
    extra = {"routerlab_single": agreement(logged, ref_arms, ref_gaps),
             "numpy_sm": {"final_regret_float32": float(_numpy_linucb(X, R, M, arms, dtype=np.float32))}}
    wall_s = time.perf_counter() - t0
    env_info = environment()
    common = {"bench": "bandits", "policy": "linucb", "alpha": ALPHA, "arms": arms, "dim": dim, "rounds": rounds,
              "seed": seed, "repeats": repeats, "environment": env_info}
    records = []
    for name, t_ms in ms.items():
        out = np.asarray(results[name])
        lanes = seeds if name in ("routerlab_vmap", "routerlab_seed_batched") else 1
        rec = {**common, "case": name, "median_ms": t_ms, "rounds_per_s": lanes * rounds / (t_ms / 1e3)}
        if lanes > 1:
            ci = mean_ci(out[:, -1])
            rec.update(seeds=seeds, final_regret=ci.mean, final_regret_ci95=ci.half_width)
            if name == "routerlab_seed_batched":
                rec["seed_batch"] = seed_batch
        else:
            rec["final_regret"] = float(out.reshape(-1)[-1])
        rec.update(extra.get(name, {}))
        records.append(rec)
    by = {r["case"]: r for r in records}
    base = by["numpy_sm"]["rounds_per_s"]
    for r in records:
        r["speedup_vs_numpy"] = r["rounds_per_s"] / base
        if "mabwiser" in by:
            r["speedup_vs_mabwiser"] = r["rounds_per_s"] / by["mabwiser"]["rounds_per_s"]
    for case, why in peers_skipped:
        records.append({**common, "case": case, "skipped": why})
    records.append({**common, "case": "note", "note": "compile time excluded (one untimed warm-up round); "
                    f"whole benchmark took {wall_s:.0f} s wall; machine may be shared, see environment"})
    return records
