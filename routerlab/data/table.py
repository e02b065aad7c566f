"""Load any user table of routing outcomes (CSV, JSON Lines or Parquet) into a routing log.

Two layouts are accepted:

* **long** (:func:`load_long_table`): one row per (query, model), with the schema's
  fields as columns (renamed through ``columns``);
* **wide** (:func:`load_wide_table`): one row per query, one quality column per model, and
  either one cost column per model or a :class:`~routerlab.data.schema.PriceTable`.

Every bad value raises :class:`~routerlab.data.schema.RoutingLogError` naming the file, the
row (data records counted from 1) and the file's column. Missing quality values follow
``nan_policy``: ``"error"`` (default) raises, ``"zero"`` scores them 0, and ``"drop"``
removes every row of each affected query, so the log stays rectangular for
:func:`~routerlab.data.schema.to_matrices`.

Token counts come from columns when the table has them. Otherwise ``tokens_in`` is
:func:`~routerlab.data.schema.approx_tokens` of the prompt, and ``tokens_out`` is recorded
as 0 (unknown) when costs come from cost columns; pricing with a price table needs
output-token columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import datasets
import numpy as np
import pandas as pd

from routerlab.data.schema import (
    COLUMNS,
    DEFAULT_FRACTIONS,
    ModelOutcomes,
    PriceTable,
    SPLITS,
    RoutingLogError,
    approx_tokens,
    assign_splits,
    build_log,
    wide_log,
)

NanPolicy = Literal["error", "drop", "zero"]
NAN_POLICIES: tuple[str, ...] = ("error", "drop", "zero")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read ``.csv``, ``.jsonl``/``.ndjson`` or ``.parquet``/``.pq`` into a DataFrame.

    CSV cells are read as text (identifiers such as ``007`` stay verbatim); numbers are
    parsed later, column by column, so that errors can name the offending cell. An empty
    file, a table with a header but no rows, and a repeated column name raise
    :class:`~routerlab.data.schema.RoutingLogError` naming the file (pandas would rename a
    repeated CSV column ``name.1``, and JSON keeps the last of a repeated key, silently).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    source = str(path)
    if suffix not in (".csv", ".jsonl", ".ndjson", ".parquet", ".pq"):
        raise ValueError(f"{path}: unsupported table format {suffix!r}; use .csv, .jsonl or .parquet")
    if path.is_file() and path.stat().st_size == 0:
        raise RoutingLogError(source, "empty file (no header, no rows)")
    if suffix == ".csv":
        _check_csv_header(path)
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=True)
        except pd.errors.EmptyDataError:
            raise RoutingLogError(source, "empty file (no header, no rows)") from None
    elif suffix in (".jsonl", ".ndjson"):
        _check_json_keys(path)
        frame = pd.read_json(path, lines=True, dtype=False)
    else:
        frame = pd.read_parquet(path)
    repeated = pd.Index(frame.columns).duplicated()
    if repeated.any():
        raise RoutingLogError(source, "column name appears more than once", column=str(frame.columns[repeated][0]))
    if len(frame) == 0:
        raise RoutingLogError(source, f"no data rows (header only: {list(frame.columns)})")
    return frame


def _check_csv_header(path: Path) -> None:
    """Refuse a CSV header that names a column twice (pandas would rename the second ``name.1``)."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise RoutingLogError(
                str(path), f"column name appears twice in the header (positions {seen[name]} and {position})",
                column=name,
            )
        seen[name] = position


def _check_json_keys(path: Path) -> None:
    """Refuse a JSON-lines record that repeats a key (JSON parsers keep the last value silently)."""
    import json

    def pairs(items):
        keys = [k for k, _ in items]
        repeated = [k for i, k in enumerate(keys) if k in keys[:i]]
        if repeated:
            raise _RepeatedKey(repeated[0])
        return dict(items)

    with open(path, encoding="utf-8") as f:
        for row, line in enumerate((line for line in f if line.strip()), start=1):
            try:
                json.loads(line, object_pairs_hook=pairs)
            except _RepeatedKey as err:
                raise RoutingLogError(str(path), "key appears twice in the record", row=row, column=err.key) from None
            except json.JSONDecodeError as err:
                raise RoutingLogError(str(path), f"not a JSON object: {err.msg}", row=row) from None


class _RepeatedKey(Exception):
    def __init__(self, key: str):
        self.key = key


