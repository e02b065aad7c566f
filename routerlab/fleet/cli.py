"""Command-line wiring of the fleet tools; ``routerlab/cli.py`` calls :func:`register`.

    routerlab route-eval TRAIN [--test TEST] [--format wide|long] [--price-table FILE] [--budget B]
                         [--router MODULE:ATTR ...] [--json | --table] [--out DIR]
    routerlab data get NAME [--mirror DIR_OR_URL] [--cache-dir DIR] [--sha256 HEX ...]

``route-eval`` fits every applicable router, RouterBench's zero router and any user router
(``--router``; the protocol is :func:`routerlab.fleet.routers.load_router`'s) on a routing
table's train split, tunes them on its val split and scores them on its test split (see
:func:`route_eval`). Usage errors raise :class:`~routerlab.config.ConfigError`, bad data
:class:`~routerlab.data.RoutingLogError`, a failed download
:class:`~routerlab.data.get.DownloadError`; the ``routerlab`` entry point prints them as one
line and exits non-zero, having written nothing.

Accepted tables are described in :data:`TABLE_HELP` (also shown by ``--help``). A price
table is JSON: ``{"model": [input, output], ...}`` in USD per million tokens, or
``{"per": 1000, "prices": {...}}``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import ConfigError
from routerlab.data import PriceTable, RoutingLogError, load_long_table, load_routerbench, load_wide_table, read_table
from routerlab.data.features import default_cache_dir, featurize
from routerlab.data.schema import DEFAULT_FRACTIONS, SPLITS, RoutingMatrices, to_matrices
from routerlab.data.table import NAN_POLICIES

__all__ = ["register", "route_eval", "load_any_table", "read_price_table", "format_table", "write_outputs",
           "TABLE_HELP"]

COST_SUFFIX, TOKENS_SUFFIX, ROUTERBENCH_SUFFIX = "|cost", "|tokens_out", "|total_cost"
#: Fields of each router's JSON line, in order (``apgr``/``cpt*`` on two-model tables only).
REPORTED = ("router", "reference", "mean_cost", "mean_quality", "aiq", "delta_aiq", "savings", "savings_vs_zero",
            "apgr", "cpt50", "cpt80")
#: ``--features`` choices: :data:`routerlab.fleet.routers.FEATURE_SETS` (not imported by the parser,
#: which must not load JAX; a test checks the two agree).
FEATURE_CHOICES = ("words", "words+chars")
#: Per-query columns of a wide table; any other column must belong to a model.
WIDE_QUERY_COLUMNS = ("query_id", "prompt", "task", "split", "tokens_in")
#: With --test, TRAIN's queries without a split column go 8:1 to train and val.
_KEPT = 1 - DEFAULT_FRACTIONS[2]
TRAIN_VAL_FRACTIONS = (DEFAULT_FRACTIONS[0] / _KEPT, DEFAULT_FRACTIONS[1] / _KEPT, 0.0)

TABLE_HELP = """\
accepted tables (.csv, .jsonl or .parquet), one of:
  wide        one row per query: query_id, prompt, [task], [split], and per model
              <model> (quality in [0, 1]) with <model>|cost (USD per call), or
              <model>|tokens_out priced by --price-table; any other numeric column
              is refused as a model without costs
  RouterBench one row per query: sample_id, prompt, eval_name, <model>, <model>|total_cost
  long        one row per (query, model): query_id, prompt, model, quality, and cost
              (or tokens_out with --price-table); optional task, split, tokens_in, latency_s
split: a 'split' column (train, val, test; nothing else) is used as given; without one,
queries are hashed 80/10/10 into train/val/test by --split-seed (default 0). With --test,
every query of TEST is a test query and TRAIN gives train and val (8:1 without a split).

example:
  query_id,prompt,small,small|cost,large,large|cost
  q1,What is 2+2?,1,0.0001,1,0.002
  q2,Prove Fermat's last theorem.,0,0.0001,0.5,0.004
