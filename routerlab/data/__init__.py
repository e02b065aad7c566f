"""Routing logs: the (query, model) outcome schema, loaders for public logs and user tables.

A routing log is a :class:`datasets.Dataset` with one row per (query, model); see
:mod:`routerlab.data.schema` for the columns and :func:`to_matrices` for the dense
queries x models view that routers train on.
"""

from routerlab.data.routellm import ROUTELLM_PRICES, load_gsm8k, load_mmlu, load_mt_bench
from routerlab.data.routerbench import load_routerbench
from routerlab.data.schema import (
    COLUMNS,
    DEFAULT_FRACTIONS,
    FEATURES,
    SPLITS,
    PriceTable,
    RoutingLogError,
    RoutingMatrices,
    approx_tokens,
    assign_splits,
    build_log,
    load_log,
    to_matrices,
    validate_log,
)
from routerlab.data.table import load_long_table, load_wide_table, read_table

__all__ = [
    "COLUMNS",
    "DEFAULT_FRACTIONS",
    "FEATURES",
    "ROUTELLM_PRICES",
    "SPLITS",
    "PriceTable",
    "RoutingLogError",
    "RoutingMatrices",
    "approx_tokens",
    "assign_splits",
    "build_log",
    "load_gsm8k",
    "load_log",
    "load_long_table",
    "load_mmlu",
    "load_mt_bench",
    "load_routerbench",
    "load_wide_table",
    "read_table",
    "to_matrices",
    "validate_log",
]
