"""One compiled simulator: ``lax.scan`` over rounds, ``vmap`` over seeds x hparams x lambdas x envs.

:func:`run_bandit` plays one policy on one environment for one seed; it is pure, so
:func:`simulate` nests it in vmaps and jits the whole grid once::

    trace = simulate(linucb, env, rounds=5000, seeds=8, hparams={"alpha": [0.1, 1.0]},
                     lams=[0.0, 0.5, 1.0])
    trace.regret.shape   # [H=2, L=3, S=8, rounds // record_every]

Regret is pseudo-regret against the expected-reward oracle of each round: the best
feasible arm for that context under ``E[quality] - lam * E[cost]``. Budgets are enforced
by policies (:func:`routerlab.bandits.cost.lagrangian`); the simulator *measures*
violations: cumulative cost over ``budget`` and rounds whose played cost exceeded the cap.

Randomness: seed ``s`` draws from named streams (:mod:`routerlab.rng`): ``"bandit/env"``
(contexts and outcomes: shared by every policy and hyperparameter at the same seed, i.e.
common random numbers), ``"bandit/policy"`` (selection) and ``"bandit/init"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from routerlab.bandits.cost import apply_cost_cap
from routerlab.bandits.linalg import refresh_ridges
from routerlab.bandits.types import Env, Policy
from routerlab.config import check
from routerlab.report.stats import mean_ci
from routerlab.rng import stream_key

__all__ = ["Trace", "run_bandit", "simulate", "grid", "log_trace", "summarize_final"]

f32 = jnp.float32


class Trace(NamedTuple):
    """Per-run results; curves are cumulative, sampled every ``record_every`` rounds."""

    regret: Any  # [..., R] cumulative pseudo-regret
    reward: Any  # [..., R] cumulative realized reward
    quality: Any  # [..., R] cumulative realized quality
    cost: Any  # [..., R] cumulative realized cost
    cap_violations: Any  # [...] rounds whose played (known) cost exceeded the cap
    budget_violation: Any  # [...] max(0, total cost - budget) / budget (0 when no budget)
    arm_counts: Any  # [..., K] plays per arm


def run_bandit(
    policy: Policy,
    env: Env,
    params: Any,
    seed: jax.Array,
    *,
    rounds: int,
    record_every: int = 1,
    lam: Any = 0.0,
    cost_cap: Any = math.inf,
    budget: Any = math.inf,
    refresh_every: int = 1000,
    draw_chunk: int = 1,
    return_state: bool = False,
) -> Trace | tuple[Trace, Any]:
    """Play ``rounds`` rounds of ``policy`` on ``env`` (pure; traced ``seed``/``lam``/... fine).

    Round ``t``'s context and outcomes are ``env.step(params, fold_in(k_env, t), t)`` and the
    policy's key is ``fold_in(k_pol, t)``; they are drawn ``gcd(record_every, draw_chunk)``
    rounds at a time with one vectorised call, then played in order (``1``: each round draws
    its own). ``draw_chunk`` changes speed only: the same random draws, the same arithmetic up
    to float32 summation order where the draw batches a matvec. For one stream on CPU,
    ``draw_chunk=32`` runs LinUCB ~1.7x faster (a per-round draw is mostly fixed overhead);
    under ``vmap`` over 256 seeds it was ~1.5x *slower* (2026-11-30), hence the default 1.

    Rounds run as an outer ``lax.scan`` over blocks of ``record_every`` rounds (one
    recorded point each) around an inner scan. After every block in which a multiple of
    ``refresh_every`` rounds is passed, :func:`~routerlab.bandits.linalg.refresh_ridges`
    re-derives every ridge inverse from its exact Gram matrix; the predicate depends only
    on the block index, so under ``vmap`` it stays a real ``cond`` (0 disables).

    ``return_state=True`` returns ``(trace, final policy state)``: a policy that logs into
    its state (e.g. the arm of every round) can be read back after one faithful run.
    """
    if draw_chunk < 1:
        raise ValueError(f"draw_chunk must be >= 1; got {draw_chunk}")
    if rounds % record_every:
        raise ValueError(f"rounds ({rounds}) must be a multiple of record_every ({record_every})")
    seed = jnp.asarray(seed, jnp.uint32)
    k_env, k_pol, k_init = (stream_key(seed, name) for name in ("bandit/env", "bandit/policy", "bandit/init"))
    lam = jnp.asarray(lam, f32)
    cost_cap = jnp.asarray(cost_cap, f32)
    K = env.spec.num_arms
    state0 = policy.init(k_init, env.spec)

    def one_round(carry, inputs):
        # ``sums`` = cumulative (regret, reward, quality, cost, cap violations) as one vector:
        # one add per round instead of five scalar ones (each a kernel launch on CPU).
        state, sums, arm_counts = carry
        rnd, k_round = inputs
        ctx = apply_cost_cap(rnd.context._replace(lam=lam), cost_cap)
        arm, _ = policy.select(state, ctx, k_round)
        q, c = rnd.quality[arm], rnd.cost[arm]
        reward = q - lam * c
        state = policy.update(state, ctx, arm, reward)
        mean_r = rnd.mean_quality - lam * rnd.mean_cost
        best = jnp.max(jnp.where(ctx.mask, mean_r, -jnp.inf))
        sums = sums + jnp.stack([best - mean_r[arm], reward, q, c, (ctx.cost[arm] > cost_cap).astype(f32)])
        return (state, sums, arm_counts.at[arm].add(1.0)), None

    chunk = math.gcd(record_every, draw_chunk)

    def draws(ts):
        """The environment's rounds and the policy's keys of rounds ``ts``, drawn together."""
        rnds = jax.vmap(lambda t: env.step(params, jax.random.fold_in(k_env, t), t))(ts)
        return rnds, jax.vmap(lambda t: jax.random.fold_in(k_pol, t))(ts)

    def drawn_round(carry, t):
        return one_round(carry, (env.step(params, jax.random.fold_in(k_env, t), t), jax.random.fold_in(k_pol, t)))

    def rounds_of(carry, c):
        # One vectorised draw for ``chunk`` rounds, then those rounds in order: the draws are
        # pure functions of the round index, so this is the round-by-round stream, drawn faster.
        return jax.lax.scan(one_round, carry, draws(c * chunk + jnp.arange(chunk)))

    def block(carry, b):
        if chunk == 1:
            (state, sums, counts), _ = jax.lax.scan(drawn_round, carry, b * record_every + jnp.arange(record_every))
        else:
            chunks = b * (record_every // chunk) + jnp.arange(record_every // chunk)
            (state, sums, counts), _ = jax.lax.scan(rounds_of, carry, chunks)
        if refresh_every:
            due = ((b + 1) * record_every) // refresh_every > (b * record_every) // refresh_every
            state = jax.lax.cond(due, refresh_ridges, lambda s: s, state)
        return (state, sums, counts), sums[:4]

    carry0 = (state0, jnp.zeros((5,), f32), jnp.zeros((K,), f32))
    (state, sums, arm_counts), curves = jax.lax.scan(block, carry0, jnp.arange(rounds // record_every))
    regret, reward, quality, cost = (curves[:, i] for i in range(4))
    budget = jnp.asarray(budget, f32)
    violation = jnp.where(jnp.isfinite(budget), jnp.maximum(sums[3] - budget, 0.0) / budget, 0.0)
    trace = Trace(regret, reward, quality, cost, sums[4], violation, arm_counts)
    return (trace, state) if return_state else trace


def grid(**axes: Sequence[float]) -> dict[str, np.ndarray]:
    """The Cartesian product of hyperparameter axes, flattened: ``grid(a=[1, 2], b=[3, 4])``
    gives ``{"a": [1, 1, 2, 2], "b": [3, 4, 3, 4]}`` (one H axis for :func:`simulate`)."""
    names = list(axes)
    mesh = np.meshgrid(*[np.asarray(axes[n], np.float32) for n in names], indexing="ij")
    return {n: m.ravel() for n, m in zip(names, mesh)}


def simulate(
    policy_fn: Callable[..., Policy],
    env: Env,
    *,
    rounds: int,
    seeds: int | Sequence[int] = 1,
    hparams: Mapping[str, Sequence[float]] | None = None,
    lams: Sequence[float] | None = None,
    env_params: Any = None,
    record_every: int | None = None,
    cost_cap: float = math.inf,
    budget: float = math.inf,
    refresh_every: int = 1000,
    seed_batch: int | None = None,
) -> Trace:
    """Run the grid in one jitted call; returns numpy arrays.

    ``policy_fn(**hp)`` builds the policy from one hyperparameter point (values are traced
    scalars, so factories must store them in the state, as all of ours do). ``hparams``
    maps names to equal-length sequences (one H axis; see :func:`grid`). ``env_params``, if
    given, is ``env.params`` stacked along a leading E axis. Result axes, outermost first:
    ``[E] (only with env_params), H (only with hparams), L (only with lams), S``.

    ``seed_batch``: run the seeds ``seed_batch`` at a time (``jax.lax.map(..., batch_size=)``:
    a scan over groups, each group vmapped) instead of all at once. Same numbers; on CPU a
    group whose policy states fit in cache is faster per seed (LinUCB, 10 arms, d = 32: 32
    seeds hold 2.6 MB of ridge state against 21 MB for 256; ~1.3x the rounds per CPU-second,
    2026-11-30). ``None``: one vmap over all seeds.
    """
    check(seed_batch is None or (isinstance(seed_batch, int) and seed_batch >= 1), "seed_batch",
          f"must be None or an integer >= 1; got {seed_batch!r}")
    seeds = np.arange(seeds) if isinstance(seeds, int) else np.asarray(seeds)
    record_every = record_every or max(1, rounds // 100)
    check(rounds % record_every == 0, "record_every", f"must divide rounds ({rounds}); got {record_every}")
    hp = {k: np.asarray(v, np.float32) for k, v in (hparams or {}).items()}
    if hp:
        sizes = {v.shape for v in hp.values()}
        check(len(sizes) == 1 and len(next(iter(sizes))) == 1, "hparams", f"need equal-length 1-D sequences; got {sizes}")

    def one(params, h, lam, seed):
        return run_bandit(
            policy_fn(**h), env, params, seed, rounds=rounds, record_every=record_every,
            lam=lam, cost_cap=cost_cap, budget=budget, refresh_every=refresh_every,
        )

    if seed_batch is None:
        fn = jax.vmap(one, in_axes=(None, None, None, 0))
    else:
        def fn(params, h, lam, seed):
            return jax.lax.map(lambda s: one(params, h, lam, s), seed, batch_size=seed_batch)
    if lams is not None:
        fn = jax.vmap(fn, in_axes=(None, None, 0, None))
    if hp:
        fn = jax.vmap(fn, in_axes=(None, 0, None, None))
    if env_params is not None:
        fn = jax.vmap(fn, in_axes=(0, None, None, None))
    params = env.params if env_params is None else env_params
    lam_arg = jnp.asarray(0.0 if lams is None else np.asarray(lams, np.float32), f32)
    out = jax.jit(fn)(params, {k: jnp.asarray(v) for k, v in hp.items()}, lam_arg, jnp.asarray(seeds, jnp.uint32))
    return Trace(*jax.tree.map(np.asarray, tuple(out)))


def _mean_half(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Means and 95% half-widths over ``axis``, one Student-t interval per remaining entry
    (:func:`routerlab.report.stats.mean_ci`, the project's one interval function)."""
    values = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    cis = [mean_ci(v) for v in values.reshape(-1, values.shape[-1])]
    shape = values.shape[:-1]
    return (np.array([c.mean for c in cis]).reshape(shape), np.array([c.half_width for c in cis]).reshape(shape))


