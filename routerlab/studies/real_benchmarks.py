"""Every across-model router on real routing logs: RouteLLM's MMLU, GSM8K and MT-Bench
outcomes (Mixtral-8x7B vs GPT-4), and RouterBench when its table is present.

Protocol. For each dataset and each split seed, queries are split 80/10/10 into
train/val/test by :func:`~routerlab.data.schema.assign_splits` (a hash of the query id
and the seed). Text features (TF-IDF + truncated SVD) are fitted on the train prompts
only. Each router of :func:`~routerlab.fleet.routers.default_routers` is fitted on train,
tuned on val, and evaluated on test by :func:`~routerlab.fleet.evaluate.evaluate_router`
(cost-quality points over its knob, AIQ, savings at 95% of the best train model, which is
GPT-4 on RouteLLM's logs, APGR and CPT on two-model logs, each with a bootstrap interval
over test queries). Optionally a LinUCB contextual bandit (:mod:`routerlab.bandits`)
learns online from partial feedback on the test queries replayed in random order; its
mean quality and cost per round, over a sweep of cost weights, give its points.

This is *in-distribution* routing: routers learn from the same benchmark's training
split. RouteLLM's published routers were trained on Chatbot Arena preferences and
evaluated on these benchmarks out of distribution; the report says so beside their numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from routerlab.config import ConfigError, check
from routerlab.data import load_gsm8k, load_mmlu, load_mt_bench, load_routerbench, to_matrices
from routerlab.data.features import FeatureConfig, default_cache_dir, featurize
from routerlab.data.schema import RoutingMatrices
from routerlab.fleet.evaluate import evaluate_routers
from routerlab.fleet.metrics import curve_stats
from routerlab.fleet.protocol import across_seeds, lambda_grid, replay_linucb
from routerlab.fleet.routers import Split, default_routers
from routerlab.rundir import RunDir, atomic_write_text

__all__ = ["RealBenchConfig", "DATASETS", "PUBLISHED", "resolve_data_dir", "load_dataset", "run", "summarize", "report", "paper"]

Dataset = Literal["mmlu", "gsm8k", "mt_bench", "routerbench"]
DATASETS: tuple[str, ...] = ("mmlu", "gsm8k", "mt_bench", "routerbench")

#: RouteLLM's published results (Ong et al. 2024, blog and paper; routers trained on Chatbot
#: Arena preferences, so out of distribution on these benchmarks): cost saved against GPT-4
#: alone at 95% of GPT-4's quality, with the matrix-factorisation router, and random APGR.
PUBLISHED = {
    "mmlu": {"savings": 0.45, "note": "MF router, trained on Arena (+ data augmentation)"},
    "gsm8k": {"savings": 0.35, "note": "MF router, trained on Arena (+ data augmentation)"},
    "mt_bench": {"savings": 0.85, "note": "over 85%, MF router, Arena + augmentation"},
    "random_apgr": 0.5,
}
#: The first line of the report at smoke scale: real data, but too little of it for a result.
PLUMBING = ("**Plumbing check at smoke scale, not a result**: real logs, but at most 800 queries per benchmark, "
            "one split seed and briefly trained routers; run `--scale quick` for numbers.")

REPO_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "routellm"


@dataclass(frozen=True)
class RealBenchConfig:
    """The real-benchmark study.

    Attributes:
      datasets: which logs to run; ``routerbench`` is skipped (and said so) when no table is found.
      seeds: split seeds; each gives a fresh train/val/test split.
      data_dir: RouteLLM's ``evals/`` layout; None searches (see :func:`resolve_data_dir`).
      routerbench_path: a RouterBench ``.parquet``/``.csv`` table; None looks for
        ``routerbench/routerbench_0shot.parquet`` beside the RouteLLM folder and in the cache.
      max_queries: keep at most this many queries per dataset (a fixed random subset; 0 = all).
      n_boot: bootstrap resamples per statistic.
      steps: optimiser steps of the JAX predictors (MLP, MF).
      target: quality fraction of the reference model for savings (0.95, as RouteLLM).
      bandit_rounds: rounds of the online LinUCB replay (0 = no bandit row).
      features: text features of the prompts.
    """

    datasets: tuple[Dataset, ...] = DATASETS
    seeds: tuple[int, ...] = (0, 1, 2)
    data_dir: str | None = None
    routerbench_path: str | None = None
    max_queries: int = 0
    n_boot: int = 1000
    steps: int = 300
    target: float = 0.95
    bandit_rounds: int = 4000
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self):
        check(len(self.datasets) >= 1, "datasets", f"must name at least one of {', '.join(DATASETS)}")
        check(len(set(self.datasets)) == len(self.datasets), "datasets", "must not repeat a dataset")
        check(len(self.seeds) >= 1, "seeds", "must hold at least one seed")
        check(len(set(self.seeds)) == len(self.seeds), "seeds", "must not repeat a seed")
        check(not (self.routerbench_path or "").lower().endswith((".pkl", ".pickle")), "routerbench_path",
              "a pickle can run arbitrary code when read; convert it once (pd.read_pickle(p).to_parquet(q)) "
              "and give the Parquet file")
        check(self.max_queries >= 0, "max_queries", f"must be >= 0; got {self.max_queries}")
        check(self.n_boot >= 10, "n_boot", f"must be >= 10; got {self.n_boot}")
        check(self.steps >= 1, "steps", f"must be >= 1; got {self.steps}")
        check(0 < self.target <= 1, "target", f"must be in (0, 1]; got {self.target}")
        check(self.bandit_rounds >= 0 and self.bandit_rounds % 100 == 0, "bandit_rounds",
              f"must be 0 or a positive multiple of 100; got {self.bandit_rounds}")

    @property
    def seed(self) -> int:
        return self.seeds[0]


def resolve_data_dir(data_dir: str | None = None) -> Path:
    """RouteLLM's files: ``data_dir``, else ``$ROUTERLAB_DATA``, else the repository's sibling
    ``../shared/data/routellm``, else what ``routerlab data get routellm`` downloaded."""
    candidates = [Path(data_dir)] if data_dir else []
    if not data_dir:
        if os.environ.get("ROUTERLAB_DATA"):
            candidates.append(Path(os.environ["ROUTERLAB_DATA"]))
        candidates += [REPO_DATA.resolve(), default_cache_dir() / "data" / "routellm"]
    for path in candidates:
        if (path / "mmlu").is_dir() or (path / "gsm8k").is_dir():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise ConfigError(
        "data_dir",
        f"no RouteLLM evaluation files found (looked in {looked}); run `routerlab data get routellm` "
        "or set ROUTERLAB_DATA to a folder with mmlu/, gsm8k/ and mt_bench/",
    )


def _routerbench_path(cfg: RealBenchConfig, root: Path) -> Path | None:
    if cfg.routerbench_path:
        path = Path(cfg.routerbench_path)
        if not path.is_file():
            raise ConfigError("routerbench_path", f"no such file: {path}")
        return path
    for folder in (root.parent / "routerbench", default_cache_dir() / "data" / "routerbench"):
        for name in ("routerbench_0shot.parquet", "routerbench_0shot.csv"):
            if (folder / name).is_file():
                return folder / name
    return None


def load_dataset(name: str, cfg: RealBenchConfig, seed: int) -> RoutingMatrices | None:
    """The dense log of dataset ``name`` split with ``seed``; None for an absent RouterBench."""
    root = resolve_data_dir(cfg.data_dir)
    if name == "routerbench":
        path = _routerbench_path(cfg, root)
        if path is None:
            return None
        ds = load_routerbench(path, split_seed=seed, nan_policy="drop")
    else:
        loader = {"mmlu": load_mmlu, "gsm8k": load_gsm8k, "mt_bench": load_mt_bench}[name]
        ds = loader(root, split_seed=seed)
    m = to_matrices(ds, source=name)
    if cfg.max_queries and len(m.query_ids) > cfg.max_queries:
        keep = np.sort(np.random.default_rng(0).choice(len(m.query_ids), cfg.max_queries, replace=False))
        m = m.take(keep)
    return m


def run(cfg: RealBenchConfig, rundir: RunDir) -> dict[str, Any]:
    """One record per (dataset, seed) unit holding every router's evaluation; resumable."""
    done = rundir.completed_units()
    cache = default_cache_dir() / "features"
    for name in cfg.datasets:
        for seed in cfg.seeds:
            unit = f"{name}/seed{seed}"
            if unit in done:
                continue
            m = load_dataset(name, cfg, seed)
            if m is None:
                rundir.log({"unit": unit, "dataset": name, "seed": seed, "skipped": "no RouterBench table found"})
                continue
            x = featurize(m, cfg.features, cache_dir=cache)
            train, val, test = (Split.of(m, x, s) for s in ("train", "val", "test"))
            routers = default_routers(train, seed=seed, steps=cfg.steps)
            results = evaluate_routers(routers, train, val, test, target=cfg.target, n_boot=cfg.n_boot, seed=seed)
            record = {
                "unit": unit,
                "dataset": name,
                "seed": seed,
                "models": list(m.models),
                "queries": {s: int(np.sum(m.splits == s)) for s in ("train", "val", "test")},
                "test_mean_quality": test.mean_quality.tolist(),
                "test_mean_cost": test.mean_cost.tolist(),
                "reference": routers[0].models[routers[0].best],
                "routers": results,
            }
            if cfg.bandit_rounds:
                # LinUCB replayed on the test queries over lam * gap in 0..2 (costs unknown before the call)
                record["bandit"] = _flat(replay_linucb(test, rounds=cfg.bandit_rounds, seeds=[seed],
                                                       lams=lambda_grid(train, 9)))
            rundir.log(record)
    return summarize(rundir, cfg.target)


