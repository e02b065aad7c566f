"""Initial state compiled at LLVM level 1 (routerlab.runtime.FAST_COMPILE) is the default
compile's, bit for bit: the faster compile changes no parameter a recorded run started from."""

import jax
import numpy as np
import pytest
from flax import nnx

from routerlab.models.config import LMConfig
from routerlab.models.lm import LM
from routerlab.moe import MoEConfig
from routerlab.rng import KeyStreams
from routerlab.train.state import _init_model_fn
from routerlab.train.step import split_model


def _moe(**kw):
    return MoEConfig(**{**dict(num_experts=4, top_k=1, d_model=16, d_ff=16, renormalize=False,
                               capacity_factor=None, dropless_block_size=8), **kw})


@pytest.mark.parametrize("model", [
    LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32),
    LMConfig(d_model=16, n_layers=2, n_heads=2, seq_len=16, d_ff=32, ffn="moe", moe=_moe()),
    LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32, ffn="moe",
             moe=_moe(router="deepseek", num_shared_experts=1, load_balance_weight=0.0)),
], ids=["dense", "switch", "deepseek+shared"])
def test_fast_compiled_init_is_the_default_compiles_bit_for_bit(model):
    def init(key):
        _, params, rest = split_model(LM(model, rngs=nnx.Rngs(params=key)))
        return params, rest

    key = KeyStreams(3)("params")
    want = jax.jit(init)(key)  # XLA's default optimisation level
    got = _init_model_fn(model)(key)
    leaves_want, leaves_got = jax.tree.leaves(want), jax.tree.leaves(got)
    assert len(leaves_want) == len(leaves_got) > 0
    for a, b in zip(leaves_want, leaves_got):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
