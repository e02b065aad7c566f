"""The MoE benchmark runs end to end at toy size and returns well-formed records.

Timings themselves are never asserted: the machine may be shared.
"""

import pytest

import json
import math

from routerlab.bench.moe import bench_moe


@pytest.mark.slow  # default-suite budget (2026-12-01): the bench end to end runs in make test-all
def test_bench_moe_records_are_well_formed():
    records = bench_moe(repeats=1, warmup=0, num_tokens=256, d_model=32, d_ff=64)
    assert [r["case"] for r in records] == [
        "capacity_1.0", "capacity_1.25", "dropless_blocks", "dropless_ragged_dot"
    ]
    for r in records:
        json.dumps(r)  # one JSON object per case
        assert r["moe_ms"] > 0 and r["dense_ms"] > 0
        assert math.isclose(r["ratio"], r["moe_ms"] / r["dense_ms"])
        assert r["moe_buffer_flops"] >= r["moe_flops"] > r["dense_flops"]
        assert 0.0 <= r["dropped_fraction"] <= 1.0
        assert (r["num_tokens"], r["d_model"], r["d_ff"], r["dense_d_ff"]) == (256, 32, 64, 128)
        assert r["repeats"] == 1 and r["jax_version"] and r["devices"]
    assert records[2]["dropped_fraction"] == records[3]["dropped_fraction"] == 0.0