"""


def read_price_table(path: str | Path) -> PriceTable:
    """A :class:`PriceTable` from JSON (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError("--price-table", f"cannot read {path}: {err}") from None
    per: Any = 1_000_000
    if isinstance(data, dict) and "prices" in data:
        per, data = data.get("per", per), data["prices"]
    whole = isinstance(per, int | float) and not isinstance(per, bool) and math.isfinite(per) and per == int(per)
    if not whole or per <= 0:
        raise ConfigError("--price-table", f'{path}: "per" must be a positive whole number of tokens; got {per!r}')
    if not isinstance(data, dict) or not all(
        isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(p, int | float) for p in v)
        for v in data.values()
    ):
        raise ConfigError("--price-table", f'{path}: expected {{"model": [input, output], ...}} USD per 1M tokens')
    try:
        return PriceTable({m: (float(i), float(o)) for m, (i, o) in data.items()}, per=int(per))
    except ValueError as err:
        raise ConfigError("--price-table", f"{path}: {err}") from None


def _wide_models(path: Path, columns: list[str], frame, suffix: str, prices: PriceTable | None) -> list[str]:
    """Model names of a wide table; a column that looks like a model's quality but has no cost
    (or token) partner, or a partner without its quality column, is an error, not a silent drop."""
    models = [c for c in columns if f"{c}{suffix}" in columns]
    partners = {f"{m}{s}" for m in models for s in (COST_SUFFIX, TOKENS_SUFFIX, "|model_response")}
    for column in columns:
        if column in WIDE_QUERY_COLUMNS or column in models or column in partners:
            continue
        if "|" in column:
            base, _, kind = column.rpartition("|")
            if kind in ("cost", "tokens_out") and base not in columns:
                raise RoutingLogError(str(path), f"no quality column {base!r} for this {kind} column", column=column)
            if kind in ("cost", "tokens_out"):
                other = "--price-table" if kind == "cost" else "no --price-table"
                raise RoutingLogError(str(path), f"a {kind} column, but {other} was given: use <model>{suffix} "
                                      "for every model", column=column)
            continue
        values = frame[column]
        numeric = values.notna().any() and _all_numbers(values)
        if numeric:
            raise RoutingLogError(
                str(path), f"looks like a model's quality but has no {column + suffix!r} column; add it, or remove "
                "the column if it is not a model", column=column,
            )
    return models


def _all_numbers(values) -> bool:
    import pandas as pd

    text = values.dropna().astype(str).str.strip().str.lower().replace({"true": "1", "false": "0"})
    return bool(pd.to_numeric(text, errors="coerce").notna().all())


