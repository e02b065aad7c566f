"""Routing tables for ``routerlab route-eval``: a wide, long or RouterBench table (CSV, JSON
lines or Parquet) read into :class:`~routerlab.data.schema.RoutingMatrices` with its
train/val/test split, and a price table for tables that give tokens instead of costs.

Accepted tables are described in :data:`TABLE_HELP`. A price table is JSON: ``{"model":
[input, output], ...}`` in USD per million tokens, or ``{"per": 1000, "prices": {...}}``. Bad
data raises :class:`~routerlab.data.RoutingLogError` naming the row and column.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from routerlab.config import ConfigError
from routerlab.data import PriceTable, RoutingLogError, load_long_table, load_routerbench, load_wide_table, read_table
from routerlab.data.schema import DEFAULT_FRACTIONS, SPLITS, RoutingMatrices, to_matrices

__all__ = ["load_any_table", "load_splits", "read_price_table", "TABLE_HELP"]

COST_SUFFIX, TOKENS_SUFFIX, ROUTERBENCH_SUFFIX = "|cost", "|tokens_out", "|total_cost"


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

