"""The routing-log schema: errors, prices, splits, validation and the dense matrix view."""

import hashlib

import numpy as np
import pytest

from routerlab.data import (
    PriceTable,
    RoutingLogError,
    approx_tokens,
    assign_splits,
    build_log,
    load_log,
    to_matrices,
    validate_log,
)


def _log(**overrides):
    """Two queries x two models, query-major; overrides replace whole columns."""
    columns = {
        "query_id": ["q1", "q1", "q2", "q2"],
        "split": ["train", "train", "test", "test"],
        "task": ["math", "math", "law", "law"],
        "prompt": ["1+1?", "1+1?", "tort?", "tort?"],
        "model": ["small", "big", "small", "big"],
        "quality": [0.0, 1.0, 0.5, 0.75],
        "cost": [0.001, 0.01, 0.002, 0.02],
        "tokens_in": [3, 3, 5, 5],
        "tokens_out": [1, 1, 2, 2],
    }
    return columns | overrides


def test_error_message_names_file_row_and_column():
    err = RoutingLogError("data.csv", "not a number ('abc')", row=17, column="quality")
    assert str(err) == "data.csv: row 17, column 'quality': not a number ('abc')"
    assert isinstance(err, ValueError) and (err.row, err.column) == (17, "quality")
    assert str(RoutingLogError("data.csv", "empty file")) == "data.csv: empty file"


def test_approx_tokens_is_ceil_of_chars_over_four():
    assert [approx_tokens(t) for t in ("", "abcd", "abcde", "x" * 401)] == [0, 1, 2, 101]


def test_price_table_units_and_errors():
    per_1k = PriceTable({"m": (1.0, 2.0)}, per=1_000)
    per_1m = PriceTable({"m": (1000.0, 2000.0)})
    # 1000 tokens in at $1/1K + 500 out at $2/1K = 1 + 1 = $2.
    assert per_1k.cost("m", 1000, 500) == pytest.approx(2.0)
    np.testing.assert_allclose(per_1m.cost("m", np.array([1000, 0]), np.array([500, 1])), [2.0, 0.002])
    assert "m" in per_1k and per_1k.models == ("m",)
    with pytest.raises(ValueError, match="model 'bad': output price must be finite and >= 0, got -1"):
        PriceTable({"ok": (1, 1), "bad": (1, -1)})
    with pytest.raises(ValueError, match="model 'nan'"):
        PriceTable({"nan": (float("nan"), 1)})
    with pytest.raises(ValueError, match=r"no price for model 'gpt-5'; the price table covers \['m'\]"):
        per_1k.cost("gpt-5", 1, 1)


def test_assign_splits_is_a_stable_hash_of_id_and_seed():
    ids = [f"q{i}" for i in range(8)]
    # u(q0, seed 0) = blake2b("0:q0") / 2**64 = 0.888..., in [0.8, 0.9) -> "val".
    u = int.from_bytes(hashlib.blake2b(b"0:q0", digest_size=8).digest(), "big") / 2**64
    assert 0.8 <= u < 0.9
    assert list(assign_splits(ids, seed=0)) == ["val", "train", "train", "train", "test", "train", "train", "train"]
    assert list(assign_splits(ids, seed=1)) == ["train", "train", "train", "train", "test", "test", "train", "test"]
    # One id's split does not depend on the others or their order.
    assert list(assign_splits(ids[::-1], seed=0)) == list(assign_splits(ids, seed=0))[::-1]
    assert assign_splits(["q4"], seed=0)[0] == "test"


def test_assign_splits_fractions():
    splits = assign_splits([f"id-{i}" for i in range(20_000)], seed=3, fractions=(0.6, 0.3, 0.1))
    shares = [np.mean(splits == s) for s in ("train", "val", "test")]
    np.testing.assert_allclose(shares, [0.6, 0.3, 0.1], atol=0.015)
    assert set(assign_splits(["a", "b", "c"], seed=0, fractions=(1, 0, 0))) == {"train"}
    with pytest.raises(ValueError, match="summing to 1"):
        assign_splits(["a"], seed=0, fractions=(0.5, 0.2, 0.2))