def load_any_table(
    path: str | Path,
    fmt: str | None = None,
    prices: PriceTable | None = None,
    *,
    split_seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    nan_policy: str = "error",
):
    """A routing log from a wide, long or RouterBench table, detecting the layout when ``fmt`` is None."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("path", f"no such file: {path}")
    try:
        frame = read_table(path)
    except ValueError as err:
        if isinstance(err, RoutingLogError):
            raise
        raise ConfigError("path", str(err)) from None
    columns = [str(c) for c in frame.columns]
    kw = {"split_seed": split_seed, "fractions": fractions, "nan_policy": nan_policy}
    fmt = fmt or ("long" if "model" in columns and "quality" in columns else "wide")
    if fmt == "long":
        return load_long_table(path, prices=prices, **kw)
    if any(c.endswith(ROUTERBENCH_SUFFIX) for c in columns):
        if prices is not None:
            raise ConfigError("--price-table", f"{path} is a RouterBench table with its own costs; drop --price-table")
        return load_routerbench(path, **kw)
    suffix = TOKENS_SUFFIX if prices is not None else COST_SUFFIX
    models = _wide_models(path, columns, frame, suffix, prices)
    if not models:
        raise RoutingLogError(
            str(path),
            f"no model columns found: a wide table needs per model a quality column <model> and a column "
            f"<model>{suffix}" + ("" if prices is not None else " (or <model>|total_cost, or --price-table with "
                                  "<model>|tokens_out)") + f"; columns present: {columns}",
        )
    if prices is not None:
        return load_wide_table(path, models, prices=prices, tokens_out_columns={m: m + TOKENS_SUFFIX for m in models},
                               **kw)
    return load_wide_table(path, models, cost_columns={m: m + COST_SUFFIX for m in models}, **kw)


def _matrices(path: Path, fmt, prices, split_seed: int, fractions, nan_policy: str) -> RoutingMatrices:
    ds = load_any_table(path, fmt, prices, split_seed=split_seed, fractions=fractions, nan_policy=nan_policy)
    return to_matrices(ds, source=str(path))


def _check_split_labels(m: RoutingMatrices, path: Path, allowed: tuple[str, ...], why: str) -> None:
    bad = ~np.isin(m.splits, allowed)
    if bad.any():
        i = int(np.argmax(bad))
        raise RoutingLogError(str(path), f"query {m.query_ids[i]!r} has split {m.splits[i]!r}; {why}",
                              column="split")


def _join(train: RoutingMatrices, test: RoutingMatrices, train_path: Path, test_path: Path) -> RoutingMatrices:
    """TRAIN's queries followed by TEST's (all ``test``), TEST's models in TRAIN's order."""
    if set(train.models) != set(test.models):
        missing, extra = sorted(set(train.models) - set(test.models)), sorted(set(test.models) - set(train.models))
        raise RoutingLogError(str(test_path), f"models differ from {train_path}'s: missing {missing}, extra {extra}")
    cols = [test.models.index(m) for m in train.models]
    return RoutingMatrices(
        query_ids=np.concatenate([train.query_ids, test.query_ids]),
        models=train.models,
        tasks=np.concatenate([train.tasks, test.tasks]),
        prompts=np.concatenate([train.prompts, test.prompts]),
        splits=np.concatenate([train.splits, np.full(len(test.query_ids), "test", dtype=object)]),
        quality=np.concatenate([train.quality, test.quality[:, cols]]),
        cost=np.concatenate([train.cost, test.cost[:, cols]]),
    )


def load_splits(
    path: str | Path,
    test: str | Path | None = None,
    *,
    fmt: str | None = None,
    prices: PriceTable | None = None,
    split_seed: int = 0,
    nan_policy: str = "error",
) -> RoutingMatrices:
    """The dense log of ``path`` (and of ``test``, whose every query is a test query), checked
    for at least two models, two training queries and one query in val and test."""
    path = Path(path)
    if test is None:
        m = _matrices(path, fmt, prices, split_seed, DEFAULT_FRACTIONS, nan_policy)
    else:
        train = _matrices(path, fmt, prices, split_seed, TRAIN_VAL_FRACTIONS, nan_policy)
        _check_split_labels(train, path, ("train", "val"), "with --test the test queries come from the test file")
        test_m = _matrices(Path(test), fmt, prices, split_seed, (0.0, 0.0, 1.0), nan_policy)
        _check_split_labels(test_m, Path(test), ("test",), "every query of the --test file must be a test query")
        m = _join(train, test_m, path, Path(test))
    if len(m.models) < 2:
        raise RoutingLogError(str(path), f"routing needs at least two models; found {list(m.models)}")
    counts = {s: int(np.sum(m.splits == s)) for s in SPLITS}
    if min(counts.values()) < 1 or counts["train"] < 2:
        how = "column 'split'" if "split" in _columns(path) else f"hashed by --split-seed {split_seed}"
        raise RoutingLogError(str(path), f"need queries in every split (at least 2 in train); got {counts} ({how})")
    return m


def _columns(path: Path) -> list[str]:
    return [str(c) for c in read_table(path).columns]


def route_eval(
    path: str | Path,
    *,
    test: str | Path | None = None,
    fmt: str | None = None,
    price_table: str | Path | None = None,
    budget: float | None = None,
    n_boot: int = 200,
    seed: int = 0,
    split_seed: int = 0,
    steps: int = 300,
    nan_policy: str = "error",
    routers: tuple[str, ...] = (),
    features: str = "words",
    progress=None,
) -> list[dict[str, Any]]:
    """The zero router, every applicable built-in router and each ``routers`` spec
    (``module:attr``) on the table at ``path``, evaluated on its test split (or on ``test``).

    One dict per router (:func:`routerlab.fleet.evaluate.evaluate_router`'s record: mean
    cost and quality at the operating point chosen on validation, within ``budget`` when
    given; AIQ; ΔAIQ against the zero router; savings at 95% of the best model on test and
    against the zero router; APGR/CPT on two-model tables), each statistic as
    ``{"value", "lo", "hi"}`` with a paired bootstrap interval over test queries.
    ``seed`` seeds the routers and the bootstrap; ``split_seed`` the hashed split;
    ``features`` names the text features (:func:`~routerlab.fleet.routers.route_eval_features`).
    """
    from routerlab.fleet.evaluate import evaluate_routers
    from routerlab.fleet.routers import FEATURE_SETS, Split, default_routers, load_router, route_eval_features

    if budget is not None and not budget >= 0:
        raise ConfigError("--budget", f"must be a mean cost per query >= 0; got {budget}")
    for flag, value in (("--seed", seed), ("--split-seed", split_seed)):
        if not (isinstance(value, int) and 0 <= value < 2**32):
            raise ConfigError(flag, f"must be an integer in [0, 2**32); got {value}")
    if n_boot < 10:
        raise ConfigError("--n-boot", f"must be >= 10 bootstrap resamples for a 95% interval; got {n_boot}")
    if features not in FEATURE_SETS:
        raise ConfigError("--features", f"must be one of {', '.join(FEATURE_SETS)}; got {features!r}")
    if nan_policy not in NAN_POLICIES:
        raise ConfigError("--nan-policy", f"must be one of {', '.join(NAN_POLICIES)}; got {nan_policy!r}")
    user = [load_router(spec) for spec in routers]  # bad specs fail before any work
    prices = read_price_table(price_table) if price_table is not None else None
    say = progress or (lambda line: None)
    m = load_splits(path, test, fmt=fmt, prices=prices, split_seed=split_seed, nan_policy=nan_policy)
    counts = {s: int(np.sum(m.splits == s)) for s in SPLITS}
    say(f"loaded {len(m.query_ids)} queries x {len(m.models)} models ({counts})")
    x = featurize(m, route_eval_features(features), cache_dir=default_cache_dir() / "features")
    train, val, test_split = (Split.of(m, x, s) for s in SPLITS)
    say(f"features {x.shape[1]}-d; fitting {len(user)} user and the built-in routers")
    built = default_routers(train, seed=seed, steps=steps, ensemble=True) + user
    return evaluate_routers(built, train, val, test_split, budget=budget, n_boot=n_boot, seed=seed,
                            zero_router=True, progress=say)


# -- output -------------------------------------------------------------------------------------


def _json_record(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in REPORTED if k in r}


def _num(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{round(x, digits) + 0.0:.{digits}f}"  # no "-0.000"


def _ci(cell: dict[str, Any] | None, digits: int = 3, signed: bool = False) -> str:
    if not cell or cell.get("value") is None:
        return "—"
    spec = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"

    def f(x: float) -> str:
        return spec.format(round(x, digits) + 0.0)  # + 0.0: a value that rounds to zero loses its sign

    lo, hi = cell.get("lo"), cell.get("hi")
    bracket = f" [{f(lo)}, {f(hi)}]" if lo is not None and hi is not None else ""
    return f(cell["value"]) + bracket


def table_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row of strings per router: the columns of the human, Markdown and CSV tables."""
    two_model = any("apgr" in r for r in records)
    rows = []
    for r in records:
        cost = r["mean_cost"]["value"]
        row = {
            "router": r["router"],
            "cost/1k queries": "—" if cost is None else f"{1000 * cost:.4g}",
            "quality": _num(r["mean_quality"]["value"]),
            "AIQ": _num(r["aiq"]["value"]),
            "ΔAIQ vs zero [95%]": _ci(r.get("delta_aiq"), 3, signed=True) if r["aiq"]["value"] is not None else "—",
            "savings vs best [95%]": _ci(r.get("savings"), 2),
            "savings vs zero [95%]": _ci(r.get("savings_vs_zero"), 2),
        }
        if two_model:
            row["APGR [95%]"] = _ci(r.get("apgr"), 3)
        rows.append(row)
    return rows


