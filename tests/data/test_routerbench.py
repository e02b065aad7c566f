"""RouterBench wide tables, from small fixtures written in tmp_path."""

import numpy as np
import pandas as pd
import pytest

from routerlab.data import RoutingLogError, load_routerbench, to_matrices

GPT = "gpt-4-1106-preview"
LLAMA = "meta/llama-2-70b-chat"


def _routerbench_frame(**overrides) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": ["mmlu.0", "mmlu.1", "mtbench.0"],
            "prompt": ["abcd" * 3, "abcd", "abcd" * 10],
            "eval_name": ["mmlu", "mmlu", "mt-bench"],
            "oracle_model_to_route_to": [LLAMA, GPT, GPT],
            GPT: [1.0, 1.0, 0.9],
            f"{GPT}|model_response": ["A", "B", "x" * 40],
            f"{GPT}|total_cost": [0.0003, 0.0001, 0.002],
            LLAMA: [1.0, 0.0, 0.7],
            f"{LLAMA}|model_response": ["A", None, "y" * 7],
            f"{LLAMA}|total_cost": [0.00003, 0.00001, 0.0002],
        }
        | overrides
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_routerbench_table_to_log(tmp_path, suffix):
    frame, path = _routerbench_frame(), tmp_path / f"rb{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    ds = load_routerbench(path)
    m = to_matrices(ds)
    assert m.models == (GPT, LLAMA) and list(m.query_ids) == ["mmlu.0", "mmlu.1", "mtbench.0"]
    assert list(m.tasks) == ["mmlu", "mmlu", "mt-bench"]
    np.testing.assert_array_equal(m.quality, [[1.0, 1.0], [1.0, 0.0], [0.9, 0.7]])
    np.testing.assert_allclose(m.cost, [[0.0003, 0.00003], [0.0001, 0.00001], [0.002, 0.0002]])
    rows = ds.to_pandas()
    # tokens: ceil(12/4)=3, ceil(4/4)=1, ceil(40/4)=10 in; out "A"->1, missing->0, "y"*7 -> 2.
    assert list(rows["tokens_in"]) == [3, 3, 1, 1, 10, 10]
    assert list(rows["tokens_out"]) == [1, 1, 1, 0, 10, 2]
    assert list(to_matrices(load_routerbench(path, models=[LLAMA])).models) == [LLAMA]


def test_routerbench_pickle_needs_explicit_consent(tmp_path):
    path = tmp_path / "rb.pkl"
    _routerbench_frame().to_pickle(path)  # written by this test, so trusted
    with pytest.raises(ValueError, match="allow_pickle=True only for a file you trust"):
        load_routerbench(path)
    with pytest.warns(UserWarning, match="reading a pickle"):
        ds = load_routerbench(path, allow_pickle=True)
    assert ds.num_rows == 6


def test_routerbench_errors(tmp_path):
    path = tmp_path / "rb.parquet"
    _routerbench_frame(sample_id=["a", "b", "a"]).to_parquet(path)
    with pytest.raises(RoutingLogError, match="row 3, column 'sample_id': duplicate query id 'a'"):
        load_routerbench(path)
    _routerbench_frame(**{LLAMA: [1.0, np.nan, 2.0]}).to_parquet(path)
    with pytest.raises(RoutingLogError, match=rf"row 3, column '{LLAMA}': quality must be in \[0, 1\], got 2.0"):
        load_routerbench(path)
    _routerbench_frame(**{LLAMA: [1.0, np.nan, 0.5]}).to_parquet(path)
    with pytest.raises(RoutingLogError, match=rf"row 2, column '{LLAMA}': missing quality"):
        load_routerbench(path)
    assert list(to_matrices(load_routerbench(path, nan_policy="drop")).query_ids) == ["mmlu.0", "mtbench.0"]
    with pytest.raises(RoutingLogError, match=r"models \['claude'\] have no \|total_cost column"):
        load_routerbench(path, models=["claude"])
    pd.DataFrame({"sample_id": ["a"], "prompt": ["p"]}).to_parquet(path)
    with pytest.raises(RoutingLogError, match="is this a RouterBench table"):
        load_routerbench(path)


def test_routerbench_split_column_is_honoured_and_checked(tmp_path):
    path = tmp_path / "rb.csv"
    _routerbench_frame(split=["test", "train", "val"]).to_csv(path, index=False)
    assert list(to_matrices(load_routerbench(path)).splits) == ["test", "train", "val"]
    _routerbench_frame(split=["test", "Train", "val"]).to_csv(path, index=False)
    with pytest.raises(RoutingLogError, match=r"row 2, column 'split': unknown split label 'Train'"):
        load_routerbench(path)
