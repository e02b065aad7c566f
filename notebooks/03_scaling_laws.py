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
# # Scaling laws of routing at a scale anyone can run
#
# * `expert_count`: a top-1 Switch MoE with E = 1 .. 64 experts at fixed active compute; the
#   step speed-up to the dense model's final loss (Switch Transformer's measure).
# * `scaling_fit`: Clark et al. 2022's bilinear law
#   `log L = a log N + b log E_hat + c log N log E_hat + d` over a grid of dense sizes N and
#   expert counts E, with bootstrap intervals and a t-interval over per-seed fits. Routing's
#   benefit, `-(b + c log N)`, shrinks with N when `c > 0`.
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI, `quick` or `paper` by hand).

# %%
import os

from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
count = ensure_run("expert_count", scale, out=runs_root())
print(count.path)

# %%
# One study per cell: each is a separate training run (the positive controls are shared through the unit cache).
fit = ensure_run("scaling_fit", scale, out=runs_root())
print(fit.path)

# %%
show_report(count)  # the report with its figure inline

# %%
show_report(fit)  # the report with its figure inline

# %% [markdown]
# ## Which claims held at this scale
#
# Computed from the summaries (at `smoke` the models are barely trained).

# %%
for study in (count, fit):
    print(f"{study.path.parent.name} verdict: {study.summary['verdict']}")
for name, entry in count.summary["analysis"].items():
    print(f"- {name}: step speed-up to the dense loss {entry['speedup']['text']}")
c_boot = fit.summary["analysis"]["fit"]["c"]
c_t = fit.summary["analysis"]["fit_per_seed_t"]["c"]
lo, hi = min(c_boot["lo"], c_t["lo"]), max(c_boot["hi"], c_t["hi"])
verdict = ("shrinks with N (c > 0)" if lo > 0 else "grows with N (c < 0)" if hi < 0
           else "is not resolved (the intervals of c include 0)")
print(f"- c = {c_boot['estimate']:+.4f}, bootstrap [{c_boot['lo']:+.4f}, {c_boot['hi']:+.4f}], "
      f"per-seed t [{c_t['lo']:+.4f}, {c_t['hi']:+.4f}]: routing's benefit {verdict}")
