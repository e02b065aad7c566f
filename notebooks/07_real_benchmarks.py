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
# # Real routing benchmarks: RouteLLM's MMLU, GSM8K and MT-Bench outcomes
#
# Every across-model router in routerlab, on real outcomes of Mixtral-8x7B and GPT-4
# (RouteLLM's evaluation files, Apache-2.0), with no API keys, pickles or services. We put
# RouteLLM's published figures beside ours: about 45% (MMLU) and 35% (GSM8K) cost reduction
# against GPT-4 alone at 95% of its performance, and APGR about 0.5 for random routing.
# Their routers were trained on Chatbot Arena preferences and tested out of distribution;
# ours are trained on a split of the same benchmark, which is an easier protocol.
#
# At `ROUTERLAB_SCALE=smoke` (CI) the notebook runs on a small subset of GSM8K; at `quick`
# or `paper` it runs the experiment as configured. Without the data it says how to get it.

# %%
import os

from routerlab.config import ConfigError
from routerlab.registry import ensure_run, runs_root
from routerlab.report.notebook import show_report
from routerlab.studies.real_benchmarks import resolve_data_dir

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
subset = ['datasets=["gsm8k"]', "max_queries=400"] if scale == "smoke" else []
try:
    print("RouteLLM data:", resolve_data_dir())
    run = ensure_run("real_benchmarks", scale, out=runs_root(), sets=subset)
    print(run.path)
except ConfigError as err:  # no data on this machine
    run = None
    print(err)

# %%
if run is not None:
    show_report(run)  # the report with its cost-quality figure inline
