"""User tables (CSV, JSON Lines, Parquet), long and wide, and their located errors."""

import numpy as np
import pandas as pd
import pytest

from routerlab.data import PriceTable, RoutingLogError, load_long_table, load_wide_table, read_table, to_matrices

PRICES = PriceTable({"small": (1.0, 2.0), "big": (10.0, 20.0)}, per=1_000)


def _write(frame: pd.DataFrame, path):
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


def _long_frame(**overrides):
    return pd.DataFrame(
        {
            "id": ["007", "007", "008", "008"],
            "text": ["hi", "hi", "bye now", "bye now"],
            "model": ["small", "big", "small", "big"],
            "score": [0.0, 1.0, 1.0, 1.0],
            "tokens_in": [100, 100, 200, 200],
            "tokens_out": [10, 10, 20, 20],
        }
        | overrides
    )


LONG_COLUMNS = {"query_id": "id", "prompt": "text", "quality": "score"}


def test_long_csv_with_price_table(tmp_path):
    path = _write(_long_frame(), tmp_path / "log.csv")
    ds = load_long_table(path, columns=LONG_COLUMNS, prices=PRICES)
    rows = ds.to_pandas()
    assert list(rows["query_id"]) == ["007", "007", "008", "008"]  # ids kept verbatim, not parsed as 7
    # small on 007: 100 in * $1/1K + 10 out * $2/1K = 0.1 + 0.02 = 0.12
    # big on 008:   200 in * $10/1K + 20 out * $20/1K = 2.0 + 0.4 = 2.4
    np.testing.assert_allclose(rows["cost"], [0.12, 1.2, 0.24, 2.4])
    assert set(rows["task"]) == {"all"} and rows["latency_s"].isna().all()
    assert set(rows["split"]) <= {"train", "val", "test"}
    np.testing.assert_array_equal(to_matrices(ds).quality, [[0.0, 1.0], [1.0, 1.0]])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_long_formats_agree_with_cost_split_and_latency_columns(tmp_path, suffix):
    frame = _long_frame(cost=[0.5, 1.5, 0.5, 1.5], split=["val"] * 4, latency_s=[0.25, None, 1.0, 2.0], task=["a"] * 4)
    ds = load_long_table(_write(frame, tmp_path / f"log{suffix}"), columns=LONG_COLUMNS)
    rows = ds.to_pandas()
    np.testing.assert_allclose(rows["cost"], [0.5, 1.5, 0.5, 1.5])
    assert list(rows["split"]) == ["val"] * 4 and list(rows["task"]) == ["a"] * 4
    np.testing.assert_allclose(rows["latency_s"], [0.25, np.nan, 1.0, 2.0])


def _error(path, **kwargs) -> str:
    loader = kwargs.pop("loader", load_long_table)
    with pytest.raises(RoutingLogError) as info:
        loader(path, **kwargs)
    return str(info.value)


def test_long_table_errors_name_file_row_and_column(tmp_path):
    def write(**overrides):
        return _write(_long_frame(**overrides), tmp_path / "data.csv")

    kw = {"columns": LONG_COLUMNS, "prices": PRICES}
    path = write(score=["0", "1", "abc", "1"])
    assert _error(path, **kw) == f"{path}: row 3, column 'score': not a number ('abc')"
    path = write(score=[0.0, 1.5, 1.0, 1.0])
    assert _error(path, **kw) == f"{path}: row 2, column 'score': quality must be in [0, 1], got 1.5"
    path = write(model=["small", "big", "small", "huge"])
    assert _error(path, **kw) == (
        f"{path}: row 4, column 'model': model 'huge' is not in the price table (it covers ['big', 'small'])"
    )
    path = write(model=["small", "big", "big", "big"])
    assert _error(path, **kw) == f"{path}: row 4, column 'model': duplicate row for query '008' and model 'big'"
    path = write(tokens_out=[10, 10, -20, 20])
    assert _error(path, **kw) == f"{path}: row 3, column 'tokens_out': must be a non-negative integer, got -20.0"
    path = write()
    assert _error(path, prices=PRICES) == (
        f"{path}: column 'query_id': missing column (columns present: {list(_long_frame().columns)})"
    )
    assert _error(path, columns=LONG_COLUMNS) == (
        f"{path}: column 'cost': missing column and no price table given to compute costs"
    )
    path = write(cost=[0.1, -0.2, 0.1, 0.1])
    assert _error(path, columns=LONG_COLUMNS) == f"{path}: row 2, column 'cost': cost must be finite and >= 0, got -0.2"
    assert _error(path, columns=LONG_COLUMNS, prices=PRICES) == (
        f"{path}: column 'cost': the table has costs and a price table was given too; drop the price table "
        "(or the column)"
    )
    with pytest.raises(ValueError, match=r"unknown schema fields \['score'\]"):
        load_long_table(path, columns={"score": "quality"})


