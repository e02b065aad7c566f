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
# # Contextual bandits: regret curves and the cost–quality Pareto curve
#
# Across models, a router sees only the outcome of the model it called: a contextual
# bandit. This notebook loads the `bandit_zoo` experiment (every policy on every
# environment, 3+ seeds) and shows (1) cumulative regret against the best arm per context
# and (2) the Pareto curve that one compiled `vmap` over the cost penalty lambda traces on
# a replayed routing log, with reward `quality - lambda * cost`.
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI, `quick` or `paper` by hand).

# %%
import os

from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
run = ensure_run("bandit_zoo", scale, out=runs_root())
print(run.path)

# %%
show_report(run)  # the report with its regret and Pareto figures inline

# %% [markdown]
# ## What held
#
# Computed from the run's summary: on each environment, which policy had the lowest final
# regret, and whether every learning policy beat uniform exploration beyond the intervals.

# %%
summary = run.summary
for env, by_policy in summary["final_regret"].items():
    uniform = by_policy.get("uniform")
    best = summary["best_policy"][env]
    line = f"{env:18s} best: {best} ({by_policy[best]['final_regret']:.1f} ± {by_policy[best]['ci95']:.1f})"
    if uniform is not None:
        beaten = [p for p, r in by_policy.items() if p != "uniform" and r["final_regret"] + r["ci95"] < uniform["final_regret"] - uniform["ci95"]]
        line += f"; beat uniform beyond the intervals: {', '.join(beaten) or 'none'}"
    print(line)

# %%
pareto = summary["pareto"]
cheapest, richest = pareto[-1], pareto[0]
print(f"lambda {richest['lam']:g}: quality/round {richest['quality_per_round']:.3f}, cost/round {richest['cost_per_round']:.4f}")
print(f"lambda {cheapest['lam']:g}: quality/round {cheapest['quality_per_round']:.3f}, cost/round {cheapest['cost_per_round']:.4f}")
