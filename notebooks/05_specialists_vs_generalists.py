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
# # Specialists vs generalists: does a small specialist beat a 10x+ larger generalist on its own family?
#
# The seed claims that specialised small models beat much larger generalists on their own
# domain (code, math, logic, planning), while generalists keep the lead on broad knowledge.
# We test it on a fleet of toy decoders over a procedurally generated task suite
# (`routerlab.fleet.tasks`): one specialist per family, trained on that family only, and
# generalists of several sizes trained on the mixture for the same steps and batch.
# Accuracy is exact match under greedy decoding on held-out queries (for `knowledge`,
# recall of facts that were stated in training: a synthetic fact base of random digit codes,
# sized so that memorising it is bound by capacity).
#
# One confound is built in: every model trains for the same steps and batch, so a
# generalist sees each family, and each fact, 1/5 as often as that family's specialist.
# Two controls, trained and scored like the fleet but never routed to, split the knowledge
# claim: `ctl-gen-xs` (the specialist's architecture trained on the mixture) gives a capacity
# effect at the generalists' exposure (largest generalist vs ctl-gen-xs) and an exposure
# effect at the specialist's size (knowledge specialist vs ctl-gen-xs); `ctl-know-m` (the
# medium generalist's architecture trained on knowledge only) gives a capacity effect at the
# specialist's exposure (ctl-know-m vs the knowledge specialist).
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI: models barely trained, the
# verdicts below are then about plumbing, not the claim; `quick` or `paper` by hand).

# %%
import os

from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report
from routerlab.studies.fleet_specialists import knowledge_text, size_text

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
run = ensure_run("specialists_vs_generalists", scale, out=runs_root())
print(run.path)

# %%
show_report(run)  # the report with its figure inline

# %% [markdown]
# ## Which claims held?
#
# First the size control: the instrument must show the known result (at equal tokens a
# larger generalist beats the next smaller one) on at least 3 of the 5 families before any
# specialist-vs-generalist verdict counts; when it fails the verdict reads `underpowered`.
# Then the claims, from the run's summary (paired differences over fleet seeds, 95%
# t-intervals): "beats" needs the whole interval above zero, "loses" below; a family where
# every model sits at chance (or every one at the ceiling) is "uninformative", not a tie.

# %%
summary = run.summary
print("Verdict:", summary["verdict"])
print(size_text(summary))
print({f: flag["reason"] or "informative" for f, flag in summary["family_flags"].items()})
print(f"scale {scale}, fleet seeds {summary['seeds']}, "
      f"largest generalist {summary['largest_params'] / summary['spec_params']:.0f}x a specialist's parameters")
claims = summary["claims"]
if not claims:
    print(f"No generalist has >= {summary['size_ratio']:.0f}x a specialist's parameters at this scale: claim 1 not testable.")
by_verdict = {}
for c in claims:
    by_verdict.setdefault(c["verdict"].split(" ")[0], []).append(c)
    print(f"{c['specialist']:15s} vs {c['generalist']} ({c['size_ratio']:.0f}x) on {c['family']:9s}: "
          f"{c['mean']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}] -> {c['verdict']}")
own = [c for c in claims if c["family"] != "knowledge"]
held = [c for c in own if c["verdict"].startswith("beats")]
print(f"\nClaim 1 (specialist beats 10x+ generalist on its own family, excluding knowledge): "
      f"held in {len(held)} of {len(own)} comparisons; "
      f"lost in {sum(c['verdict'].startswith('loses') for c in own)}; tied in "
      f"{sum(c['verdict'].startswith('tie') for c in own)}; uninformative in "
      f"{sum(c['verdict'].startswith('uninformative') for c in own)}.")
if summary["knowledge_claim"]:
    print()
    print(knowledge_text(summary))