def _flat(points: dict[str, Any]) -> dict[str, Any]:
    """One bandit seed's curve: ``[L][1]`` lists as ``[L]``."""
    return {**points, "quality": [q[0] for q in points["quality"]], "cost": [c[0] for c in points["cost"]]}


def _bandit_stats(record: dict[str, Any], target: float) -> dict[str, float | None]:
    """AIQ and savings of the bandit's points, on the same footing as the offline routers."""
    b, test_c, test_q = record["bandit"], record["test_mean_cost"], record["test_mean_quality"]
    ref = record["models"].index(record["reference"])
    return curve_stats(b["cost"], b["quality"], (min(test_c), max(test_c)),
                       {"savings": (target * test_q[ref], test_c[ref])})


METRICS = ("mean_cost", "mean_quality", "aiq", "savings", "apgr", "cpt50", "cpt80")


def summarize(rundir: RunDir, target: float = 0.95) -> dict[str, Any]:
    """Per dataset and router: mean and 95% t-interval over seeds of each metric's value, and
    the seed-mean of the bootstrap interval's ends."""
    by_dataset: dict[str, dict[str, Any]] = {}
    for record in rundir.records():
        if "skipped" in record:
            by_dataset.setdefault(record["dataset"], {"skipped": record["skipped"]})
            continue
        entry = by_dataset.setdefault(record["dataset"], {"seeds": [], "routers": {}, "models": record["models"],
                                                          "reference": record["reference"]})
        entry["seeds"].append(record["seed"])
        for r in record["routers"]:
            per = entry["routers"].setdefault(r["router"], {k: [] for k in METRICS})
            for k in METRICS:
                if k in r:
                    per[k].append(r[k])
        if "bandit" in record:
            per = entry["routers"].setdefault("linucb (online)", {"aiq": [], "savings": []})
            for k, v in _bandit_stats(record, target).items():
                per[k].append({"value": v, "lo": None, "hi": None})
    summary: dict[str, Any] = {}
    for name, entry in by_dataset.items():
        if "skipped" in entry:
            summary[name] = {"skipped": entry["skipped"]}
            continue
        routers = {}
        for router, metrics in entry["routers"].items():
            cells = {k: across_seeds(c) for k, c in metrics.items()}
            routers[router] = {k: e for k, e in cells.items() if e["seeds_defined"]}
        summary[name] = {"seeds": entry["seeds"], "models": entry["models"], "reference": entry["reference"],
                         "routers": routers}
    return {"datasets": summary, "published": PUBLISHED, "verdict": verdict(summary)}


