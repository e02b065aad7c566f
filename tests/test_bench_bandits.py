"""The bandit benchmark runs end to end at toy size and its cases agree with each other.

Timings themselves are never asserted: the machine may be shared.
"""

import json

import numpy as np
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
    # ... and, on this short stream, choose the same arm in every round (no near tie in 32
    # rounds of 3 arms); the float32 numpy loop chooses them too, so its regret is the same.
    single = by["routerlab_single"]
    assert single["agree_until"] == 32 and single["agree_fraction"] == 1.0
    assert single["numpy_top2_gap_at_divergence"] is None
    assert by["numpy_sm"]["final_regret_float32"] == pytest.approx(by["numpy_sm"]["final_regret"], rel=1e-5)


def test_agreement_fields_by_hand():
    from routerlab.bench.bandits import agreement

    # Arms agree on rounds 0-2 and first differ at round 3: agree_until = 3, 3 / 5 = 0.6,
    # and the reference's top-two gap at round 3 (0.25) is reported.
    out = agreement([1, 0, 2, 2, 1], [1, 0, 2, 0, 1], np.array([0.5, 0.1, 0.3, 0.25, 0.0]))
    assert out == {"agree_until": 3, "agree_fraction": 0.6, "numpy_top2_gap_at_divergence": 0.25}
    same = agreement([1, 0], [1, 0], np.array([0.5, 0.1]))
    assert same == {"agree_until": 2, "agree_fraction": 1.0, "numpy_top2_gap_at_divergence": None}


def test_numpy_loop_records_what_it_plays():
    from routerlab.bench.bandits import _numpy_linucb

    # Two arms, d = 1, contexts x = 1: round 0 ties (both scores 0 + sqrt(1) = 1, gap 0)
    # and argmax takes arm 0; arm 0 then has A = 2, b = r = 1, theta = 0.5, width
    # sqrt(1/2) = 0.7071, score 1.2071 > arm 1's 1: round 1 plays arm 0 with gap 0.2071.
    X = np.ones((2, 1))
    R = np.array([[1.0, 0.0], [1.0, 0.0]])
    M = np.array([[1.0, 0.0], [0.0, 1.0]])  # regret: round 0 = 0, round 1 = 1 - 0 = 1
    regret, arms, gaps = _numpy_linucb(X, R, M, 2, record=True)
    assert regret == pytest.approx(1.0) and arms.tolist() == [0, 0]
    np.testing.assert_allclose(gaps, [0.0, 0.5 + np.sqrt(0.5) - 1.0], atol=1e-12)


def test_bench_bandits_rejects_a_bad_seed_batch():
    with pytest.raises(ConfigError, match="seed_batch"):
        bench_bandits(rounds=8, seeds=4, seed_batch=5, repeats=1)
