"""The routing-log schema: one row per (query, model) outcome.

A routing log is a Hugging Face :class:`datasets.Dataset` with the columns of
:data:`FEATURES`:

===========  ========  ====================================================
column       type      meaning
===========  ========  ====================================================
query_id     string    stable identifier of the query (unique per query)
split        string    ``"train"``, ``"val"`` or ``"test"`` (see :func:`assign_splits`)
task         string    benchmark subset / domain, used for per-task breakdowns
prompt       string    the text a router sees
model        string    the model that answered
quality      float64   score in [0, 1] (1 = correct / best judge score)
cost         float64   USD spent on this (query, model) call, >= 0
tokens_in    int64     prompt tokens, >= 0
tokens_out   int64     completion tokens, >= 0
latency_s    float64   seconds, >= 0; nullable (most public logs lack it)
===========  ========  ====================================================

Persist it with ``ds.save_to_disk(dir)`` or ``ds.to_parquet(path)`` and read it
back with :func:`load_log`. Routers consume the dense view :func:`to_matrices`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

FEATURES = datasets.Features(
    {
        "query_id": datasets.Value("string"),
        "split": datasets.Value("string"),
        "task": datasets.Value("string"),
        "prompt": datasets.Value("string"),
        "model": datasets.Value("string"),
        "quality": datasets.Value("float64"),
        "cost": datasets.Value("float64"),
        "tokens_in": datasets.Value("int64"),
        "tokens_out": datasets.Value("int64"),
        "latency_s": datasets.Value("float64"),
    }
)
COLUMNS: tuple[str, ...] = tuple(FEATURES)
SPLITS: tuple[str, str, str] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)

#: Characters per token of :func:`approx_tokens` (OpenAI's rule of thumb for English text).
CHARS_PER_TOKEN = 4


class RoutingLogError(ValueError):
    """A bad routing log or input table, located as ``source: row R, column 'C': problem``.

    Row numbers count data records from 1 (a CSV's header line is not counted, and row 1 of
    a :class:`datasets.Dataset` is ``ds[0]``). ``row`` and ``column`` are ``None`` when the
    problem is not tied to one.
    """

    def __init__(self, source: str, problem: str, *, row: int | None = None, column: str | None = None):
        where = ", ".join(
            part
            for part in (f"row {row}" if row is not None else "", f"column {column!r}" if column is not None else "")
            if part
        )
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")
        self.source, self.problem, self.row, self.column = source, problem, row, column


def approx_tokens(text: str) -> int:
    """Deterministic token-count approximation: ``ceil(len(text) / CHARS_PER_TOKEN)``.

    No tokenizer is downloaded; for English prose this is within ~20% of BPE tokenizers,
    which is enough for cost estimates. The empty string has 0 tokens.
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class PriceTable:
    """USD prices of input and output tokens per model.

    ``prices`` maps model -> (input price, output price), in USD per ``per`` tokens
    (``per=1_000_000`` for "per 1M tokens", ``per=1_000`` for "per 1K tokens").
    Negative or non-finite prices are rejected naming the model.
    """

    def __init__(self, prices: Mapping[str, tuple[float, float]], *, per: int = 1_000_000):
        if per <= 0:
            raise ValueError(f"per must be a positive token count, got {per}")
        self._per_token: dict[str, tuple[float, float]] = {}
        for model, (price_in, price_out) in prices.items():
            for name, price in (("input", price_in), ("output", price_out)):
                if not math.isfinite(price) or price < 0:
                    raise ValueError(f"price table: model {model!r}: {name} price must be finite and >= 0, got {price}")
            self._per_token[model] = (price_in / per, price_out / per)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self._per_token)

    def __contains__(self, model: object) -> bool:
        return model in self._per_token

    def __repr__(self) -> str:
        per_m = {m: (i * 1e6, o * 1e6) for m, (i, o) in self._per_token.items()}
        return f"PriceTable({per_m}, per=1_000_000)"

    def per_token(self, model: str) -> tuple[float, float]:
        """(input, output) USD per token of ``model``; a clear error for unknown models."""
        try:
            return self._per_token[model]
        except KeyError:
            raise ValueError(
                f"no price for model {model!r}; the price table covers {sorted(self._per_token)}"
            ) from None

    def cost(self, model: str, tokens_in: np.ndarray | int, tokens_out: np.ndarray | int) -> np.ndarray:
        """USD cost of calls to ``model``: ``tokens_in * p_in + tokens_out * p_out``."""
        price_in, price_out = self.per_token(model)
        return np.asarray(tokens_in, dtype=np.float64) * price_in + np.asarray(tokens_out, dtype=np.float64) * price_out