def test_nan_quality_policies(tmp_path):
    path = _write(_long_frame(score=[0.0, None, 1.0, 1.0]), tmp_path / "data.csv")
    kw = {"columns": LONG_COLUMNS, "prices": PRICES}
    assert _error(path, **kw) == (
        f"{path}: row 2, column 'score': missing quality (NaN); allow it with nan_policy 'drop' or 'zero' "
        "(route-eval: --nan-policy)"
    )
    zero = load_long_table(path, nan_policy="zero", **kw).to_pandas()
    assert list(zero["quality"]) == [0.0, 0.0, 1.0, 1.0]
    dropped = load_long_table(path, nan_policy="drop", **kw).to_pandas()
    assert list(dropped["query_id"]) == ["008", "008"]  # the whole query goes, so matrices stay dense
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        load_long_table(path, nan_policy="ignore", **kw)


def _wide_frame(**overrides):
    return pd.DataFrame(
        {
            "query_id": ["a", "b", "c"],
            "prompt": ["x" * 8, "y" * 9, "z"],
            "task": ["t1", "t1", "t2"],
            "small": [1, 0, 0],
            "big": [1.0, 1.0, 0.5],
            "small_cost": [0.1, 0.1, 0.1],
            "big_cost": [1.0, 2.0, 3.0],
            "small_out": [1, 2, 3],
            "big_out": [4, 5, 6],
        }
        | overrides
    )


