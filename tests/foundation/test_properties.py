"""Property-based checks of what users type and point at (issue 17): any ``--set`` value on any
field gives a valid config or a one-line ConfigError, any routing table a valid log or a
one-line ValueError; never another exception. Bounded to a few seconds."""

import csv
import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from routerlab.config import ConfigError, to_dict  # noqa: E402
from routerlab.registry import load_experiment  # noqa: E402

# Experiments whose configs cover every kind of field: nested dataclasses, tuples of
# dataclasses, Literals, optional sub-configs, seeds, float tuples.
EXPERIMENTS = ("planted_experts", "bandit_zoo", "fleet_routing", "moe_vs_dense")
BOUNDED = settings(max_examples=60, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, 3, 7, 16, -1, 2**31 - 1, 2**31, 2**32, 10**20]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e309, -1e309, 1e-320, 0.5, 1e30]),
    st.text(max_size=8),
    st.sampled_from(["top_k", "switch", "dense", "smoke", "", "none", "null", "Infinity", "NaN", "[1,", "{"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)


def _paths(tree, prefix=""):
    """Every dotted field path of a config dict, leaves and sub-configs alike."""
    out = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out.append(path)
        if isinstance(value, dict):
            out += _paths(value, f"{path}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out += _paths(value[0], f"{path}.")  # not a valid path (lists are set whole): must be refused
    return out


def _raw(value) -> str:
    """How a user might type ``value``: JSON (with Infinity/NaN) or, for strings, bare."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


@pytest.fixture(scope="module")
def experiments():
    return {name: load_experiment(name) for name in EXPERIMENTS}


@BOUNDED
@given(data=st.data())
def test_any_set_value_gives_a_config_or_one_line_config_error(experiments, data):
    name = data.draw(st.sampled_from(EXPERIMENTS), label="experiment")
    exp = experiments[name]
    paths = _paths(to_dict(exp.get_config("smoke")))
    key = data.draw(st.one_of(st.sampled_from(paths), st.text(min_size=1, max_size=6)), label="key")
    raw = data.draw(st.one_of(values.map(_raw), st.text(max_size=10)), label="value")
    try:
        cfg = exp.config("smoke", [f"{key}={raw}"])
    except ConfigError as err:
        assert "\n" not in str(err) and str(err).strip()
        return
    # Accepted: every number in it is finite and bounded, and it round-trips.
    flat = json.dumps(to_dict(cfg), allow_nan=False)
    assert flat
    for number in _numbers(to_dict(cfg)):
        assert math.isfinite(number) if isinstance(number, float) else abs(number) < 2**32


@pytest.mark.parametrize("assignment", ["a\nb=1", "seed\r=1", "variants=x\ny", "task.spread=x\n1"])
def test_a_newline_in_what_was_typed_stays_on_one_line(experiments, assignment):
    with pytest.raises(ConfigError) as err:
        experiments["planted_experts"].config("smoke", [assignment])
    assert "\n" not in str(err.value) and "\r" not in str(err.value)


def _numbers(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _numbers(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _numbers(v)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield tree


# -- routing tables ------------------------------------------------------------------------------

COLUMNS = ["query_id", "model", "prompt", "quality", "cost", "task", "split", "tokens_in", "tokens_out",
           "m1", "m1|total_cost", "m2", "m2|total_cost", "junk"]
cells = st.one_of(
    st.sampled_from(["", "nan", "inf", "-inf", "NaN", "1e309", "0", "1", "0.5", "-0.5", "2", "abc", "m1", "m2",
                     "train", "val", "test", "q1", "q2", "\"quoted, comma\"", "1e-320"]),
    st.integers(min_value=-5, max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
)


@st.composite
def tables(draw):
    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=8, unique=True))
    rows = draw(st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns)), max_size=6))
    return columns, rows


@BOUNDED
@given(table=tables(), layout=st.sampled_from(["long", "wide", "read"]))
def test_any_routing_table_gives_a_log_or_one_line_value_error(tmp_path_factory, table, layout):
    import datasets

    from routerlab.data import load_long_table, load_wide_table, read_table

    columns, rows = table
    path = tmp_path_factory.mktemp("t") / "log.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if columns:
            writer.writerow(columns)
        writer.writerows(rows)
    try:
        if layout == "long":
            result = load_long_table(path)
        elif layout == "wide":
            result = load_wide_table(path, ["m1", "m2"], cost_columns={"m1": "m1|total_cost", "m2": "m2|total_cost"})
        else:
            result = read_table(path)
    except ValueError as err:  # RoutingLogError and the other bad-input errors are ValueErrors
        assert "\n" not in str(err).strip() and str(err).strip(), repr(str(err))
        return
    if layout == "read":
        return
    assert isinstance(result, datasets.Dataset)
    quality = result["quality"]
    cost = result["cost"]
    assert all(0 <= q <= 1 for q in quality) and all(math.isfinite(c) and c >= 0 for c in cost)
