"""The sweep's evaluation in fixed-size calls (lm_sweep._evaluate) against the obvious
reference, one call over every batch: the same numbers, bit for bit, for split sizes below, at
and above the chunk, so a config compiles one evaluation program whatever its splits' sizes."""

from dataclasses import replace

import jax
import numpy as np
import pytest

from routerlab.models.config import LMConfig
from routerlab.moe import MoEConfig
from routerlab.studies import lm_sweep
from routerlab.train.config import LMRunConfig, TrainConfig
from routerlab.train.objective import eval_mask_keys
from routerlab.train.state import init_state

MOE = MoEConfig(num_experts=4, top_k=1, d_model=16, d_ff=16, renormalize=False, capacity_factor=None,
                dropless_block_size=8)
CFG = LMRunConfig(model=LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32, ffn="moe", moe=MOE,
                                 causal=False),
                  train=TrainConfig(steps=4, batch_size=4, warmup_steps=1, objective="masked"))


@pytest.mark.parametrize("count", [1, lm_sweep.EVAL_CHUNK, lm_sweep.EVAL_CHUNK + 1, 2 * lm_sweep.EVAL_CHUNK + 3])
def test_chunked_evaluation_is_one_call_over_every_batch(count):
    fn = lm_sweep._eval_fn(CFG.model, lm_sweep._eval_config(CFG.train))
    state = lm_sweep._stack([init_state(replace(CFG, seed=s)) for s in (0, 1)])
    batches = np.random.default_rng(count).integers(0, 120, (count, 4, 17)).astype(np.int32)
    want = jax.device_get(fn(state.params, state.rest, batches, eval_mask_keys(count)))  # masks: key i per batch i
    got = lm_sweep._evaluate(fn, state, batches)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.shape[:2] == (2, count)
        np.testing.assert_array_equal(a, np.asarray(b))