class FrameReader:
    """Typed access to the columns of one input table, with located errors.

    The building block of every loader in :mod:`routerlab.data`; each method validates a
    whole column at once and reports the first bad cell.
    """

    def __init__(self, frame: pd.DataFrame, source: str):
        self.frame = frame.reset_index(drop=True)
        self.source = source

    def __len__(self) -> int:
        return len(self.frame)

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def error(self, problem: str, *, index: int | None = None, column: str | None = None) -> RoutingLogError:
        """An error at 0-based ``index`` (reported as row ``index + 1``)."""
        return RoutingLogError(self.source, problem, row=None if index is None else index + 1, column=column)

    def raise_first(self, bad: np.ndarray, column: str, describe: Callable[[int], str]) -> None:
        """Raise for the first ``True`` of ``bad``, described by ``describe(index)``."""
        if bad.any():
            i = int(np.argmax(bad))
            raise self.error(describe(i), index=i, column=column)

    def column(self, column: str) -> pd.Series:
        if column not in self.frame.columns:
            raise self.error(f"missing column (columns present: {list(self.frame.columns)})", column=column)
        return self.frame[column]

    def strings(self, column: str, *, missing: str | None = None) -> np.ndarray:
        """Values as ``str`` (numbers are converted); nulls raise unless ``missing`` replaces them."""
        series = self.column(column)
        null = series.isna().to_numpy()
        if missing is None:
            self.raise_first(null, column, lambda _: "missing value")
        values = series.to_numpy(dtype=object)
        text = [missing if n else v if isinstance(v, str) else str(v) for v, n in zip(values, null, strict=True)]
        return np.array(text, dtype=object)

    def numbers(self, column: str, *, allow_nan: bool = False) -> np.ndarray:
        """Values as float64; ``True``/``False`` (any case) read as 1/0; text that is not a number raises."""
        series = self.column(column)
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            text = series.astype("string").str.strip()
            lowered = text.str.lower()
            text = text.mask((lowered == "true").fillna(False), "1").mask((lowered == "false").fillna(False), "0")
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            unparsed = np.isnan(values) & text.notna().to_numpy() & ~lowered.isin(["nan", ""]).fillna(False).to_numpy()
            raw = series.to_numpy(dtype=object)
            self.raise_first(unparsed, column, lambda i: f"not a number ({raw[i]!r})")
        if not allow_nan:
            self.raise_first(np.isnan(values), column, lambda _: "missing value")
        return values

    def quality(self, column: str, nan_policy: NanPolicy) -> tuple[np.ndarray, np.ndarray]:
        """Quality in [0, 1] and the mask of NaN cells (already zeroed under ``"zero"``)."""
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        values = self.numbers(column, allow_nan=True)
        nan = np.isnan(values)
        self.raise_first(
            ~nan & ~((values >= 0) & (values <= 1)), column, lambda i: f"quality must be in [0, 1], got {values[i]}"
        )
        if nan_policy == "error":
            self.raise_first(
                nan, column,
                lambda _: "missing quality (NaN); allow it with nan_policy 'drop' or 'zero' (route-eval: --nan-policy)",
            )
        return np.where(nan, 0.0, values), nan

    def costs(self, column: str) -> np.ndarray:
        """USD costs, finite and >= 0."""
        values = self.numbers(column)
        self.raise_first(
            ~(np.isfinite(values) & (values >= 0)), column, lambda i: f"cost must be finite and >= 0, got {values[i]}"
        )
        return values

    def counts(self, column: str) -> np.ndarray:
        """Non-negative integer counts (token counts)."""
        values = self.numbers(column)
        self.raise_first(
            ~(np.isfinite(values) & (values >= 0) & (values == np.round(values))),
            column,
            lambda i: f"must be a non-negative integer, got {values[i]}",
        )
        return values.astype(np.int64)

    def latencies(self, column: str) -> np.ndarray:
        """Seconds, >= 0; NaN where missing (latency is optional)."""
        values = self.numbers(column, allow_nan=True)
        self.raise_first(values < 0, column, lambda i: f"latency must be >= 0, got {values[i]}")
        return values

    def unique_ids(self, column: str) -> np.ndarray:
        """Query ids as strings; a repeated id raises naming its second row."""
        ids = self.strings(column)
        repeated = pd.Series(ids).duplicated().to_numpy()
        self.raise_first(repeated, column, lambda i: f"duplicate query id {ids[i]!r}")
        return ids


def text_tokens(texts: np.ndarray) -> np.ndarray:
    """:func:`~routerlab.data.schema.approx_tokens` of each text."""
    return np.array([approx_tokens(t) for t in texts], dtype=np.int64)