def assign_splits(
    query_ids: Iterable[str], seed: int, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> np.ndarray:
    """Assign each query to ``"train"``, ``"val"`` or ``"test"`` from a stable hash.

    ``u = int(blake2b(f"{seed}:{query_id}", 8 bytes), big-endian) / 2**64`` is uniform in
    [0, 1); the query goes to the first split whose cumulative fraction exceeds ``u``.
    The assignment of one query depends only on its id and the seed (never on Python's
    salted ``hash``, the order of ids, or which other ids are present), so adding queries
    to a log leaves existing assignments unchanged.
    """
    fracs = np.asarray(fractions, dtype=np.float64)
    if fracs.shape != (3,) or np.any(fracs < 0) or not math.isclose(fracs.sum(), 1.0, abs_tol=1e-9):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    u = np.array(
        [
            int.from_bytes(hashlib.blake2b(f"{seed}:{q}".encode(), digest_size=8).digest(), "big") / 2.0**64
            for q in query_ids
        ],
        dtype=np.float64,
    )
    edges = np.cumsum(fracs)[:2]
    return np.asarray(SPLITS, dtype=object)[np.searchsorted(edges, u, side="right")]


@dataclass(frozen=True)
class ModelOutcomes:
    """One model's outcomes on every query of a wide table (arrays of length Q)."""

    quality: np.ndarray
    cost: np.ndarray
    tokens_in: np.ndarray
    tokens_out: np.ndarray

    def take(self, rows: np.ndarray) -> ModelOutcomes:
        """The outcomes of the queries selected by an index array or boolean mask."""
        return ModelOutcomes(self.quality[rows], self.cost[rows], self.tokens_in[rows], self.tokens_out[rows])


def build_log(columns: Mapping[str, Sequence], source: str = "routing log") -> datasets.Dataset:
    """Make a validated routing log from a mapping of schema column -> values.

    ``latency_s`` may be omitted (all null); every other column of :data:`FEATURES` is required.
    """
    missing = [c for c in COLUMNS if c not in columns and c != "latency_s"]
    if missing:
        raise RoutingLogError(source, f"missing schema columns {missing}")
    n = len(columns["query_id"])
    data = {c: list(columns[c]) if c in columns else [None] * n for c in COLUMNS}
    data["latency_s"] = [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in data["latency_s"]
    ]
    ds = datasets.Dataset.from_dict(data, features=FEATURES)
    validate_log(ds, source)
    return ds


def wide_log(
    query_ids: Sequence[str],
    splits: Sequence[str],
    tasks: Sequence[str],
    prompts: Sequence[str],
    outcomes: Mapping[str, ModelOutcomes],
    source: str = "routing log",
) -> datasets.Dataset:
    """Interleave per-query fields and per-model outcomes into a log, query-major (latency null)."""
    n_models = len(outcomes)
    models = list(outcomes)

    def per_row(field: str) -> list:
        return np.stack([getattr(outcomes[m], field) for m in models], axis=1).reshape(-1).tolist()

    def repeat(values: Sequence[str]) -> list[str]:
        return [v for v in values for _ in range(n_models)]

    columns = {
        "query_id": repeat(query_ids),
        "split": repeat(splits),
        "task": repeat(tasks),
        "prompt": repeat(prompts),
        "model": models * len(query_ids),
        **{f: per_row(f) for f in ("quality", "cost", "tokens_in", "tokens_out")},
    }
    return build_log(columns, source)


def validate_log(ds: datasets.Dataset, source: str = "routing log") -> None:
    """Raise :class:`RoutingLogError` unless ``ds`` follows the schema.

    Checks: every column of :data:`FEATURES` present; no null identifiers or text; quality
    finite and in [0, 1]; cost finite and >= 0; token counts >= 0; latency null or >= 0;
    no duplicate (query_id, model) row.
    """
    missing = [c for c in COLUMNS if c not in ds.column_names]
    if missing:
        raise RoutingLogError(source, f"missing schema columns {missing} (present: {ds.column_names})")
    frame = ds.to_pandas()
    for column in ("query_id", "split", "task", "prompt", "model"):
        _first_bad(frame[column].isna().to_numpy(), source, column, lambda _: "missing value")
    for column in ("query_id", "split", "model"):
        _first_bad((frame[column] == "").to_numpy(), source, column, lambda _: "empty string")
    quality = frame["quality"].to_numpy(dtype=np.float64)
    _first_bad(~((quality >= 0) & (quality <= 1)), source, "quality", lambda i: f"must be in [0, 1], got {quality[i]}")
    cost = frame["cost"].to_numpy(dtype=np.float64)
    _first_bad(~(np.isfinite(cost) & (cost >= 0)), source, "cost", lambda i: f"must be finite and >= 0, got {cost[i]}")
    for column in ("tokens_in", "tokens_out"):
        tokens = frame[column].to_numpy(dtype=np.float64)
        _first_bad(~(tokens >= 0), source, column, lambda i, c=column: f"must be >= 0, got {frame[c].iat[i]}")
    latency = frame["latency_s"].to_numpy(dtype=np.float64)
    _first_bad(latency < 0, source, "latency_s", lambda i: f"must be >= 0 or null, got {latency[i]}")
    duplicated = frame.duplicated(["query_id", "model"]).to_numpy()
    _first_bad(
        duplicated,
        source,
        "model",
        lambda i: f"duplicate (query_id, model) pair ({frame['query_id'].iat[i]!r}, {frame['model'].iat[i]!r})",
    )


def _first_bad(bad: np.ndarray, source: str, column: str, describe: Callable[[int], str]) -> None:
    """Raise for the first ``True`` in ``bad`` (0-based index i -> row i + 1)."""
    if bad.any():
        i = int(np.argmax(bad))
        raise RoutingLogError(source, describe(i), row=i + 1, column=column)


def load_log(path: str | Path) -> datasets.Dataset:
    """Read a routing log saved with ``save_to_disk`` (a directory) or ``to_parquet`` and validate it."""
    path = Path(path)
    ds = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.Dataset.from_parquet(str(path))
    validate_log(ds, str(path))
    return ds.cast(FEATURES)


@dataclass(frozen=True)
class RoutingMatrices:
    """Dense view of a routing log: Q queries x M models.

    ``quality[i, j]`` and ``cost[i, j]`` are the outcome of model ``models[j]`` on query
    ``query_ids[i]``. Queries keep their order of first appearance in the log, models too
    unless given explicitly.
    """

    query_ids: np.ndarray  # [Q] str
    models: tuple[str, ...]  # [M]
    tasks: np.ndarray  # [Q] str
    prompts: np.ndarray  # [Q] str
    splits: np.ndarray  # [Q] str
    quality: np.ndarray  # [Q, M] float64
    cost: np.ndarray  # [Q, M] float64

    def take(self, rows: np.ndarray) -> RoutingMatrices:
        """The queries selected by an index array or boolean mask, e.g. ``m.take(m.splits == "train")``."""
        return RoutingMatrices(
            query_ids=self.query_ids[rows],
            models=self.models,
            tasks=self.tasks[rows],
            prompts=self.prompts[rows],
            splits=self.splits[rows],
            quality=self.quality[rows],
            cost=self.cost[rows],
        )


def to_matrices(
    ds: datasets.Dataset, models: Sequence[str] | None = None, source: str = "routing log"
) -> RoutingMatrices:
    """Pivot a long routing log into :class:`RoutingMatrices`.

    Every (query, model) pair must appear exactly once; a missing or duplicated pair, or a
    query whose task/prompt/split differs between its rows, raises :class:`RoutingLogError`.
    ``models`` selects and orders the models (rows of other models are ignored).
    """
    frame = ds.to_pandas()
    if models is not None:
        unknown = sorted(set(models) - set(frame["model"]))
        if unknown:
            raise RoutingLogError(source, f"models {unknown} do not appear in the log", column="model")
        frame = frame[frame["model"].isin(list(models))]
    q_codes, query_ids = pd.factorize(frame["query_id"])
    model_names = tuple(models) if models is not None else tuple(pd.unique(frame["model"]))
    m_codes = pd.Index(model_names).get_indexer(frame["model"])
    rows = frame.index.to_numpy() + 1  # record numbers in the log
    n_q, n_m = len(query_ids), len(model_names)

    pair = q_codes * n_m + m_codes
    seen = pd.Series(pair).duplicated().to_numpy()
    if seen.any():
        i = int(np.argmax(seen))
        raise RoutingLogError(
            source,
            f"duplicate (query_id, model) pair ({query_ids[q_codes[i]]!r}, {model_names[m_codes[i]]!r})",
            row=int(rows[i]),
            column="model",
        )
    if len(pair) != n_q * n_m:
        present = np.zeros(n_q * n_m, dtype=bool)
        present[pair] = True
        hole = int(np.argmin(present))
        raise RoutingLogError(
            source, f"query {query_ids[hole // n_m]!r} has no row for model {model_names[hole % n_m]!r}"
        )

    first = np.unique(q_codes, return_index=True)[1]  # first row of each query
    per_query = {}
    for column in ("task", "prompt", "split"):
        values = frame[column].to_numpy(dtype=object)
        differs = values != values[first][q_codes]
        if differs.any():
            i = int(np.argmax(differs))
            raise RoutingLogError(
                source,
                f"query {query_ids[q_codes[i]]!r} has {column} {values[i]!r} here but "
                f"{values[first[q_codes[i]]]!r} in row {rows[first[q_codes[i]]]}",
                row=int(rows[i]),
                column=column,
            )
        per_query[column] = values[first]

    quality = np.empty((n_q, n_m))
    cost = np.empty((n_q, n_m))
    quality[q_codes, m_codes] = frame["quality"].to_numpy(dtype=np.float64)
    cost[q_codes, m_codes] = frame["cost"].to_numpy(dtype=np.float64)
    return RoutingMatrices(
        query_ids=np.asarray(query_ids, dtype=object),
        models=model_names,
        tasks=per_query["task"],
        prompts=per_query["prompt"],
        splits=per_query["split"],
        quality=quality,
        cost=cost,
    )