def format_table(records: list[dict[str, Any]], verdict: str) -> str:
    """A plain-text table (aligned columns) followed by the reference and the verdict."""
    rows = table_rows(records)
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    line = lambda r: "  ".join(r[c].ljust(widths[c]) for c in columns).rstrip()  # noqa: E731
    out = [line({c: c for c in columns}), "  ".join("-" * widths[c] for c in columns)]
    out += [line(r) for r in rows]
    out += ["", _footnote(records), verdict]
    return "\n".join(out) + "\n"


def _footnote(records: list[dict[str, Any]]) -> str:
    ref = records[0].get("reference", "?")
    return (f"Operating points (cost, quality) chosen on validation; AIQ over the cheapest-to-dearest model cost "
            f"range; savings at 95% of the best model on test ({ref}); intervals: paired bootstrap over test queries.")


def markdown_table(records: list[dict[str, Any]], verdict: str) -> str:
    from routerlab.report import markdown_table as md

    return md(table_rows(records)) + "\n" + _footnote(records) + "\n\n" + verdict + "\n"


def csv_table(records: list[dict[str, Any]]) -> str:
    """One row per router and statistic field (``value``, ``lo``, ``hi``), plain numbers."""
    fields = ["router", "reference"] + [f"{k}_{p}" for k in REPORTED[2:] for p in ("value", "lo", "hi")]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in records:
        row = {"router": r["router"], "reference": r.get("reference", "")}
        for k in REPORTED[2:]:
            for p in ("value", "lo", "hi"):
                v = (r.get(k) or {}).get(p)
                row[f"{k}_{p}"] = "" if v is None else repr(float(v))
        writer.writerow(row)
    return buf.getvalue()