def splits_of(reader: FrameReader, column: str, query_ids: np.ndarray, seed: int, fractions) -> np.ndarray:
    """The file's split labels when it has ``column`` (each one of ``train``, ``val``, ``test``:
    another label, e.g. ``Train``, raises naming its row), else
    :func:`~routerlab.data.schema.assign_splits` of the query ids with ``seed`` and ``fractions``."""
    if not reader.has(column):
        return assign_splits(query_ids, seed, fractions)
    labels = reader.strings(column)
    reader.raise_first(
        ~np.isin(labels, SPLITS), column,
        lambda i: f"unknown split label {labels[i]!r}; use one of {', '.join(SPLITS)} (lower case)",
    )
    return labels


def load_long_table(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    prices: PriceTable | None = None,
    nan_policy: NanPolicy = "error",
    split_seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    default_task: str = "all",
) -> datasets.Dataset:
    """A routing log from a long table (one row per query and model).

    ``columns`` maps schema fields to the file's column names where they differ, e.g.
    ``{"query_id": "id", "quality": "score"}``. Required: ``query_id``, ``model``,
    ``prompt``, ``quality``, and either ``cost`` or ``prices`` (then ``tokens_out`` is
    required too). Optional: ``task`` (else ``default_task``), ``split`` (else
    :func:`~routerlab.data.schema.assign_splits` with ``split_seed`` and ``fractions``),
    ``tokens_in``, ``tokens_out``, ``latency_s``.
    """
    names = _column_names(columns)
    source = str(path)
    reader = FrameReader(read_table(path), source)
    query_ids = reader.strings(names["query_id"])
    models = reader.strings(names["model"])
    prompts = reader.strings(names["prompt"])
    quality, nan = reader.quality(names["quality"], nan_policy)

    repeated = pd.DataFrame({"q": query_ids, "m": models}).duplicated().to_numpy()
    reader.raise_first(
        repeated, names["model"], lambda i: f"duplicate row for query {query_ids[i]!r} and model {models[i]!r}"
    )

    n = len(reader)
    tokens_in = reader.counts(names["tokens_in"]) if reader.has(names["tokens_in"]) else text_tokens(prompts)
    if reader.has(names["cost"]) and prices is not None:
        raise RoutingLogError(
            source, "the table has costs and a price table was given too; drop the price table (or the column)",
            column=names["cost"],
        )
    if reader.has(names["cost"]):
        cost = reader.costs(names["cost"])
        tokens_out = reader.counts(names["tokens_out"]) if reader.has(names["tokens_out"]) else np.zeros(n, np.int64)
    elif prices is not None:
        tokens_out = reader.counts(names["tokens_out"])
        cost = np.empty(n)
        for model in pd.unique(models):
            rows = models == model
            if model not in prices:
                raise reader.error(
                    f"model {model!r} is not in the price table (it covers {sorted(prices.models)})",
                    index=int(np.argmax(rows)),
                    column=names["model"],
                )
            cost[rows] = prices.cost(model, tokens_in[rows], tokens_out[rows])
    else:
        raise reader.error("missing column and no price table given to compute costs", column=names["cost"])

    log = {
        "query_id": query_ids,
        "split": splits_of(reader, names["split"], query_ids, split_seed, fractions),
        "task": reader.strings(names["task"]) if reader.has(names["task"]) else np.full(n, default_task, dtype=object),
        "prompt": prompts,
        "model": models,
        "quality": quality,
        "cost": cost,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "latency_s": reader.latencies(names["latency_s"]) if reader.has(names["latency_s"]) else np.full(n, np.nan),
    }
    if nan_policy == "drop":
        keep = ~np.isin(query_ids, query_ids[nan])
        log = {k: v[keep] for k, v in log.items()}
    return build_log(log, source)