def _r(x: float) -> float:
    """Round to 6 significant digits: records stay deterministic and readable."""
    return float(f"{float(x):.6g}")


def summarize_final(trace: Trace) -> dict[str, Any]:
    """Final numbers of a single-setting trace (axes ``[S, ...]``): means and Student-t 95% half-widths."""
    out: dict[str, Any] = {"seeds": int(trace.regret.shape[0])}
    for name in ("regret", "reward", "quality", "cost"):
        m, h = _mean_half(np.asarray(getattr(trace, name))[:, -1], axis=0)
        out[name] = _r(m)
        out[f"{name}_ci95"] = _r(h)
    out["budget_violation"] = _r(np.mean(trace.budget_violation))
    out["cap_violations"] = _r(np.mean(trace.cap_violations))
    return out


def log_trace(rundir, trace: Trace, *, unit: str, rounds: int, labels: Mapping[str, Any] | None = None) -> dict:
    """Write one single-setting trace (axes ``[S, R]``) to ``rundir``'s metrics.jsonl as ONE record.

    The record holds the final numbers (means, Student-t 95% half-widths over seeds) and the seed-mean
    curves as lists, under ``"unit"``; one line per unit means a killed run never leaves a
    half-written unit behind (see :meth:`routerlab.rundir.RunDir.completed_units`). Values
    are rounded to 6 significant digits and carry no timings, so reruns write identical
    bytes. Returns the record.
    """
    regret = np.asarray(trace.regret)
    num_points = regret.shape[-1]
    every = rounds // num_points
    rec: dict[str, Any] = {"unit": unit, "rounds": rounds, **dict(labels or {}), **summarize_final(trace)}
    rec["curve_round"] = [(i + 1) * every for i in range(num_points)]
    for name in ("regret", "cost"):
        mean, half = _mean_half(np.asarray(getattr(trace, name)), axis=0)
        rec[f"curve_{name}"] = [_r(v) for v in mean]
        rec[f"curve_{name}_ci95"] = [_r(v) for v in half]
    rundir.log(rec)
    return rec