#: S4's threshold: "routing to smaller models cuts inference cost by 90% or more".
S4_SAVINGS = 0.9


def verdict(datasets: dict[str, Any]) -> str:
    """S4 on real data: the headline router's savings at 95% of the reference's quality, per
    benchmark (t-interval over split seeds). MT-Bench is left out (~8 test questions per split).
    ``holds`` if every interval is above 90%, ``fails`` if every one is below, else not resolved."""
    cells = {name: e["routers"][HEADLINE_ROUTER]["savings"] for name, e in datasets.items()
             if name != "mt_bench" and "routers" in e and "savings" in e["routers"].get(HEADLINE_ROUTER, {})}
    if not cells:
        return "S4 is not testable here: no real routing table with the headline router's savings was read."
    held = ("holds" if all(c["lo"] >= S4_SAVINGS for c in cells.values()) else
            "fails" if all(c["hi"] < S4_SAVINGS for c in cells.values()) else "is not resolved")
    parts = "; ".join(f"{name} {c['mean']:.0%} [{c['lo']:.0%}, {c['hi']:.0%}]" for name, c in sorted(cells.items()))
    return (f"S4 (routing cuts inference cost by 90% or more) {held} on real data: the {HEADLINE_ROUTER.upper()} "
            f"router saves {parts} of the reference model's cost at 95% of its quality (95% t-interval over "
            "split seeds; MT-Bench left out, ~8 test questions per split).")


