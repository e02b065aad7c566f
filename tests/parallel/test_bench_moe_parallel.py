"""The expert-parallel benchmark runs at toy size and returns well-formed records (timings are
never asserted: the machine may be shared)."""

import json
import math

import pytest

from routerlab.bench.moe_parallel import FAKE_CPU_NOTE, bench_moe_parallel


def _check(records, counts, cases):
    assert [(r["case"], r["ep_devices"]) for r in records] == [(c, n) for c in cases for n in counts]
    for r in records:
        json.dumps(r)
        assert r["ep_ms"] > 0 and r["local_ms"] > 0 and 0 <= r["a2a_share"] < 1
        assert r["num_tokens"] == 32 * r["ep_devices"] and r["note"] == FAKE_CPU_NOTE
    assert all(math.isclose(r["weak_scaling_efficiency"], 1.0) for r in records if r["ep_devices"] == 1)
    rows = {"capacity_1.0_local": -(-32 * 2 // records[0]["num_experts"]), "dropless": 32}
    assert [r["buffer_rows"] for r in records] == [rows[r["case"]] for r in records]


def test_bench_moe_parallel_records():
    kw = dict(tokens_per_device=32, d_model=16, d_ff=16, num_experts=4, capacity_factors=(1.0,),
              repeats=1, warmup=0)
    _check(bench_moe_parallel(devices=2, **kw), [1, 2], ["capacity_1.0_local"])


@pytest.mark.slow
def test_bench_moe_parallel_reexecs_with_more_fake_devices():
    kw = dict(tokens_per_device=32, d_model=16, d_ff=16, num_experts=16, capacity_factors=(1.0, None),
              repeats=1, warmup=0)
    records = bench_moe_parallel(devices=16, **kw)  # this process has 8: runs in a subprocess
    _check(records, [1, 2, 4, 8, 16], ["capacity_1.0_local", "dropless"])
