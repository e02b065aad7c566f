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
# # Route your own log: `routerlab route-eval` on a table you bring
#
# You have a table of LLM outcomes: for each query, which models answered it correctly and
# what each call cost. `routerlab route-eval TABLE` fits every router in routerlab on the
# table's train split, tunes it on val and scores it on test, beside RouterBench's **zero
# router** (the convex hull of the single models: what you get by mixing models at random,
# without learning anything). A router earns its keep only when its ΔAIQ against the zero
# router has a 95% interval above 0.
#
# Here the table is `routerlab.data.table.example_table`, a synthetic log of three models
# (two cheap specialists and one large generalist); replace `table` with your own CSV,
# JSON Lines or Parquet file. `routerlab route-eval --help` lists the accepted layouts.
# At `ROUTERLAB_SCALE=smoke` (CI) the table is small and the bootstrap short.

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
from IPython.display import Image, Markdown, display

from routerlab.cli import main
from routerlab.data.table import example_table

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
n, n_boot = (300, 20) if scale == "smoke" else (3000, 500)
work = Path(tempfile.mkdtemp(prefix="route_your_own_log-"))
table = work / "my_log.csv"
example_table(n=n, seed=0).to_csv(table, index=False)
print(table.read_text().splitlines()[0])
print(table.read_text().splitlines()[1])

# %% [markdown]
# ## Your own router
#
# A router is any object with `fit(train, val)` and either `predict(queries)` (a predicted
# quality per model, `[Q, M]`: routerlab sweeps a cost penalty over it, giving a whole
# cost-quality curve) or `choose(queries)` (one model index per query: one operating
# point). `train` and `val` carry features `x`, `tasks`, `quality` and `cost`; `queries`
# carries only `x` and `tasks`. This one predicts each task's mean quality on train.


# %%
class TaskMean:
    name = "my-task-mean"

    def fit(self, train, val):
        self.table = {t: train.quality[train.tasks == t].mean(axis=0) for t in np.unique(train.tasks)}
        self.default = train.quality.mean(axis=0)

    def predict(self, queries):
        return np.stack([self.table.get(t, self.default) for t in queries.tasks])


# %% [markdown]
# ## One command
#
# The same as `routerlab route-eval my_log.csv --router my_module:TaskMean --out report/`
# in a shell. The table below is what a terminal shows; `--out` also holds the JSON lines,
# a CSV and the cost-quality figure.

# %%
out = work / "report"
code = main(["route-eval", str(table), "--router", "__main__:TaskMean", "--n-boot", str(n_boot), "--table",
             "--quiet", "--out", str(out)])
assert code == 0
print(sorted(p.name for p in out.iterdir()))

# %%
display(Image(filename=str(out / "cost_quality.png")))

# %% [markdown]
# ## Reading the result
#
# `ΔAIQ vs zero` is the router's average quality gain over the zero router across the cost
# range, with a paired bootstrap interval over test queries. Savings are measured against
# the best single model *on test*, at 95% of its quality, and against the zero router at
# the same quality. On this table the specialists are worth routing to, so the learned
# routers should beat the zero router; on many public logs they do not (RouterBench's
# finding), and route-eval says so in one sentence.

# %%
display(Markdown((out / "table.md").read_text()))
