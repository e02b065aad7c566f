"""Command-line wiring of the fleet tools; ``routerlab/cli.py`` calls :func:`register`.

    routerlab route-eval PATH [--format wide|long] [--price-table FILE] [--budget B]
    routerlab data get NAME [--mirror DIR_OR_URL] [--cache-dir DIR] [--sha256 HEX ...]

``route-eval`` runs every applicable router on any routing table and prints one JSON
object per router (see :func:`route_eval`). Usage errors raise
:class:`~routerlab.config.ConfigError`, bad data :class:`~routerlab.data.RoutingLogError`,
a failed download :class:`~routerlab.data.get.DownloadError`; the ``routerlab`` entry
point prints them as one line and exits non-zero.

Wide tables are recognised by their columns: per-query ``query_id`` and ``prompt``
(optional ``task``, ``split``), and per model ``<model>`` (quality in [0, 1]) with either
``<model>|cost`` (USD) or, given ``--price-table``, ``<model>|tokens_out``. RouterBench
tables (``<model>|total_cost`` columns) are read as such. Long tables have one row per
(query, model) with the schema's columns (:func:`~routerlab.data.load_long_table`).
A price table is JSON: ``{"model": [input, output], ...}`` in USD per million tokens, or
``{"per": 1000, "prices": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import ConfigError
from routerlab.data import PriceTable, RoutingLogError, load_long_table, load_routerbench, load_wide_table, read_table
from routerlab.data.features import FeatureConfig, default_cache_dir, featurize
from routerlab.data.schema import SPLITS, to_matrices

__all__ = ["register", "route_eval", "load_any_table", "read_price_table"]

COST_SUFFIX, TOKENS_SUFFIX, ROUTERBENCH_SUFFIX = "|cost", "|tokens_out", "|total_cost"
REPORTED = ("mean_cost", "mean_quality", "aiq", "savings", "apgr", "cpt50", "cpt80")


def read_price_table(path: str | Path) -> PriceTable:
    """A :class:`PriceTable` from JSON (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError("--price-table", f"cannot read {path}: {err}") from None
    per = 1_000_000
    if isinstance(data, dict) and "prices" in data:
        per, data = data.get("per", per), data["prices"]
    if not isinstance(data, dict) or not all(
        isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(p, int | float) for p in v) for v in data.values()
    ):
        raise ConfigError("--price-table", f'{path}: expected {{"model": [input, output], ...}} USD per 1M tokens')
    try:
        return PriceTable({m: (float(i), float(o)) for m, (i, o) in data.items()}, per=int(per))
    except ValueError as err:
        raise ConfigError("--price-table", str(err)) from None


def load_any_table(path: str | Path, fmt: str | None = None, prices: PriceTable | None = None):
    """A routing log from a wide, long or RouterBench table, detecting the layout when ``fmt`` is None."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("path", f"no such file: {path}")
    try:
        columns = list(read_table(path).columns)
    except ValueError as err:
        raise ConfigError("path", str(err)) from None
    fmt = fmt or ("long" if "model" in columns and "quality" in columns else "wide")
    if fmt == "long":
        return load_long_table(path, prices=prices)
    if any(c.endswith(ROUTERBENCH_SUFFIX) for c in columns):
        if prices is not None:
            raise ConfigError("--price-table", "a RouterBench table carries its own costs; drop --price-table")
        return load_routerbench(path)
    suffix = TOKENS_SUFFIX if prices is not None else COST_SUFFIX
    models = [c for c in columns if f"{c}{suffix}" in columns]
    if not models:
        raise RoutingLogError(
            str(path),
            f"no model columns found: a wide table needs per model a quality column <model> and a column "
            f"<model>{suffix}" + ("" if prices is not None else " (or <model>|total_cost, or --price-table with "
                                  "<model>|tokens_out)"),
        )
    if prices is not None:
        return load_wide_table(path, models, prices=prices, tokens_out_columns={m: m + TOKENS_SUFFIX for m in models})
    return load_wide_table(path, models, cost_columns={m: m + COST_SUFFIX for m in models})


def route_eval(
    path: str | Path,
    *,
    fmt: str | None = None,
    price_table: str | Path | None = None,
    budget: float | None = None,
    n_boot: int = 200,
    seed: int = 0,
    steps: int = 300,
) -> list[dict[str, Any]]:
    """Every applicable router on the table at ``path``: one dict per router with its mean
    cost and quality at the operating point chosen on validation (within ``budget`` when
    given), AIQ and savings at 95% of the best model (and APGR/CPT on two-model tables),
    each as ``{"value", "lo", "hi"}`` (a bootstrap interval over test queries)."""
    from routerlab.fleet.evaluate import evaluate_routers
    from routerlab.fleet.routers import Split, default_routers

    if budget is not None and not budget >= 0:
        raise ConfigError("--budget", f"must be a mean cost per query >= 0; got {budget}")
    prices = read_price_table(price_table) if price_table is not None else None
    ds = load_any_table(path, fmt, prices)
    m = to_matrices(ds, source=str(path))
    if len(m.models) < 2:
        raise RoutingLogError(str(path), f"routing needs at least two models; found {list(m.models)}")
    counts = {s: int(np.sum(m.splits == s)) for s in SPLITS}
    if min(counts.values()) < 1 or counts["train"] < 2:
        raise RoutingLogError(
            str(path), f"need queries in every split (at least 2 in train); got {counts} (column 'split' or hash split)"
        )
    x = featurize(m, FeatureConfig(), cache_dir=default_cache_dir() / "features")
    train, val, test = (Split.of(m, x, s) for s in SPLITS)
    records = evaluate_routers(default_routers(train, seed=seed, steps=steps), train, val, test, budget=budget,
                               n_boot=n_boot, seed=seed)
    return [{"router": r["router"], **{k: r[k] for k in REPORTED if k in r}} for r in records]


def _cmd_route_eval(args: argparse.Namespace) -> int:
    for record in route_eval(args.path, fmt=args.format, price_table=args.price_table, budget=args.budget,
                             n_boot=args.n_boot, seed=args.seed):
        print(json.dumps(record, sort_keys=False), flush=True)
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

    r = subparsers.add_parser("route-eval", help="run every router on a routing table; one JSON line per router")
    r.add_argument("path", type=Path, help="a .csv, .jsonl or .parquet routing table")
    r.add_argument("--format", choices=("wide", "long"), help="table layout (default: detected)")
    r.add_argument("--price-table", type=Path, help='JSON {"model": [input, output]} USD per 1M tokens')
    r.add_argument("--budget", type=float, help="mean USD per query the operating point may spend")
    r.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200)")
    r.add_argument("--seed", type=int, default=0)
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
