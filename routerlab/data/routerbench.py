"""Loader for RouterBench's wide tables (Hu et al., "RouterBench: A Benchmark for
Multi-LLM Routing System", 2024; withmartian/routerbench).

One row per prompt with columns ``sample_id``, ``prompt``, ``eval_name`` (the task) and,
for every model ``<model>``: ``<model>`` (quality: 0/1 correctness or a fraction in
[0, 1]), ``<model>|total_cost`` (USD) and optionally ``<model>|model_response``. The
``oracle_model_to_route_to`` column is derivable from the others and is ignored. Models
are discovered from the ``|total_cost`` columns.

RouterBench ships pandas pickles; pickles can execute code when read, so they are read
only with ``allow_pickle=True`` (with a warning), for files you trust. Convert them once
(``pd.read_pickle(p).to_parquet(q)``) and load the Parquet file from then on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from routerlab.data.schema import DEFAULT_FRACTIONS, ModelOutcomes, RoutingLogError, wide_log
from routerlab.data.table import FrameReader, NanPolicy, read_table, splits_of, text_tokens

COST_SUFFIX = "|total_cost"
RESPONSE_SUFFIX = "|model_response"
PICKLE_SUFFIXES = (".pkl", ".pickle")


def routerbench_models(columns: Sequence[str]) -> list[str]:
    """Model names of a RouterBench table: the ``<model>`` of each ``<model>|total_cost`` column."""
    return [c.removesuffix(COST_SUFFIX) for c in columns if c.endswith(COST_SUFFIX)]


def load_routerbench(
    path: str | Path,
    *,
    models: Sequence[str] | None = None,
    allow_pickle: bool = False,
    nan_policy: NanPolicy = "error",
    split_seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> datasets.Dataset:
    """A routing log from a RouterBench table (``.csv``, ``.parquet``, or a trusted pickle).

    Query ids are ``str(sample_id)`` (must be unique); task = ``eval_name``; cost =
    ``<model>|total_cost``. Tokens are approximated with
    :func:`~routerlab.data.schema.approx_tokens`: input from the prompt, output from
    ``<model>|model_response`` (0 where the table has no response). ``models`` restricts
    the log to some models (default: all). A ``split`` column, when present, gives each
    query's split (``train``, ``val`` or ``test``); otherwise the split is hashed from the id
    with ``split_seed`` and ``fractions``.
    """
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise ValueError(
                f"{path}: reading a pickle can run arbitrary code; pass allow_pickle=True only for a file you "
                "trust, or convert it to Parquet"
            )
        warnings.warn(f"{path}: reading a pickle (allow_pickle=True); only do this for files you trust", stacklevel=2)
        frame = pd.read_pickle(path)
    else:
        frame = read_table(path)
    reader = FrameReader(frame, str(path))
    available = routerbench_models(list(frame.columns))
    if not available:
        raise RoutingLogError(str(path), f"no '<model>{COST_SUFFIX}' columns; is this a RouterBench table?")
    chosen = list(models) if models is not None else available
    unknown = [m for m in chosen if m not in available]
    if unknown:
        raise RoutingLogError(str(path), f"models {unknown} have no {COST_SUFFIX} column (available: {available})")

    query_ids = reader.unique_ids("sample_id")
    prompts = reader.strings("prompt")
    tasks = reader.strings("eval_name")
    tokens_in = text_tokens(prompts)
    outcomes, dropped = {}, np.zeros(len(reader), dtype=bool)
    for model in chosen:
        quality, nan = reader.quality(model, nan_policy)
        dropped |= nan
        responses = model + RESPONSE_SUFFIX
        tokens_out = (
            text_tokens(reader.strings(responses, missing=""))
            if reader.has(responses)
            else np.zeros(len(reader), np.int64)
        )
        outcomes[model] = ModelOutcomes(quality, reader.costs(model + COST_SUFFIX), tokens_in, tokens_out)

    keep = ~dropped if nan_policy == "drop" else np.ones(len(reader), dtype=bool)
    outcomes = {m: o.take(keep) for m, o in outcomes.items()}
    splits = splits_of(reader, "split", query_ids, split_seed, fractions)[keep]
    query_ids = query_ids[keep]
    return wide_log(query_ids, splits, tasks[keep], prompts[keep], outcomes, str(path))
