"""Command-line wiring of the fleet tools; ``routerlab/cli.py`` calls :func:`register`.

    routerlab route-eval TRAIN [--test TEST] [--format wide|long] [--price-table FILE] [--budget B]
                         [--router MODULE:ATTR ...] [--json | --table] [--out DIR]
    routerlab data get NAME [--mirror DIR_OR_URL] [--cache-dir DIR] [--sha256 HEX ...]

``route-eval`` fits every applicable router, RouterBench's zero router and any user router
(``--router``; the protocol is :func:`routerlab.fleet.user_routers.load_router`'s) on a routing
table's train split, tunes them on its val split and scores them on its test split (see
:func:`route_eval`). Usage errors raise :class:`~routerlab.config.ConfigError`, bad data
:class:`~routerlab.data.RoutingLogError`, a failed download
:class:`~routerlab.data.get.DownloadError`; the ``routerlab`` entry point prints them as one
line and exits non-zero, having written nothing.

Accepted tables are described in :data:`routerlab.fleet.route_tables.TABLE_HELP` (also shown
by ``--help``); reading them is :mod:`routerlab.fleet.route_tables`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import ConfigError
from routerlab.data.features import default_cache_dir, featurize
from routerlab.data.schema import SPLITS
from routerlab.data.table import NAN_POLICIES
from routerlab.fleet.route_tables import TABLE_HELP, load_any_table, load_splits, read_price_table

__all__ = ["register", "route_eval", "load_any_table", "load_splits", "read_price_table", "format_table",
           "write_outputs", "TABLE_HELP"]

#: Fields of each router's JSON line, in order (``apgr``/``cpt*`` on two-model tables only).
REPORTED = ("router", "reference", "mean_cost", "mean_quality", "aiq", "delta_aiq", "savings", "savings_vs_zero",
            "apgr", "cpt50", "cpt80")
#: ``--features`` choices: :data:`routerlab.fleet.user_routers.FEATURE_SETS` (not imported by the parser,
#: which must not load JAX; a test checks the two agree).
FEATURE_CHOICES = ("words", "words+chars")


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
    ``features`` names the text features (:func:`~routerlab.fleet.user_routers.route_eval_features`).
    """
    from routerlab.fleet.evaluate import evaluate_routers
    from routerlab.fleet.routers import Split, default_routers
    from routerlab.fleet.user_routers import FEATURE_SETS, load_router, route_eval_features

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
                   help="also evaluate your router (repeatable); see routerlab.fleet.user_routers.load_router")
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
