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
# # Planted experts: do routers find structure that is really there?
#
# Inputs come from a mixture of Gaussian clusters, each with its own nonlinear target
# (Jacobs et al. 1991). Each router trains one MoE layer; a dense MLP with the same active
# FFN width is the baseline. We read two numbers per router, over 3+ seeds with 95%
# t-intervals: test normalized MSE, and the adjusted mutual information (AMI) between each
# input's top expert and its planted cluster.
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI, `quick` or `paper` by hand). The
# notebook reuses a recorded run with the same config when one exists.

# %%
import os

from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
run = ensure_run("planted_experts", scale, out=runs_root())
print(run.path)

# %%
show_report(run)  # the report with its figure inline

# %% [markdown]
# ## Reading the result
#
# Hash routing assigns inputs by fixed random hyperplanes and never learns: it is the
# control. On continuous inputs the hash is locality-sensitive, so it groups nearby inputs
# and its AMI sits above 0, but it cannot follow the targets. Learned routers that push AMI
# well above hash's have found the planted partition; whether that buys lower error than the dense MLP of
# equal active width is the question the table answers, at this scale, with its intervals.
# At `smoke` scale the models are barely trained; read the numbers at `quick` or `paper`.

# %%
summary = run.summary["variants"]
dense = summary["dense"]["test_nmse"]["mean"] if "dense" in summary else None
for variant, entry in summary.items():
    if variant == "dense" or dense is None:
        continue
    nmse = entry["test_nmse"]
    verdict = "below" if nmse["hi"] < dense else ("above" if nmse["lo"] > dense else "not distinguishable from")
    print(f"{variant:14s} test NMSE {nmse['mean']:.3f} [{nmse['lo']:.3f}, {nmse['hi']:.3f}]: {verdict} dense ({dense:.3f})")
