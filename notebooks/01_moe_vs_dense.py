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
# per token"). We test it on a toy decoder LM and a generated five-domain byte corpus, with
# the controls the literature uses: a dense baseline with the MoE's *active* FLOPs per token,
# a dense model with the MoE's *total* parameters, and the dense baseline trained at several
# step budgets (each with its own schedule) to get a dense loss-versus-compute frontier.
#
# **Compute ratio at equal loss** (per seed): the training FLOPs at which the dense frontier
# reaches the MoE's final validation loss, divided by the MoE's training FLOPs. A ratio `r`
# is a compute saving of `1 - 1/r`; the seed's "80% less" is `r = 5`. Seeds outside the
# frontier are reported as bounds, never averaged. Intervals are 95% Student-t over seeds.
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI, `quick` or `paper` by hand); a
# recorded run with the same config is reused.

# %%
import os

from IPython.display import Image, Markdown, display

from routerlab.registry import ensure_run, runs_root

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
run = ensure_run("moe_vs_dense", scale, out=runs_root())
print(run.path)

# %%
display(Markdown((run.artifacts / "report.md").read_text()))
display(Image(filename=str(run.artifacts / "moe_vs_dense.png")))

# %% [markdown]
# ## Which claims held at this scale
#
# Computed from the run's summary (at `smoke` scale the models are barely trained: read the
# verdicts at `quick` or `paper`).

# %%
analysis = run.summary["analysis"]
ratio = analysis["moe_compute_ratio"]
diff = analysis["moe_minus_dense_loss"]
diff_total = analysis["moe_minus_dense_same_total_loss"]


def verdict(ci, better="MoE better", worse="dense better"):
    return better if ci["hi"] < 0 else worse if ci["lo"] > 0 else "not resolved by the interval"


claims = [
    ("MoE beats dense at equal active FLOPs and steps",
     f"MoE - dense loss {diff['mean']:+.3f} [{diff['lo']:+.3f}, {diff['hi']:+.3f}] nats: {verdict(diff)}"),
    ("MoE saves >= 80% compute at equal loss (ratio >= 5)",
     f"ratio {ratio['text']}: " + ("held" if ratio["ci"] and ratio["ci"]["lo"] >= 5 else "did not hold")),
    ("MoE matches dense with the same total parameters",
     f"MoE - dense(same total) loss {diff_total['mean']:+.3f} [{diff_total['lo']:+.3f}, {diff_total['hi']:+.3f}]: "
     + verdict(diff_total, "MoE better", "the dense model with MoE's parameters is better")),
]
for claim, result in claims:
    print(f"- {claim}: {result}")