def load_wide_table(
    path: str | Path,
    models: Sequence[str] | Mapping[str, str],
    *,
    columns: Mapping[str, str] | None = None,
    cost_columns: Mapping[str, str] | None = None,
    tokens_out_columns: Mapping[str, str] | None = None,
    prices: PriceTable | None = None,
    nan_policy: NanPolicy = "error",
    split_seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    default_task: str = "all",
) -> datasets.Dataset:
    """A routing log from a wide table (one row per query, one quality column per model).

    ``models`` lists the models, whose quality columns carry their names, or maps each
    model to its quality column. ``columns`` renames the per-query fields ``query_id``
    (required, unique), ``prompt`` (required), ``task``, ``split`` and ``tokens_in``
    (optional, as in :func:`load_long_table`). Costs come from ``cost_columns`` (model ->
    USD column) or from ``prices`` with ``tokens_out_columns`` (model -> token column).
    """
    names = _column_names(columns)
    quality_columns = dict(models) if isinstance(models, Mapping) else {m: m for m in models}
    source = str(path)
    reader = FrameReader(read_table(path), source)
    query_ids = reader.unique_ids(names["query_id"])
    prompts = reader.strings(names["prompt"])
    n = len(reader)
    tokens_in = reader.counts(names["tokens_in"]) if reader.has(names["tokens_in"]) else text_tokens(prompts)
    if (cost_columns is None) == (prices is None):
        raise ValueError(f"{source}: give exactly one of cost_columns or prices")

    outcomes: dict[str, ModelOutcomes] = {}
    dropped = np.zeros(n, dtype=bool)
    for model, column in quality_columns.items():
        quality, nan = reader.quality(column, nan_policy)
        dropped |= nan
        out_column = (tokens_out_columns or {}).get(model)
        if cost_columns is not None:
            if model not in cost_columns:
                raise ValueError(f"{source}: no cost column given for model {model!r}")
            cost = reader.costs(cost_columns[model])
            tokens_out = reader.counts(out_column) if out_column is not None else np.zeros(n, np.int64)
        elif prices is not None:
            if model not in prices:
                raise reader.error(
                    f"model {model!r} is not in the price table (it covers {sorted(prices.models)})", column=column
                )
            if out_column is None:
                raise ValueError(f"{source}: pricing model {model!r} needs its column in tokens_out_columns")
            tokens_out = reader.counts(out_column)
            cost = prices.cost(model, tokens_in, tokens_out)
        outcomes[model] = ModelOutcomes(quality, cost, tokens_in, tokens_out)

    tasks = reader.strings(names["task"]) if reader.has(names["task"]) else np.full(n, default_task, dtype=object)
    splits = splits_of(reader, names["split"], query_ids, split_seed, fractions)
    if nan_policy == "drop":
        keep = ~dropped
        query_ids, splits, tasks, prompts = query_ids[keep], splits[keep], tasks[keep], prompts[keep]
        outcomes = {m: o.take(keep) for m, o in outcomes.items()}
    return wide_log(query_ids, splits, tasks, prompts, outcomes, source)


def _column_names(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Schema field -> file column, identity unless renamed."""
    unknown = sorted(set(columns or {}) - set(COLUMNS))
    if unknown:
        raise ValueError(f"columns maps unknown schema fields {unknown}; the fields are {list(COLUMNS)}")
    return {field: field for field in COLUMNS} | dict(columns or {})


#: Words of each task in :func:`example_table`'s prompts.
EXAMPLE_WORDS = {
    "math": ("integral", "sum", "prime", "equation", "matrix", "derivative"),
    "code": ("python", "loop", "bug", "compile", "list", "function"),
    "chat": ("hello", "advice", "weekend", "recipe", "travel", "story"),
}


def example_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A small synthetic wide routing table, for trying ``routerlab route-eval`` on something.

    ``n`` queries of three tasks (math, code, chat) whose words appear in each prompt, and
    three models: ``small-math`` answers math correctly with probability 0.9 (else 0.2),
    ``small-code`` the same for code, and ``large`` answers everything with probability
    0.8 at about ten times the price. Costs are USD per call, proportional to the prompt's
    length. Columns: ``query_id, prompt, task, <model>, <model>|cost``.
    """
    rng = np.random.default_rng(seed)
    tasks = rng.choice(list(EXAMPLE_WORDS), size=n)
    prompts = [" ".join(rng.choice(EXAMPLE_WORDS[t], 4)) + f" #{rng.integers(0, 100)}" for t in tasks]
    length = np.array([len(p) for p in prompts], dtype=np.float64)
    frame = pd.DataFrame({"query_id": [f"q{i:05d}" for i in range(n)], "prompt": prompts, "task": tasks})
    price = {"small-math": 1e-6, "small-code": 1.2e-6, "large": 1e-5}  # USD per character
    for model, p_right in (("small-math", np.where(tasks == "math", 0.9, 0.2)),
                           ("small-code", np.where(tasks == "code", 0.9, 0.2)),
                           ("large", np.full(n, 0.8))):
        frame[model] = (rng.random(n) < p_right).astype(np.float64)
        frame[f"{model}|cost"] = price[model] * length
    return frame