def cost_quality_figure(records: list[dict[str, Any]], stem: Path) -> list[Path]:
    """The cost-quality figure (PNG and PDF): every router's curve, the single models as
    points and the zero router as its hull (dashed grey)."""
    import matplotlib.pyplot as plt

    from routerlab.fleet.metrics import nondecreasing_convex_hull
    from routerlab.report import save_figure, setup_style
    from routerlab.report.figures import plot_router_curves

    setup_style()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    others = [r for r in records if r["router"] != "zero_router"]
    plot_router_curves(ax, others)
    zero = next((r for r in records if r["router"] == "zero_router"), None)
    if zero is not None:
        hull = nondecreasing_convex_hull(zero["points"]["cost"], zero["points"]["quality"])
        ax.plot(np.r_[hull.cost, max(max(zero["points"]["cost"]), hull.cost[-1])] * 1000,
                np.r_[hull.quality, hull.quality[-1]], color="black", ls=":", lw=2.0, zorder=5, label="zero router")
    ax.set_xlabel("cost per 1,000 queries (USD)")
    ax.set_ylabel("mean quality (test)")
    ax.legend(fontsize=6, loc="lower right", ncols=2)
    return save_figure(fig, stem)


def write_outputs(records: list[dict[str, Any]], verdict: str, out: Path, argv: dict[str, Any]) -> list[Path]:
    """``results.jsonl`` (full records, with every operating point), ``summary.json`` (the
    arguments and the verdict), ``table.md``, ``table.csv`` and ``cost_quality.png``/``.pdf``
    in ``out``; each file is written whole (atomic) so an interrupted run leaves no half file."""
    from routerlab.rundir import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (
        ("results.jsonl", "".join(json.dumps(r) + "\n" for r in records)),
        ("summary.json", json.dumps({"arguments": argv, "verdict": verdict}, indent=2) + "\n"),
        ("table.md", markdown_table(records, verdict)),
        ("table.csv", csv_table(records)),
    ):
        atomic_write_text(out / name, text)
        paths.append(out / name)
    return paths + cost_quality_figure(records, out / "cost_quality")