WIDE_COSTS = {"small": "small_cost", "big": "big_cost"}
WIDE_TOKENS = {"small": "small_out", "big": "big_out"}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_wide_table_with_cost_columns(tmp_path, suffix):
    ds = load_wide_table(_write(_wide_frame(), tmp_path / f"w{suffix}"), ["small", "big"], cost_columns=WIDE_COSTS)
    m = to_matrices(ds)
    assert list(m.query_ids) == ["a", "b", "c"] and m.models == ("small", "big") and list(m.tasks) == ["t1", "t1", "t2"]
    np.testing.assert_array_equal(m.quality, [[1, 1], [0, 1], [0, 0.5]])
    np.testing.assert_array_equal(m.cost, [[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])
    rows = ds.to_pandas()
    # tokens_in = ceil(len(prompt) / 4): 8 -> 2, 9 -> 3, 1 -> 1; tokens_out unknown -> 0.
    assert list(rows["tokens_in"]) == [2, 2, 3, 3, 1, 1] and set(rows["tokens_out"]) == {0}


def test_wide_table_with_price_table_and_renamed_models(tmp_path):
    path = _write(_wide_frame(), tmp_path / "w.csv")
    ds = load_wide_table(
        path, {"small": "small", "big": "big"}, prices=PRICES, tokens_out_columns=WIDE_TOKENS, columns={"task": "none"}
    )
    rows = ds.to_pandas()
    # query a, big: 2 tokens in * $10/1K + 4 out * $20/1K = 0.02 + 0.08 = 0.10
    assert rows["cost"].iloc[1] == pytest.approx(0.10)
    assert set(rows["task"]) == {"all"}  # the mapped task column is absent


def test_wide_table_errors(tmp_path):
    path = _write(_wide_frame(query_id=["a", "b", "a"]), tmp_path / "w.csv")
    assert _error(path, loader=load_wide_table, models=["small", "big"], cost_columns=WIDE_COSTS) == (
        f"{path}: row 3, column 'query_id': duplicate query id 'a'"
    )
    path = _write(_wide_frame(), tmp_path / "w.csv")
    assert _error(path, loader=load_wide_table, models=["small", "huge"], cost_columns=WIDE_COSTS) == (
        f"{path}: column 'huge': missing column (columns present: {list(_wide_frame().columns)})"
    )
    message = _error(
        path,
        loader=load_wide_table,
        models={"small": "small", "gpt": "big"},
        prices=PRICES,
        tokens_out_columns=WIDE_TOKENS,
    )
    assert message == f"{path}: column 'big': model 'gpt' is not in the price table (it covers ['big', 'small'])"
    with pytest.raises(ValueError, match="exactly one of cost_columns or prices"):
        load_wide_table(path, ["small"])
    with pytest.raises(ValueError, match="needs its column in tokens_out_columns"):
        load_wide_table(path, ["small"], prices=PRICES)
    path = _write(_wide_frame(big=[1.0, None, 0.5]), tmp_path / "w.csv")
    dropped = load_wide_table(path, ["small", "big"], cost_columns=WIDE_COSTS, nan_policy="drop")
    assert list(to_matrices(dropped).query_ids) == ["a", "c"]


def test_read_table_rejects_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="unsupported table format '.xlsx'"):
        read_table(tmp_path / "x.xlsx")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_unknown_split_label_is_refused_naming_row_and_value(tmp_path, suffix):
    # "Train" is not "train": such rows used to vanish from every split.
    path = _write(_long_frame(cost=[0.5, 1.5, 0.5, 1.5], split=["train", "train", "Train", "Train"]),
                  tmp_path / f"log{suffix}")
    assert _error(path, columns=LONG_COLUMNS) == (
        f"{path}: row 3, column 'split': unknown split label 'Train'; use one of train, val, test (lower case)"
    )
    wide = _write(pd.DataFrame({"query_id": ["a", "b"], "prompt": ["x", "y"], "m": [1.0, 0.0], "c": [0.1, 0.1],
                                "split": ["test", "validation"]}), tmp_path / f"wide{suffix}")
    message = _error(wide, loader=load_wide_table, models=["m"], cost_columns={"m": "c"})
    assert message.startswith(f"{wide}: row 2, column 'split': unknown split label 'validation'")


def test_empty_header_only_and_repeated_columns_are_named(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert _error(empty, columns=LONG_COLUMNS) == f"{empty}: empty file (no header, no rows)"
    header = tmp_path / "header.csv"
    header.write_text("id,text,model,score,cost\n")
    assert _error(header, columns=LONG_COLUMNS) == (
        f"{header}: no data rows (header only: ['id', 'text', 'model', 'score', 'cost'])"
    )
    twice = tmp_path / "twice.csv"
    twice.write_text("id,text,model,score,score,cost\n1,a,m,1,0,0.1\n")
    assert _error(twice, columns=LONG_COLUMNS) == (
        f"{twice}: column 'score': column name appears twice in the header (positions 4 and 5)"
    )
    jsonl = tmp_path / "twice.jsonl"
    jsonl.write_text('{"id": 1, "score": 1}\n{"id": 2, "score": 1, "score": 0}\n')
    assert _error(jsonl, columns=LONG_COLUMNS) == f"{jsonl}: row 2, column 'score': key appears twice in the record"


def test_example_table_is_a_valid_wide_table(tmp_path):
    from routerlab.data.table import example_table

    frame = example_table(n=600, seed=1)
    assert list(frame.columns[:3]) == ["query_id", "prompt", "task"] and len(frame) == 600
    path = _write(frame, tmp_path / "example.csv")
    models = ["small-math", "small-code", "large"]
    m = to_matrices(load_wide_table(path, models, cost_columns={k: f"{k}|cost" for k in models}))
    math_rows = m.tasks == "math"
    # small-math is right on ~90% of math and ~20% elsewhere; large on ~80% of everything.
    assert m.quality[math_rows, 0].mean() == pytest.approx(0.9, abs=0.07)
    assert m.quality[~math_rows, 0].mean() == pytest.approx(0.2, abs=0.07)
    assert m.quality[:, 2].mean() == pytest.approx(0.8, abs=0.05)
    np.testing.assert_allclose(m.cost[:, 2] / m.cost[:, 0], 10.0)  # ten times the price per character
