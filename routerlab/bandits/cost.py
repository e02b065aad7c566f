"""Cost as a first-class signal: per-query caps, feasibility and a hard global budget.

* Reward is ``r = quality - lam * cost`` with ``lam`` as data (``Context.lam``), so a vmap
  over a ``lam`` grid traces a cost–quality Pareto curve in one compiled call
  (:func:`routerlab.bandits.simulate.simulate`).
* :func:`apply_cost_cap` turns a per-query cost cap into the feasibility mask; policies
  never choose an infeasible arm.
* :func:`lagrangian` enforces a hard global budget ``B`` over a horizon ``T`` around any
  policy, by primal–dual pacing plus a hard stop.

Dual step-size rule. The per-round budget is ``rho = B / T``. The wrapper keeps a
dimensionless dual variable ``nu >= 0`` and prices cost at ``lam + nu / rho`` (so ``nu`` is
in units of reward per budget-rate, independent of the currency of ``cost``). After each
round it takes a projected online-gradient step on the dual of the per-round constraint
``E[c_t] <= rho``:

    nu_{t+1} = clip(nu_t + eta0 / sqrt(t + 1) * (c_t / rho - 1), 0, nu_max)

``eta0 / sqrt(t)`` is the standard step for online convex optimisation, giving O(sqrt(T))
cumulative constraint violation of the paced (soft) part (Agrawal & Devanur 2016;
Immorlica et al. 2019, LagrangeBwK). On top, the **hard stop** masks every arm whose known cost exceeds
the remaining budget, so with costs known ex ante the budget is never exceeded unless even
the cheapest feasible arm does not fit (then the cheapest is played and the simulator
counts the violation).

The base policy keeps learning quality only: the wrapper passes it the context with
``lam + nu / rho`` and the reward ``r - (nu / rho) * c``, whose residual is the same quality.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from routerlab.bandits.types import BanditSpec, Context, Policy

__all__ = ["apply_cost_cap", "fallback_mask", "lagrangian", "LagrangianState"]

f32 = jnp.float32


def fallback_mask(feasible: jax.Array, mask: jax.Array, cost: jax.Array) -> jax.Array:
    """``feasible``, or the single cheapest arm of ``mask`` when nothing is feasible."""
    cheapest = jnp.argmin(jnp.where(mask, cost, jnp.inf))
    only_cheapest = jnp.arange(mask.shape[0]) == cheapest
    return jnp.where(jnp.any(feasible), feasible, only_cheapest)


def apply_cost_cap(ctx: Context, cap) -> Context:
    """Mask arms whose known cost exceeds ``cap`` (``inf`` = no cap).

    If no arm fits, the cheapest feasible arm stays available (a router must answer); the
    simulator reports such rounds as cap violations.
    """
    feasible = ctx.mask & (ctx.cost <= cap)
    return ctx._replace(mask=fallback_mask(feasible, ctx.mask, ctx.cost))


class LagrangianState(NamedTuple):
    base: Any
    nu: jax.Array  # dual variable (dimensionless)
    spent: jax.Array  # cost spent so far (known costs of played arms)
    t: jax.Array  # rounds played
    budget: jax.Array
    horizon: jax.Array
    eta0: jax.Array
    nu_max: jax.Array


def lagrangian(base: Policy, budget, horizon, *, eta0=1.0, nu_max=10.0) -> Policy:
    """Wrap ``base`` to spend at most ``budget`` over ``horizon`` rounds (module docstring).

    ``budget``, ``horizon``, ``eta0`` and ``nu_max`` are data in the state (vmap-able).
    """

    def init(key, spec: BanditSpec):
        return LagrangianState(
            base=base.init(key, spec),
            nu=jnp.zeros((), f32),
            spent=jnp.zeros((), f32),
            t=jnp.zeros((), f32),
            budget=jnp.asarray(budget, f32),
            horizon=jnp.asarray(horizon, f32),
            eta0=jnp.asarray(eta0, f32),
            nu_max=jnp.asarray(nu_max, f32),
        )

    def priced(state: LagrangianState, ctx: Context) -> tuple[Context, jax.Array]:
        rho = state.budget / state.horizon
        extra = state.nu / rho
        fits = ctx.mask & (ctx.cost <= state.budget - state.spent)
        mask = fallback_mask(fits, ctx.mask, ctx.cost)
        return ctx._replace(mask=mask, lam=ctx.lam + extra), extra

    def select(state: LagrangianState, ctx: Context, key):
        inner, _ = priced(state, ctx)
        return base.select(state.base, inner, key)

    def update(state: LagrangianState, ctx: Context, arm, reward):
        inner, extra = priced(state, ctx)
        c = ctx.cost[arm]
        base_state = base.update(state.base, inner, arm, reward - extra * c)
        rho = state.budget / state.horizon
        eta = state.eta0 / jnp.sqrt(state.t + 1.0)
        nu = jnp.clip(state.nu + eta * (c / rho - 1.0), 0.0, state.nu_max)
        return state._replace(base=base_state, nu=nu, spent=state.spent + c, t=state.t + 1.0)

    return Policy(init, select, update)