def _cell(entry: dict[str, Any], key: str, scale: float = 1.0, digits: int = 3, *, boot: bool = True) -> str:
    """``mean ± t half-width [bootstrap lo, hi]`` (the bracket only with ``boot``)."""
    if key not in entry:
        return "n/a"
    e = entry[key]
    half = (e["hi"] - e["lo"]) / 2
    text = f"{e['mean'] * scale:.{digits}f} ± {half * scale:.{digits}f}"
    if boot and e.get("boot_lo") is not None:
        text += f" [{e['boot_lo'] * scale:.{digits}f}, {e['boot_hi'] * scale:.{digits}f}]"
    elif boot:
        text += " [n/a]"  # undefined on some resample (e.g. the target quality never reached)
    if e["seeds_defined"] < e["seeds"]:
        text += f" ({e['seeds_defined']}/{e['seeds']} seeds)"
    return text


def report(rundir: RunDir) -> str:
    """Markdown: one table per dataset, RouteLLM's figures beside ours, a cost-quality figure."""

    from routerlab.report import markdown_table, save_figure

    summary = rundir.summary
    cfg = rundir.config
    lines = [PLUMBING, ""] if rundir.header.get("scale") == "smoke" else []
    lines += [
        "Every router on real routing logs. Split seeds "
        f"{cfg['seeds']}: each seed re-splits the queries 80/10/10 (train/val/test); routers fit on train, "
        "tune on val, are scored on test. Cells: mean ± 95% t-interval over seeds, then in brackets the "
        "95% percentile-bootstrap interval over test queries (seed-mean of its ends). Cost in USD per 1,000 "
        f"queries. Savings: fraction of the reference model's cost saved at {cfg['target']:.0%} of its "
        "quality (on the router's cost-quality hull). APGR and CPT (fraction of calls to the strong "
        "model needed to recover 50% / 80% of the quality gap) on two-model logs.",
        "",
    ]
    published_rows = []
    order: dict[tuple[str, str], int] = {}  # routers in the order they ran
    for record in rundir.records():
        for r in record.get("routers", []):
            order.setdefault((record["dataset"], r["router"]), len(order))
    for name, entry in summary["datasets"].items():
        if "skipped" in entry:
            lines += [f"### {name}", "", f"Skipped: {entry['skipped']}.", ""]
            continue
        rows = []
        for router in sorted(entry["routers"], key=lambda r: order.get((name, r), len(order))):
            e = entry["routers"][router]
            rows.append({
                "router": router,
                "cost / 1k queries ($)": _cell(e, "mean_cost", 1000.0),
                "quality": _cell(e, "mean_quality"),
                "AIQ": _cell(e, "aiq"),
                f"savings @{cfg['target']:.0%}": _cell(e, "savings"),
                "APGR": _cell(e, "apgr"),
                "CPT(50%)": _cell(e, "cpt50"),
                "CPT(80%)": _cell(e, "cpt80"),
            })
        lines += [f"### {name} (reference: {entry['reference']})", "", markdown_table(rows)]
        if name in PUBLISHED:
            learned = {r: e for r, e in entry["routers"].items() if r in ("knn", "mlp", "mf", "task_classifier")}
            best = max(learned, key=lambda r: learned[r].get("savings", {}).get("mean", -np.inf), default=None)
            published_rows.append({
                "dataset": name,
                "RouteLLM savings @95% GPT-4 (published)": f"{PUBLISHED[name]['savings']:.0%} ({PUBLISHED[name]['note']})",
                "ours, MF": _cell(entry["routers"].get("mf", {}), "savings"),
                "ours, best learned": f"{best}: {_cell(learned[best], 'savings')}" if best else "n/a",
                "random APGR (published ~0.5)": _cell(entry["routers"].get("random", {}), "apgr"),
                "MF APGR": _cell(entry["routers"].get("mf", {}), "apgr"),
            })
    if published_rows:
        lines += [
            "### Beside RouteLLM's published figures",
            "",
            markdown_table(published_rows),
            "Protocol differences: RouteLLM's routers were trained on Chatbot Arena preference data "
            "(and, for the quoted numbers, augmented with GPT-4-judged data) and evaluated on these "
            "benchmarks out of distribution; ours are trained on 80% of the same benchmark "
            "(in distribution, e.g. the MMLU subject is learnable from the prompt), so ours should be "
            "read as what in-distribution routing reaches, not as a reproduction. Our MF router is "
            "trained on the per-model outcome matrix with a cross-entropy loss and TF-IDF+SVD prompt "
            "features, where RouteLLM's uses pairwise preferences and OpenAI embeddings. Costs use "
            "RouterBench's prices and approximate token counts (4 characters per token); MMLU answers "
            "count one output token. Savings are read off each router's cost-quality hull on test, "
            "RouteLLM reads them off its threshold sweep.",
            "",
        ]
    fig = _cost_quality_figure(rundir)
    if fig is not None:
        save_figure(fig, rundir.artifacts / "cost_quality")
        lines += ["![cost-quality curves](cost_quality.png)", ""]
    return "\n".join(lines)


