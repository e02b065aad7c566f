"""The LM throughput benchmark runs end to end at toy size and returns well-formed rows.

Timings themselves are never asserted: the machine may be shared.
"""

import json
import math

import pytest

from routerlab.bench.lm import bench_lm
from routerlab.config import ConfigError
from routerlab.models import flops_per_token


@pytest.mark.slow  # default-suite budget (2026-12-01): the bench end to end runs in make test-all
def test_bench_lm_rows_are_well_formed():
    rows = bench_lm(d_models=16, ffns=("dense", "moe_top1"), n_layers=1, seq_len=8, batch_size=2, head_dim=8,
                    num_experts=2, num_seeds=2, scan_steps=3, repeats=1, warmup=0, peak_size=64)
    assert [r["case"] for r in rows] == ["dense_d16_single", "moe_top1_d16_single", "dense_d16_vmap", "moe_top1_d16_vmap"]
    for r in rows:
        json.dumps(r)  # one JSON object per case
        assert r["call_ms_min"] <= r["call_ms"] <= r["call_ms_max"]
        vmap = r["mode"] == "vmap"
        assert (r["num_seeds"], r["steps_per_call"]) == ((2, 3) if vmap else (1, 1))
        # tokens per call = seeds x steps x batch x context: 2 x 3 x 2 x 8 = 96 (vmap), 2 x 8 = 16 (single)
        assert r["tokens_per_call"] == (96 if vmap else 16)
        assert math.isclose(r["tokens_per_s"], r["tokens_per_call"] / (r["call_ms"] / 1e3))
        assert math.isclose(r["model_flops_per_s"], r["model_flops_per_token"] * r["tokens_per_s"])
        assert math.isclose(r["mfu"], r["model_flops_per_s"] / r["peak_flops_per_s"])
        assert (r["peak_size"], r["peak_dtype"]) == (64, "float32")
        assert r["repeats"] == 1 and r["jax_version"] and r["devices"] and r["date"]
    dense, moe = rows[0], rows[1]
    assert dense["moe_over_dense"] is None and math.isclose(moe["moe_over_dense"], moe["call_ms"] / dense["call_ms"])
    assert (moe["top_k"], moe["expert_d_ff"], dense["top_k"]) == (1, 64, None)
    # Training FLOPs are 3 x the forward FLOPs per token: dense d=16, 1 layer, T=8, V=128:
    # attention 8*16^2 + 4*8*16 = 2560, FFN 2*2*16*64 = 4096, head 2*16*128 = 4096 -> 10752; x3 = 32256.
    assert dense["model_flops_per_token"] == 3 * 10752 == 3 * flops_per_token_dense()


def flops_per_token_dense():
    from routerlab.bench.lm import lm_case_config

    cfg = lm_case_config("dense", 16, n_layers=1, seq_len=8, head_dim=8, num_experts=2, capacity_factor=1.0)
    return flops_per_token(cfg)["active"]


@pytest.mark.parametrize("field, value", [("ffns", "moe_top3"), ("modes", "pmap"), ("d_models", 0), ("dtype", "fp8")])
def test_bench_lm_rejects_bad_options_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        bench_lm(**{field: value})
