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
# # Fleet routing: equal quality at 10-100x lower cost?
#
# The seed claims that a routing layer ("task classification -> specialized model
# selection") over a fleet delivers equal or better quality at 10-100x lower cost, with the
# price list $0.03 / $0.002 / $0.0003 per 1K tokens. Real data first: RouteLLM's MMLU and
# GSM8K outcomes (Mixtral-8x7B vs GPT-4), where the MF router saves about 45% at 95% of
# GPT-4's quality. Then the toy fleet's routing log: every router of
# `routerlab.fleet.routers` (including the seed's pipeline, `task_classifier`) with its
# operating point fixed on validation and paid for on test under three cost models (the
# price list, forward FLOPs, latency measured in the run), LinUCB making one pass over
# unseen queries, and, labelled optimistic, savings read off the test hull and LinUCB
# replaying the test log. Savings are measured against the best generalist: the fraction of
# its cost saved while reaching 95% / 100% of its test quality.
#
# The scale comes from `ROUTERLAB_SCALE` (`smoke` in CI: plumbing only). The first section
# needs no fleet training at any scale: it routes over the quick fleet's logs shipped with
# routerlab (`fleet_routing_shipped`, what `routerlab demo` shows).

# %%
import os

from routerlab.fleet.metrics import fold
from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report
from routerlab.studies.fleet_routing import COST_MODELS, ONE_PASS, REPLAY, routellm_text

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
shipped = ensure_run("fleet_routing_shipped", "smoke" if scale == "smoke" else "quick", out=runs_root())
routing = ensure_run("fleet_routing", scale, out=runs_root())
sweep = ensure_run("lambda_sweep", scale, out=runs_root())
print(shipped.path, routing.path, sweep.path, sep="\n")

# %% [markdown]
# ## The shipped quick fleet's log
#
# Routers trained and scored on the routing logs of a real quick-scale fleet shipped with the
# package (checksums verified on load; `routerlab.fleet.shipped` says how to regenerate them).
# Its headline comes with the fleet's size control, which is `underpowered`.

# %%
show_report(shipped)

# %% [markdown]
# ## The fleet trained at this scale

# %%
show_report(routing)  # the report with its cost-quality figure inline

# %%
show_report(sweep)

# %% [markdown]
# ## Which claims held?
#
# From the summary: for each router, the savings at 95% and 100% of the best generalist's
# quality (mean over fleet seeds, t-interval) turned into a cost-cut factor 1 / (1 - savings).
# "Undefined" means the router's cost-quality hull never reached that quality on some seed.

# %%
s = routing.summary
ref = ", ".join(s["reference"])


def _x(v):
    f = fold(v)
    return "n/a" if f is None else f"{f:.1f}x"


def verdict(entry):
    if "mean" not in entry or entry["seeds_defined"] < entry["seeds"]:
        return "did not reach the target on every seed"
    text = f"cost cut {_x(entry['mean'])} (seeds t-interval {_x(entry['lo'])} to {_x(entry['hi'])}"
    if entry.get("boot_lo") is not None:
        text += f"; bootstrap {_x(entry['boot_lo'])} to {_x(entry['boot_hi'])}"
    return text + ")"


ref_rows = [r for r in s["routers"] if r.startswith("single:") and r.removeprefix("single:") in s["reference"]]
for r in ref_rows:
    q = s["routers"][r]["mean_quality"]
    print(f"reference {r.removeprefix('single:')}: test quality {q['mean']:.3f} [{q['lo']:.3f}, {q['hi']:.3f}]"
          " (a target near 0 is met by anything: read the verdicts below with it)")
cheap = min((e["mean_cost"]["mean"], r) for r, e in s["routers"].items() if r.startswith("single:"))
dear = max((e["mean_cost"]["mean"], r) for r, e in s["routers"].items() if r.startswith("single:"))
print(f"price-list ceiling: the dearest model costs {dear[0] / cheap[0]:.0f}x the cheapest per query, "
      "so no router can cut cost by more than about that")


big = ", ".join(s["largest"])
print(routellm_text(s).replace("**", ""))
print()
for name in ("task_classifier", "mf", ONE_PASS):
    cm = s["routers"].get(name, {}).get("cost_models")
    if cm:
        print(f"{name:26s} realised at the operating point fixed on val: " + "; ".join(
            f"{u}: saves {cm[u]['savings']['mean']:.1%} (miss {cm[u]['miss_rate']:.0%})" for u in COST_MODELS))
print("\nOptimistic (read off the test hull):")
for name in ("task_classifier", "per_task_oracle", "mlp", "knn", "mf", "cascade[mlp]", "oracle", REPLAY):
    e = s["routers"].get(name)
    if e:
        print(f"{name:16s} @95% of best generalist ({ref}): {verdict(e['savings'])};  @100%: {verdict(e['savings100'])}")
        print(f"{'':16s} @95% of largest ({big}): {verdict(e['savings_largest'])};  "
              f"@100%: {verdict(e['savings100_largest'])}")

tc = s["routers"].get("task_classifier", {})
for key, label, who in (("savings", "95%", f"the best generalist ({ref})"), ("savings100", "100%", f"the best generalist ({ref})"),
                        ("savings_largest", "95%", f"the largest generalist ({big})"),
                        ("savings100_largest", "100%", f"the largest generalist ({big})")):
    e = tc.get(key, {})
    f = fold(e.get("mean")) if "mean" in e and e["seeds_defined"] == e["seeds"] else None
    if f is None:
        print(f"Seed claim at {label} of {who}'s quality: NOT met by task classification -> specialist "
              "(its hull does not reach that quality on every seed).")
    else:
        where = "inside" if 10 <= f <= 100 else ("above" if f > 100 else "below")
        print(f"Seed claim at {label} of {who}'s quality: task classification -> specialist cuts cost {f:.1f}x "
              f"(mean over seeds), {where} the claimed 10-100x range.")