def test_build_log_round_trips_through_disk_and_parquet(tmp_path):
    ds = build_log(_log(latency_s=[0.5, None, 1.0, 2.0]))
    assert ds.num_rows == 4 and ds[1]["latency_s"] is None and ds[0]["latency_s"] == 0.5
    ds.save_to_disk(str(tmp_path / "log"))
    ds.to_parquet(str(tmp_path / "log.parquet"))
    for path in (tmp_path / "log", tmp_path / "log.parquet"):
        back = load_log(path)
        assert back.features == ds.features and back.to_pandas().equals(ds.to_pandas())


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"quality": [0.0, 1.5, 0.5, 0.75]}, "row 2, column 'quality': must be in [0, 1], got 1.5"),
        ({"cost": [0.001, 0.01, -0.1, 0.02]}, "row 3, column 'cost': must be finite and >= 0, got -0.1"),
        ({"tokens_out": [1, -1, 2, 2]}, "row 2, column 'tokens_out': must be >= 0, got -1"),
        (
            {"model": ["small", "big", "small", "small"]},
            "row 4, column 'model': duplicate (query_id, model) pair ('q2', 'small')",
        ),
        ({"query_id": ["q1", "q1", "", ""]}, "row 3, column 'query_id': empty string"),
    ],
)
def test_validate_log_locates_the_first_bad_row(overrides, message):
    with pytest.raises(RoutingLogError) as info:
        build_log(_log(**overrides), source="mylog")
    assert str(info.value) == f"mylog: {message}"


def test_validate_log_requires_every_column():
    ds = build_log(_log()).remove_columns(["cost"])
    with pytest.raises(RoutingLogError, match=r"missing schema columns \['cost'\]"):
        validate_log(ds)


def test_to_matrices_pivots_in_first_appearance_order():
    order = [3, 0, 2, 1]  # big/q2, small/q1, small/q2, big/q1
    ds = build_log({k: [v[i] for i in order] for k, v in _log().items()})
    m = to_matrices(ds)
    assert list(m.query_ids) == ["q2", "q1"] and m.models == ("big", "small")
    np.testing.assert_array_equal(m.quality, [[0.75, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(m.cost, [[0.02, 0.002], [0.01, 0.001]])
    assert list(m.tasks) == ["law", "math"] and list(m.splits) == ["test", "train"]
    chosen = to_matrices(ds, models=["small", "big"])
    np.testing.assert_array_equal(chosen.quality, [[0.5, 0.75], [0.0, 1.0]])
    train = chosen.take(chosen.splits == "train")
    assert list(train.query_ids) == ["q1"] and train.quality.shape == (1, 2)


def test_to_matrices_reports_missing_and_inconsistent_rows():
    full = _log()
    holed = build_log({k: v[:3] for k, v in full.items()})
    with pytest.raises(RoutingLogError, match="query 'q2' has no row for model 'big'"):
        to_matrices(holed)
    mixed = build_log(_log(task=["math", "algebra", "law", "law"]))
    with pytest.raises(
        RoutingLogError, match=r"row 2, column 'task': query 'q1' has task 'algebra' here but 'math' in row 1"
    ):
        to_matrices(mixed)
    with pytest.raises(RoutingLogError, match=r"models \['huge'\] do not appear"):
        to_matrices(build_log(full), models=["huge"])


def test_to_matrices_rejects_duplicate_pairs_in_unvalidated_logs():
    import datasets

    from routerlab.data import FEATURES

    columns = _log(model=["small", "big", "big", "big"], latency_s=[None] * 4)
    with pytest.raises(
        RoutingLogError, match=r"row 4, column 'model': duplicate \(query_id, model\) pair \('q2', 'big'\)"
    ):
        to_matrices(datasets.Dataset.from_dict(columns, features=FEATURES))