def _cmd_route_eval(args: argparse.Namespace) -> int:
    from routerlab.fleet.evaluate import zero_router_verdict

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ConfigError("--out", f"{args.out} exists and is not a directory")
    progress = None if args.quiet else (lambda line: print(f"route-eval: {line}", file=sys.stderr, flush=True))
    records = route_eval(args.path, test=args.test, fmt=args.format, price_table=args.price_table, budget=args.budget,
                         n_boot=args.n_boot, seed=args.seed, split_seed=args.split_seed, nan_policy=args.nan_policy,
                         routers=tuple(args.router), features=args.features, progress=progress)
    verdict = zero_router_verdict(records)
    as_json = args.json or (not args.table and not sys.stdout.isatty())
    if as_json:
        for record in records:
            print(json.dumps(_json_record(record)), flush=True)
        print(json.dumps({"verdict": verdict}), flush=True)
    else:
        print(format_table(records, verdict), end="", flush=True)
    if args.out is not None:
        arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "func"}
        for path in write_outputs(records, verdict, args.out, arguments):
            if progress:
                progress(f"wrote {path}")
    return 0


def _cmd_data_get(args: argparse.Namespace) -> int:
    from routerlab.data.get import get

    root = get(args.name, mirror=args.mirror, cache_dir=args.cache_dir, timeout=args.timeout, sha256=args.sha256,
               progress=lambda line: print(line, file=sys.stderr))
    print(root)
    return 0


def register(subparsers) -> None:
    """Add the ``route-eval`` and ``data`` sub-commands (each sets ``func``) to ``subparsers``."""
    from routerlab.data.get import SOURCES

    r = subparsers.add_parser(
        "route-eval",
        help="every router, the zero router and yours on a routing table: a table, JSON, a figure",
        description="Fit routers on a routing table's train split (tuned on val), score them on its test split "
                    "against RouterBench's zero router (the convex hull of the single models).",
        epilog=TABLE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("path", type=Path, metavar="TRAIN", help="a .csv, .jsonl or .parquet routing table")
    r.add_argument("--test", type=Path, metavar="TEST", help="a table of test queries (same models); TRAIN then "
                   "gives train and val")
    r.add_argument("--format", choices=("wide", "long"), help="table layout (default: detected)")
    r.add_argument("--price-table", type=Path, help='JSON {"model": [input, output]} USD per 1M tokens')
    r.add_argument("--budget", type=float, help="mean USD per query the operating point may spend")
    r.add_argument("--router", action="append", default=[], metavar="MODULE:ATTR",
                   help="also evaluate your router (repeatable); see routerlab.fleet.routers.load_router")
    r.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200, at least 10)")
    r.add_argument("--seed", type=int, default=0, help="seed of the routers and the bootstrap (not the split)")
    r.add_argument("--split-seed", type=int, default=0,
                   help="seed of the hashed train/val/test split of tables without a split column (default 0)")
    r.add_argument("--features", choices=FEATURE_CHOICES, default="words",
                   help="prompt features: word n-grams (default), or also character n-grams and text statistics")
    r.add_argument("--nan-policy", choices=NAN_POLICIES, default="error",
                   help="missing quality: error (default), drop the query, or score it 0")
    out = r.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON lines (default when stdout is not a terminal)")
    out.add_argument("--table", action="store_true", help="a plain-text table (default on a terminal)")
    r.add_argument("--out", type=Path, metavar="DIR", help="also write results.jsonl, summary.json, table.md, "
                   "table.csv and cost_quality.png/.pdf there")
    r.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    r.set_defaults(func=_cmd_route_eval)

    d = subparsers.add_parser("data", help="public routing logs")
    dsub = d.add_subparsers(dest="data_command", required=True)
    g = dsub.add_parser("get", help="download and verify a public routing log into the cache")
    g.add_argument("name", choices=sorted(SOURCES))
    g.add_argument("--mirror", help="a directory or URL laid out like the upstream (offline machines)")
    g.add_argument("--cache-dir", type=Path, help="cache root (default: $ROUTERLAB_CACHE or ~/.cache/routerlab)")
    g.add_argument("--timeout", type=float, default=10.0, help="seconds per connection attempt")
    g.add_argument("--sha256", nargs="+", help="expected checksums, for sources without recorded ones")
    g.set_defaults(func=_cmd_data_get)