def _cost_quality_figure(rundir: RunDir):
    """Cost-quality curves of every router on the first split seed's test set, one panel per dataset."""
    import matplotlib.pyplot as plt

    from routerlab.report import setup_style
    from routerlab.report.figures import plot_router_curves

    cfg = rundir.config
    records = [r for r in rundir.records() if "routers" in r and r["seed"] == cfg["seeds"][0]]
    if not records:
        return None
    setup_style()
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 3.4), squeeze=False)
    for ax, record in zip(axes[0], records, strict=True):
        plot_router_curves(ax, record["routers"])
        if "bandit" in record:
            b = record["bandit"]
            ax.plot(np.asarray(b["cost"]) * 1000, b["quality"], "x", color="black", label="linucb (online)")
        ax.set(title=f"{record['dataset']} (test, seed {record['seed']})", xlabel="cost per 1k queries ($)",
               ylabel="mean quality")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    return fig


#: The router the findings quote, fixed in advance (RouteLLM's best), not picked on test.
HEADLINE_ROUTER = "mf"


def findings(rundir: RunDir) -> str:
    """Per dataset: the matrix-factorisation router's savings at the target quality and its APGR
    (fixed in advance, as RouteLLM's headline router), beside random routing's APGR and
    RouteLLM's published savings."""
    summary, cfg = rundir.summary, rundir.config
    lines = [f"Savings at {cfg['target']:.0%} of the reference model's quality by the matrix-factorisation router "
             f"(fixed in advance, as RouteLLM's headline router; mean ± 95% t-interval over {len(cfg['seeds'])} "
             "split seeds, then the bootstrap interval over test queries):"]
    for name, entry in summary["datasets"].items():
        if "skipped" in entry:
            lines.append(f"- {name}: skipped ({entry['skipped']})")
            continue
        routers = entry["routers"]
        e = routers.get(HEADLINE_ROUTER, {})
        text = (f"- {name} (reference {entry['reference']}): saves {_cell(e, 'savings')}, APGR {_cell(e, 'apgr')}")
        if "random" in routers and "apgr" in routers["random"]:
            text += f"; random routing's APGR {_cell(routers['random'], 'apgr')}"
        if name in PUBLISHED:
            text += f"; RouteLLM publishes {PUBLISHED[name]['savings']:.2f} ({PUBLISHED[name]['note']})"
        lines.append(text)
    return "\n".join(lines) + "\n"


