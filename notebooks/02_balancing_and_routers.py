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
# # Load balancing and routers inside a decoder LM
#
# Two experiments on the toy decoder and the generated five-domain corpus, each over 3+
# seeds with 95% Student-t intervals:
#
# * `balancing`: the Switch load-balance weight alpha from 0 to 0.1, z-loss on/off, and
#   DeepSeek-V3's auxiliary-loss-free bias. Does alpha = 0 collapse onto few experts?
# * `routers`: Switch top-1, top-2, hash and a REINFORCE-trained router (RL-R, Clark et al.
#   2022). Expert choice, Soft MoE and Sinkhorn/BASE let a token's routing depend on later
#   tokens; the causal decoder refuses them. They are compared in a bidirectional encoder
#   on masked bytes by `routerlab run encoder_routers` (not run here, to keep this notebook
#   short; its report is a Markdown file like the two below).
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI, `quick` or `paper` by hand).

# %%
import os

from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
balancing = ensure_run("balancing", scale, out=runs_root())
print(balancing.path)

# %%
# One study per cell: each is a separate training run (the positive controls are shared through the unit cache).
routers = ensure_run("routers", scale, out=runs_root())
print(routers.path)

# %%
show_report(balancing)  # the report with its figure inline

# %%
show_report(routers)  # the report with its figure inline

# %% [markdown]
# ## Which claims held at this scale
#
# Computed from the summaries (at `smoke` the models are barely trained).

# %%
variants = balancing.summary["variants"]


def resolved(ci, low="lower", high="higher"):
    return low if ci["hi"] < 0 else high if ci["lo"] > 0 else "not resolved by the interval"


for study in (balancing, routers):
    print(f"{study.path.parent.name} verdict: {study.summary['verdict']}")
for name, entry in variants.items():
    r = entry.get("routing")
    if r is None:  # a dense control arm has no router
        continue
    print(f"{name:28s} test loss {entry['test_loss']['mean']:.3f}  MaxVio {r['max_vio']['mean']:.2f} "
          f"[{r['max_vio']['lo']:.2f}, {r['max_vio']['hi']:.2f}]  dead {r['dead']['mean']:.2f}")
analysis = balancing.summary["analysis"]
if "dead_alpha0" in analysis:
    diff = analysis["maxvio_alpha0_minus_alpha0.01"]
    print(f"- alpha=0 vs alpha=0.01: MaxVio difference {diff['mean']:+.2f} [{diff['lo']:+.2f}, {diff['hi']:+.2f}]: "
          f"{resolved(diff, 'alpha=0 is better balanced', 'alpha=0 is less balanced')}")
for key, ci in routers.summary["analysis"].items():  # test loss, paired by seed; Holm over the study
    print(f"- {key.replace('_minus_switch_loss', '')} minus Switch test loss: {ci['mean']:+.3f} "
          f"[{ci['lo']:+.3f}, {ci['hi']:+.3f}], Holm p {ci['p_holm']:.3g}")
