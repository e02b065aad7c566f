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
# # MoE versus dense: is routing "80% less compute per token" at a scale anyone can run?
#
# The seed claims sparse MoE models reach dense quality at a fraction of the compute
# ("a 70B MoE model can match or exceed a 400B dense model ... while using 80% less compute
# per token").
#
# We test it as the sentence says, on a toy decoder LM and a generated five-domain byte corpus:
# a top-1 (Switch) MoE against dense models of 1x, 2x, 4x and 8x the FFN width, all on the
# same tokens, each at its own learning rate chosen on validation. The dense models trace a
# frontier of test loss against active FLOPs per token.
#
# **Dense-equivalent ratio** (per seed): the FLOPs per token at which the dense frontier
# reaches the MoE's test loss, over the MoE's own active FLOPs per token. The seed's "80%
# less" is a ratio >= 5. Seeds beyond the frontier are reported as bounds, never averaged.
# Before any verdict, two **positive controls** must resolve: dense 4x beats dense 1x, and
# Switch (E = 8) beats dense at equal active FLOPs. If either fails, the study says
# `underpowered` instead of answering. Intervals are 95% Student-t over seeds.
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI, `quick` or `paper` by hand); a
# recorded run with the same config is reused.

# %%
import os

from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
run = ensure_run("moe_vs_dense", scale, out=runs_root())
print(run.path)

# %%
show_report(run)  # the report with its figure inline

# %% [markdown]
# ## Which claims held at this scale
#
# Computed from the run's summary (at `smoke` scale the models are barely trained: read the
# verdicts at `quick` or `paper`).

# %%
summary = run.summary
print("verdict:", summary["verdict"])
for name, control in summary["controls"].items():
    print(f"- control {name}: delta {control['delta']:+.3f}, 95% CI {control['ci']}, resolved: {control['resolved']}")
analysis = summary["analysis"]
print("dense-equivalent ratio:", analysis["dense_equivalent_ratio"]["text"])
print("step speed-up:", analysis["step_speedup"]["text"])
for key in ("moe_minus_dense_loss", "moe_minus_dense_same_total_loss"):
    d = analysis[key]
    print(f"- {key}: {d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}] nats, Holm p {d['p_holm']:.3g}")
print("learning rate per arm:", {k: v["lr"] for k, v in summary["tuning"].items() if isinstance(v, dict)})
