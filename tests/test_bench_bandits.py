"""The bandit benchmark runs end to end at toy size and its cases agree with each other.

Timings themselves are never asserted: the machine may be shared.
"""

import json

import pytest

from routerlab.bench.bandits import bench_bandits
from routerlab.config import ConfigError


def test_bench_bandits_cases_play_the_same_stream():
    records = bench_bandits(rounds=32, arms=3, dim=2, seeds=4, seed_batch=2, repeats=1)
    by = {r["case"]: r for r in records}
    for name in ("routerlab_single", "routerlab_vmap", "routerlab_seed_batched", "numpy_sm"):
        json.dumps(by[name])
        assert by[name]["rounds_per_s"] > 0 and by[name]["speedup_vs_numpy"] > 0
    # The seed-batched case is the vmap case run 2 seeds at a time: the same numbers.
    assert by["routerlab_seed_batched"]["final_regret"] == pytest.approx(by["routerlab_vmap"]["final_regret"], rel=1e-6)
    assert by["routerlab_seed_batched"]["seed_batch"] == 2 and by["routerlab_vmap"]["seeds"] == 4
    # routerlab's single stream (seed 0) and the float64 numpy loop play the identical stream.
    assert by["routerlab_single"]["final_regret"] == pytest.approx(by["numpy_sm"]["final_regret"], rel=1e-3, abs=1e-3)


def test_bench_bandits_rejects_a_bad_seed_batch():
    with pytest.raises(ConfigError, match="seed_batch"):
        bench_bandits(rounds=8, seeds=4, seed_batch=5, repeats=1)
