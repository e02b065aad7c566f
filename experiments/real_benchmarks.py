"""Real routing benchmarks: does a learned router save cost at 95% of GPT-4's quality on RouteLLM's MMLU, GSM8K and MT-Bench logs?

Every across-model router in routerlab.fleet (single models, random, per-task and
per-query oracles, task classifier -> best model for the task, kNN / MLP / matrix-
factorisation quality predictors with a cost penalty, a FrugalGPT-style cascade) and a
LinUCB bandit replayed online, on RouteLLM's evaluation outcomes of Mixtral-8x7B and
GPT-4 (and RouterBench when its table is present). Splits 80/10/10 by seed; features
TF-IDF + SVD fitted on train only. Reported per router: cost-quality points, AIQ,
savings at 95% of the reference (GPT-4) quality, APGR, CPT(50%), CPT(80%), with
bootstrap intervals over test queries and t-intervals over split seeds.

Command:
    routerlab run real_benchmarks --scale quick
    routerlab run real_benchmarks --scale smoke --set datasets='["gsm8k"]'
    ROUTERLAB_DATA=/path/to/routellm/evals routerlab run real_benchmarks --scale paper

Data: ../shared/data/routellm beside the repository, $ROUTERLAB_DATA, or
`routerlab data get routellm`.

Runtime on 2 CPU cores: smoke ~2 min, quick ~7 min (measured on a heavily shared machine),
paper ~20 min.

Expected result (quick, 3 split seeds, measured on RouteLLM's files): random routing has
APGR 0.49 on MMLU and GSM8K, as RouteLLM reports (~0.5); the learned routers (kNN, MLP,
MF, task classifier) reach APGR ~0.66-0.69 on MMLU and GSM8K, and MF saves ~45% of GPT-4's
cost on MMLU (bootstrap 0.36-0.59) and ~46% on GSM8K (0.28-0.77) at 95% of its quality,
beside RouteLLM's published ~45% and ~35% with Arena-trained routers (out of distribution;
ours are trained in distribution, see the report). The cascade pays for every weak call
and trails the router built on the same predictor. MT-Bench's test split has ~7 questions
per seed, so its intervals are wide.

Feeds: paper Table tab:real_benchmarks and Figure real_benchmarks.pdf (cost-quality curves).
"""

from dataclasses import replace

from routerlab.studies.real_benchmarks import RealBenchConfig, paper, report, run  # noqa: F401

SCALES = ("smoke", "quick", "paper")


def get_config(scale: str) -> RealBenchConfig:
    base = RealBenchConfig()
    if scale == "smoke":
        return replace(base, datasets=("mmlu", "gsm8k", "mt_bench"), seeds=(0,), max_queries=800, n_boot=50,
                       steps=100, bandit_rounds=500)
    if scale == "quick":
        return replace(base, n_boot=300, steps=300, bandit_rounds=2000)
    if scale == "paper":
        return replace(base, seeds=(0, 1, 2, 3, 4), n_boot=1000, steps=500, bandit_rounds=10000)
    raise ValueError(f"unknown scale {scale!r}")
