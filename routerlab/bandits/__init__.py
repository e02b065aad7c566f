"""Learned routing across models as a contextual bandit, in pure JAX.

A router sees only the outcome of the model it called. Policies are optax-style triples of
pure functions, environments are pure functions of ``(params, key, t)``, and one jitted
simulator runs ``lax.scan`` over rounds inside ``vmap`` over seeds, hyperparameters, cost
weights and environments. See the submodules:

* :mod:`.types`     the contract: ``BanditSpec``, ``Context``, ``Round``, ``Policy``, ``Env``.
* :mod:`.policies`  uniform, epsilon-greedy, softmax, LinUCB (disjoint, hybrid), LinTS,
                    SquareCB, bootstrapped ensembles.
* :mod:`.neural`    NeuralLinear and NeuralUCB/NeuralTS-style policies (Flax NNX + optax).
* :mod:`.linalg`    float32-stable online ridge regression.
* :mod:`.cost`      cost caps, feasibility, a Lagrangian hard budget.
* :mod:`.envs`      synthetic linear, drifting, wheel, multiclass, routing-log replay.
* :mod:`.simulate`  the simulator, grids, and writing results into a ``RunDir``.
* :mod:`.ope`       off-policy evaluation: IPS, SNIPS, DM, DR, Switch-DR, bootstrap CIs.
* the bandit zoo study (every policy on every environment) is :mod:`routerlab.studies.bandit_zoo`.
"""

from routerlab.bandits.cost import apply_cost_cap, lagrangian
from routerlab.bandits.envs import drifting_linear, multiclass, replay, synthetic_linear, wheel
from routerlab.bandits.linalg import refresh_ridges
from routerlab.bandits.neural import neural_linear, neural_ts, neural_ucb
from routerlab.bandits.ope import Logged, bootstrap_ci, direct_method, doubly_robust, ips, snips, switch_dr
from routerlab.bandits.policies import (
    bootstrap,
    epsilon_greedy,
    greedy,
    hybrid_linucb,
    lin_ts,
    linucb,
    softmax,
    squarecb,
    ts_propensities,
    uniform,
)
from routerlab.bandits.simulate import Trace, grid, log_trace, run_bandit, simulate
from routerlab.bandits.types import BanditSpec, Context, Env, Policy, Round, make_context

__all__ = [
    "BanditSpec",
    "Context",
    "Env",
    "Policy",
    "Round",
    "make_context",
    "uniform",
    "epsilon_greedy",
    "greedy",
    "softmax",
    "linucb",
    "hybrid_linucb",
    "lin_ts",
    "squarecb",
    "bootstrap",
    "ts_propensities",
    "neural_linear",
    "neural_ucb",
    "neural_ts",
    "Logged",
    "ips",
    "snips",
    "direct_method",
    "doubly_robust",
    "switch_dr",
    "bootstrap_ci",
    "apply_cost_cap",
    "lagrangian",
    "refresh_ridges",
    "synthetic_linear",
    "drifting_linear",
    "wheel",
    "multiclass",
    "replay",
    "Trace",
    "run_bandit",
    "simulate",
    "grid",
    "log_trace",
]
