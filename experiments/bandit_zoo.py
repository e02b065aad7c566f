"""Bandit zoo: every contextual-bandit policy on every environment, and a cost-penalty Pareto sweep.

Policies (routerlab.bandits): uniform, epsilon-greedy, softmax, LinUCB, linear Thompson
sampling, SquareCB, a bootstrapped ensemble, NeuralLinear and NeuralUCB-style. (Hybrid
LinUCB and NeuralTS are in the library and its tests, not in this sweep.) Environments:
synthetic linear, the wheel bandit (Riquelme et al. 2018), a drifting linear environment,
multiclass-to-bandit on scikit-learn's bundled digits, and replay of a synthetic
full-information routing log (each model's outcome known, only the chosen one revealed).
One compiled simulator per (policy, environment): lax.scan over rounds, vmap over seeds.
The Pareto sweep replays the routing log with reward quality - lambda * cost, vmapped over
a lambda grid in one compiled call.

Command:
    routerlab run bandit_zoo --scale quick
    routerlab run bandit_zoo --scale smoke --set rounds=400

Runtime on 2 CPU cores: smoke ~30 s, quick ~4 min (3.9 CPU-minutes measured), paper ~25 min (estimated: 5x the rounds, 5 seeds).

Expected result: learning policies (LinUCB, LinTS, SquareCB, the neural ones) have lower
cumulative regret than uniform on every environment; on the wheel bandit with a large
delta, greedy-ish linear policies struggle (Riquelme et al.'s point); raising lambda lowers
the cost per round and the quality per round together, tracing the Pareto curve.

Feeds: paper Table tab:bandit_zoo (final regret per policy and environment) and Figure
bandit_zoo.pdf (regret curves); the Pareto curve is in the run's report.
"""

from dataclasses import replace

from routerlab.studies.bandit_zoo import BanditZooConfig, paper, report, run  # noqa: F401

SCALES = ("smoke", "quick", "paper")


def get_config(scale: str) -> BanditZooConfig:
    if scale == "smoke":
        return BanditZooConfig.smoke()
    if scale == "quick":
        return replace(BanditZooConfig(), num_seeds=3, rounds=2000, record_every=100)
    if scale == "paper":
        return replace(BanditZooConfig(), num_seeds=5, rounds=10000, record_every=250)
    raise ValueError(f"unknown scale {scale!r}")
