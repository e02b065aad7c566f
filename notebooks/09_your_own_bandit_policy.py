# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Write your own bandit policy
#
# A routing policy in routerlab is three pure functions, in the style of optax:
#
# * `init(key, spec) -> state`: `spec` gives the number of arms `K` and the context size `d`;
# * `select(state, context, key) -> (arm, propensity)`: `context` holds the query features
#   `x`, a feasibility `mask`, each arm's known `cost` and the cost weight `lam`;
# * `update(state, context, arm, reward) -> state`, with `reward = quality - lam * cost[arm]`.
#
# Because they are pure, one `jax.jit` of `lax.scan` over rounds inside `vmap` over seeds runs
# the whole experiment (`routerlab.bandits.simulate`). This notebook writes a policy from
# scratch, explore-then-commit with a per-arm ridge regression, and races it against LinUCB
# and uniform routing on a synthetic linear environment. Nothing here starts a long run.

# %%
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from routerlab.bandits import BanditSpec, Policy, linucb, simulate, synthetic_linear, uniform
from routerlab.bandits.types import known_reward, masked_argmax, residual
from routerlab.report.stats import mean_ci

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
rounds, seeds = {"smoke": (400, 3), "quick": (4000, 8)}.get(scale, (20000, 16))

# %% [markdown]
# ## The policy: explore for `m` rounds per arm, then commit to the ridge estimate
#
# The state is a pytree of arrays: per arm, the Gram matrix `A = reg I + sum x x^T` and the
# vector `b = sum y x`, plus the round counter and the hyperparameter (stored in the state so
# that `vmap` over hyperparameters works). The policy learns only `y = reward + lam * cost`,
# the part of the reward it is not told before choosing (`residual`), and adds the known
# `-lam * cost` back when it scores arms (`known_reward`): that is the library's contract.

# %%
class ETCState(NamedTuple):
    gram: jax.Array  # [K, d, d]
    b: jax.Array  # [K, d]
    t: jax.Array  # [] rounds seen
    explore: jax.Array  # [] rounds of round-robin exploration per arm


def explore_then_commit(explore=20.0, *, reg=1.0) -> Policy:
    def init(key, spec: BanditSpec):
        eye = jnp.eye(spec.dim, dtype=jnp.float32)
        return ETCState(jnp.tile(reg * eye, (spec.num_arms, 1, 1)), jnp.zeros((spec.num_arms, spec.dim)),
                        jnp.zeros((), jnp.int32), jnp.asarray(explore, jnp.float32))

    def select(state, ctx, key):
        num_arms = state.b.shape[0]
        theta = jnp.linalg.solve(state.gram, state.b[..., None])[..., 0]  # [K, d]
        greedy = masked_argmax(theta @ ctx.x + known_reward(ctx), ctx.mask)
        exploring = state.t < state.explore * num_arms
        return jnp.where(exploring, state.t % num_arms, greedy), jnp.ones(())

    def update(state, ctx, arm, reward):
        y = residual(ctx, arm, reward)
        return state._replace(gram=state.gram.at[arm].add(jnp.outer(ctx.x, ctx.x)),
                              b=state.b.at[arm].add(y * ctx.x), t=state.t + 1)

    return Policy(init, select, update)


# %% [markdown]
# Round-robin exploration ignores the mask, so this sketch assumes every arm is feasible, which
# holds in the environment below. A policy for capped or budgeted routing would pick among the
# feasible arms (see `routerlab/bandits/policies.py`).
#
# ## Race it
#
# `simulate` compiles one program for all seeds. Regret is measured against the best arm's
# *expected* reward in each context (pseudo-regret), cumulated over rounds.

# %%
env = synthetic_linear(num_arms=5, dim=6, seed=0, noise=0.1)
contenders = {
    "uniform": lambda: uniform(),
    "explore_then_commit": lambda: explore_then_commit(explore=20.0),
    "linucb": lambda: linucb(alpha=1.0),
}
final = {}
for name, make in contenders.items():
    trace = simulate(make, env, rounds=rounds, seeds=seeds)
    final[name] = mean_ci(trace.regret[:, -1])
    m = final[name]
    print(f"{name:20s} cumulative regret after {rounds} rounds: {m.mean:8.2f}  95% CI [{m.lo:.2f}, {m.hi:.2f}]  ({m.n} seeds)")

# %% [markdown]
# A correct policy must at least beat routing at random; the next cell checks it on these seeds.
# LinUCB should win: it explores only where its estimate is uncertain, while explore-then-commit
# pays for a fixed number of blind rounds per arm and then never explores again. The exploration
# length sets that trade-off: too short and the policy commits to a bad estimate, too long and it
# pays for exploration it no longer needs. `simulate(..., hparams={"explore": [5, 20, 80]})` sweeps
# all three lengths in one compiled call (with `rounds` = 400 at smoke scale, `explore=80` is all
# exploration).

# %%
assert final["explore_then_commit"].hi < final["uniform"].lo, "explore-then-commit should beat uniform routing"
sweep = simulate(explore_then_commit, env, rounds=rounds, seeds=seeds, hparams={"explore": [5.0, 20.0, 80.0]})
for explore, regret in zip((5, 20, 80), sweep.regret[..., -1]):
    m = mean_ci(regret)
    print(f"explore={explore:3d}: regret {m.mean:8.2f}  95% CI [{m.lo:.2f}, {m.hi:.2f}]")
print("plays per arm (explore=20, seed 0):", np.asarray(sweep.arm_counts[1, 0]).astype(int))
