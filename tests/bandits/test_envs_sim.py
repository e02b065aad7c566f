"""Environments, the simulator, cost handling and RunDir output."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from routerlab.bandits import (
    drifting_linear,
    lagrangian,
    linucb,
    log_trace,
    multiclass,
    replay,
    simulate,
    uniform,
    wheel,
)
from routerlab.bandits.envs import WHEEL_MEANS
from routerlab.rundir import RunDir


def _rounds(env, n, seed=0):
    return jax.jit(jax.vmap(lambda t: env.step(env.params, jax.random.fold_in(jax.random.key(seed), t), t)))(jnp.arange(n))


def test_wheel_bandit_means_follow_the_paper():
    delta = 0.6
    r = _rounds(wheel(delta), 20_000)
    x, mean = np.asarray(r.context.x), np.asarray(r.mean_quality)
    radius = np.linalg.norm(x, axis=1)
    assert radius.max() <= 1.0
    assert abs((radius > delta).mean() - (1 - delta**2)) < 0.01  # uniform on the disc
    inner = radius <= delta
    np.testing.assert_array_equal(mean[inner], np.tile(np.float32([1.0, 1.0, 1.0, 1.0, 1.2]), (inner.sum(), 1)))
    quadrant = 2 * (x[:, 0] <= 0) + (x[:, 1] <= 0)
    for q in range(4):
        sel = ~inner & (quadrant == q)
        expected = np.float32([1.0, 1.0, 1.0, 1.0, 1.2])
        expected[q] = WHEEL_MEANS["mu_3"]
        np.testing.assert_array_equal(mean[sel], np.tile(expected, (sel.sum(), 1)))
    noise = np.asarray(r.quality) - mean
    assert abs(noise.std() - WHEEL_MEANS["sigma"]) < 1e-3


def test_multiclass_and_replay_reveal_logged_outcomes():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.integers(0, 4, 50)
    r = _rounds(multiclass(X, y, num_classes=4), 200)
    rows = [int(np.argmin(np.abs(X - xr).sum(1))) for xr in np.asarray(r.context.x)]
    np.testing.assert_array_equal(np.asarray(r.quality).argmax(1), y[rows])
    np.testing.assert_array_equal(np.asarray(r.quality).sum(1), 1.0)

    Q, M = 30, 3
    ctx, qual, cost = rng.normal(size=(Q, 2)), rng.uniform(size=(Q, M)), rng.uniform(size=(Q, M))
    r = _rounds(replay(ctx, qual, cost), 100)
    rows = [int(np.argmin(np.abs(ctx - xr).sum(1))) for xr in np.asarray(r.context.x)]
    np.testing.assert_allclose(np.asarray(r.quality), qual[rows], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(r.context.cost), cost[rows], rtol=1e-6)
    hidden = _rounds(replay(ctx, qual, cost, cost_known=False), 5)
    np.testing.assert_allclose(np.asarray(hidden.context.cost)[0], cost.mean(0), rtol=1e-6)


def test_drifting_env_rotates_its_parameters():
    env = drifting_linear(3, 2, period=400.0, noise=0.0)
    at = lambda t: np.asarray(env.step(env.params, jax.random.key(0), t).mean_quality)  # noqa: E731
    x = np.asarray(env.step(env.params, jax.random.key(0), 0).context.x)
    np.testing.assert_allclose(at(0), np.asarray(env.params["theta0"]) @ x, rtol=1e-5)
    np.testing.assert_allclose(at(100), np.asarray(env.params["theta1"]) @ x, rtol=1e-4, atol=1e-5)


def _fleet(Q=400, seed=0):
    """Three models: cheap/weak, medium, expensive/strong, with per-query variation."""
    rng = np.random.default_rng(seed)
    ctx = rng.normal(size=(Q, 3)).astype(np.float32)
    ctx[:, 0] = 1.0
    base = np.array([0.3, 0.55, 0.8])
    qual = np.clip(base + 0.2 * ctx[:, 1:2] * np.array([1.0, -0.5, 0.2]), 0, 1)
    cost = np.array([0.1, 0.4, 1.0]) * (1 + 0.2 * np.abs(ctx[:, 2:3]))
    return ctx, qual.astype(np.float32), cost.astype(np.float32)


def test_uniform_regret_equals_expected_gap():
    ctx, qual, cost = _fleet()
    t = simulate(uniform, replay(ctx, qual, cost), rounds=2000, seeds=16, record_every=2000)
    expected = 2000 * np.mean(qual.max(1) - qual.mean(1))
    mean, se = t.regret[:, -1].mean(), t.regret[:, -1].std(ddof=1) / 4
    assert abs(mean - expected) < 4 * se + 1e-3, (mean, expected, se)


def test_lambda_sweep_traces_a_pareto_curve_in_one_call():
    ctx, qual, cost = _fleet()
    lams = [0.0, 0.3, 1.0, 3.0]
    t = simulate(linucb, replay(ctx, qual, cost), rounds=1500, seeds=3, lams=lams, hparams={"alpha": [0.3]}, record_every=500)
    assert t.regret.shape == (1, 4, 3, 3)
    c, q = t.cost[0, :, :, -1].mean(-1), t.quality[0, :, :, -1].mean(-1)
    assert np.all(np.diff(c) < 0) and np.all(np.diff(q) <= 0), (c, q)
    assert c[0] > 2 * c[-1]


def test_cost_cap_masks_arms_and_is_never_violated():
    ctx, qual, cost = _fleet()
    t = simulate(linucb, replay(ctx, qual, cost), rounds=1000, seeds=2, cost_cap=0.9, record_every=500)
    assert np.all(t.arm_counts[..., 2] == 0)  # the strong model always costs > 0.9
    assert np.all(t.cap_violations == 0)
    # a cap nothing fits: the cheapest model answers, and the violation is counted
    t = simulate(linucb, replay(ctx, qual, cost), rounds=100, seeds=1, cost_cap=0.01, record_every=100)
    assert np.all(t.arm_counts[..., 0] == 100) and np.all(t.cap_violations == 100)


def test_lagrangian_respects_a_hard_budget_and_spends_it_well():
    ctx, qual, cost = _fleet()
    env = replay(ctx, qual, cost)
    T = 2000
    free = simulate(linucb, env, rounds=T, seeds=3, record_every=T)
    budget = 0.35 * float(free.cost[:, -1].mean())
    paced = simulate(lambda: lagrangian(linucb(0.3), budget, T), env, rounds=T, seeds=3, budget=budget, record_every=T)
    cheap = T * float(np.mean(qual[:, 0]))
    assert np.all(paced.cost[:, -1] <= budget + 1e-3)
    assert np.all(paced.budget_violation == 0)
    assert np.all(paced.cost[:, -1] > 0.8 * budget)  # pacing spends the budget...
    assert np.all(paced.quality[:, -1] > cheap * 1.2)  # ...on quality, well above the cheapest model


def test_log_trace_is_deterministic(tmp_path):
    ctx, qual, cost = _fleet()
    texts = []
    t = simulate(linucb, replay(ctx, qual, cost), rounds=300, seeds=3, record_every=100)
    for i in range(2):  # recomputation is byte-identical too: see the resume check in test_zoo
        run = RunDir.create(tmp_path / str(i), "bandit_test", {"seed": 0})
        rec = log_trace(run, t, unit="replay/linucb", rounds=300, labels={"policy": "linucb"})
        texts.append(run.metrics_path.read_bytes())
    assert texts[0] == texts[1]
    assert rec["curve_round"] == [100, 200, 300] and math.isfinite(rec["regret_ci95"])
    assert run.completed_units() == {"replay/linucb"}


def test_summarize_final_uses_the_student_t_interval():
    """Final regrets 1, 2, 3 over 3 seeds: mean 2, s = 1, half-width t_{2,.975} * s / sqrt(3)
    = 4.3027 / 1.7321 = 2.4841 (the old normal interval gave 1.96 / 1.7321 = 1.1316)."""
    from routerlab.bandits.simulate import Trace, summarize_final

    curves = np.array([[0.0, 1.0], [1.0, 2.0], [0.5, 3.0]])  # [S=3, R=2]
    t = Trace(curves, curves, curves, curves, np.zeros(3), np.zeros(3), np.zeros((3, 2)))
    out = summarize_final(t)
    assert out["seeds"] == 3 and out["regret"] == 2.0
    assert abs(out["regret_ci95"] - 2.48418) < 1e-4
    one = summarize_final(Trace(*(x[:1] for x in t)))
    assert one["regret"] == 1.0 and one["regret_ci95"] == 0.0  # one seed: zero-width, as report.stats says


def test_simulate_seed_batch_gives_the_same_numbers():
    """Seeds run 2 at a time (a scan over vmapped groups) equal all 4 in one vmap."""
    env = wheel(0.5)
    full = simulate(linucb, env, rounds=60, seeds=4, record_every=20, lams=[0.0, 0.5])
    grouped = simulate(linucb, env, rounds=60, seeds=4, record_every=20, lams=[0.0, 0.5], seed_batch=2)
    assert full.regret.shape == grouped.regret.shape == (2, 4, 3)
    for a, b in zip(full, grouped):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