#: Routers in the paper's table (the report has every router).
PAPER_ROUTERS = ("random", "task_classifier", "knn", "mlp", "mf", "cascade[mlp]", "linucb (online)", "oracle")


def paper(rundir: RunDir, out: Path, provenance: str) -> list[Path]:
    """``tables/real_benchmarks.tex`` (savings and APGR per dataset and router, RouteLLM's published
    savings beside), its findings, and ``figures/real_benchmarks.pdf`` (cost-quality curves)."""
    from routerlab.report import latex_table, save_figure
    from routerlab.report.paper import write_findings
    from routerlab.report.tables import latex_escape

    summary, cfg = rundir.summary, rundir.config
    rows = []
    for name, entry in summary["datasets"].items():
        if "skipped" in entry:
            continue
        for router in PAPER_ROUTERS:
            e = entry["routers"].get(router)
            if e is None:
                continue
            rows.append({"dataset": name, "router": router,
                         "cost / 1k queries ($)": _cell(e, "mean_cost", 1000.0, 2, boot=False),
                         "quality": _cell(e, "mean_quality", boot=False),
                         f"savings @{cfg['target']:.0%}": _cell(e, "savings"), "APGR": _cell(e, "apgr")})
        if name in PUBLISHED:
            rows.append({"dataset": name, "router": "RouteLLM (published)",
                         f"savings @{cfg['target']:.0%}": f"{PUBLISHED[name]['savings']:.2f}"})
    pairs = sorted({(" and ".join(e["models"]), e["reference"]) for e in summary["datasets"].values() if "models" in e})
    between = "; ".join(f"{models} (reference {ref})" for models, ref in pairs) or "no dataset"
    columns = ["dataset", "router", "cost / 1k queries ($)", "quality", f"savings @{cfg['target']:.0%}", "APGR"]
    table = latex_table(rows, columns, label="tab:real_benchmarks", caption=(
        f"Routing between {latex_escape(between)} on recorded benchmark outcomes ({len(cfg['seeds'])} split "
        "seeds, 80/10/10). Cells: mean $\\pm$ 95\\% t-interval half-width over split seeds; for savings and "
        "APGR, then the seed-mean 95\\% bootstrap interval over test queries. Savings: fraction of the "
        f"reference's cost saved at {cfg['target'] * 100:.0f}\\% of its quality. RouteLLM's routers were trained out of distribution (Chatbot "
        "Arena), ours in distribution."))
    tex = out / "tables" / "real_benchmarks.tex"
    atomic_write_text(tex, f"% {provenance}\n" + table)
    written = [tex, write_findings(out, "real_benchmarks", findings(rundir), provenance)]
    fig = _cost_quality_figure(rundir)
    if fig is not None:
        written += save_figure(fig, out / "figures" / "real_benchmarks", subject=provenance, png=False)
    return written
