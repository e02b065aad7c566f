"""The toy LM: shapes, causality, dense/MoE wiring, config validation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from routerlab.config import ConfigError, from_dict, override
from routerlab.models import LM, LMConfig
from routerlab.moe import MoEConfig

TINY = dict(vocab_size=128, d_model=32, n_layers=2, n_heads=2, seq_len=16, d_ff=64)


def moe_cfg(**kw) -> LMConfig:
    moe = dict(d_model=32, d_ff=32, num_experts=4, top_k=2)
    moe.update(kw.pop("moe", {}))
    return LMConfig(**TINY, ffn="moe", moe=MoEConfig(**moe), **kw)


@functools.lru_cache
def _compiled(cfg: LMConfig, seed: int):
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: LM(cfg, rngs=nnx.Rngs(seed))))
    state = jax.jit(lambda: nnx.split(LM(cfg, rngs=nnx.Rngs(seed)))[1])()
    return graphdef, state, jax.jit(lambda s, t, k: nnx.merge(graphdef, s)(t, key=k))


def build(cfg: LMConfig, seed: int = 0):
    """``(model, forward)``: a fresh model initialised by one compiled program (compiles
    are slow on shared CPUs, so each config compiles once per module), and a jitted
    ``forward(state, tokens, key) -> (logits, aux)`` over its state."""
    graphdef, state, forward = _compiled(cfg, seed)
    return nnx.merge(graphdef, state), forward


@pytest.mark.parametrize("cfg", [
    LMConfig(**TINY),
    moe_cfg(moe_every=2, positions="learned", tie_embeddings=False, dtype="bfloat16",
            moe={"noise": "gaussian", "noise_eps": 1.0}),
], ids=["dense", "moe-bf16-noisy"])
def test_logits_are_causal_float32_finite_and_keyed(cfg):
    tokens = jax.random.randint(jax.random.key(0), (2, 16), 0, 128)
    changed = tokens.at[:, 9:].set((tokens[:, 9:] + 1) % 128)
    model, forward = build(cfg)
    state, key = nnx.state(model), jax.random.key(1)
    (a, aux), (b, _) = forward(state, tokens, key), forward(state, changed, key)
    assert a.shape == (2, 16, 128) and a.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(a)))
    np.testing.assert_array_equal(a[:, :9], b[:, :9])  # the past never sees the future
    assert not np.allclose(a[:, 9:], b[:, 9:])
    assert sorted(aux) == list(cfg.moe_layers)
    # The key only feeds router noise: a dense model ignores it, a noisy MoE does not.
    again, other = forward(state, tokens, key)[0], forward(state, tokens, jax.random.key(2))[0]
    np.testing.assert_array_equal(a, again)
    assert np.array_equal(a, other) == (cfg.ffn == "dense")


def test_encoder_sees_the_future_and_the_decoder_does_not():
    # Changing only the last byte: a bidirectional encoder's earlier outputs change (its
    # attention is unmasked), a causal decoder's do not. (The token-mixing MoE layers of an
    # encoder run in tests/moe and in the encoder_routers smoke study.)
    tokens = jax.random.randint(jax.random.key(0), (2, 16), 0, 128)
    changed = tokens.at[:, 15].set((tokens[:, 15] + 1) % 128)
    for cfg, sees_future in ((LMConfig(**TINY, causal=False), True), (LMConfig(**TINY), False)):
        model, forward = build(cfg)
        (a, _), (b, _) = forward(nnx.state(model), tokens, None), forward(nnx.state(model), changed, None)
        assert bool(jnp.all(jnp.isfinite(a)))
        assert (not np.allclose(a[:, :15], b[:, :15])) == sees_future
        if sees_future:
            assert not np.allclose(a[:, 0], b[:, 0])  # even the first position sees the last byte


def test_moe_every_places_moe_blocks():
    assert moe_cfg(moe_every=1).moe_layers == (0, 1)
    assert moe_cfg(moe_every=2).moe_layers == (1,)
    assert LMConfig(**TINY).moe_layers == ()
    model = nnx.eval_shape(lambda: LM(moe_cfg(moe_every=2), rngs=nnx.Rngs(0)))
    assert model.layers[0].ffn.w_in.shape == (32, 64)  # dense DenseFFN
    assert model.layers[1].ffn.w_in.shape == (4, 32, 32)  # experts


def test_one_expert_moe_equals_the_dense_model():
    # With one expert, top-1 and no renormalisation the gate is softmax([x]) = 1: the MoE
    # block computes exactly the dense FFN with the same weights.
    dense = LMConfig(**TINY)
    moe = LMConfig(**TINY, ffn="moe", moe=MoEConfig(d_model=32, d_ff=64, num_experts=1, top_k=1, renormalize=False))
    a, forward_a = build(dense)
    source = {path: v[...] for path, v in nnx.to_flat_state(nnx.state(a))}
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: LM(moe, rngs=nnx.Rngs(0))))
    values = {}
    for path, v in nnx.to_flat_state(abstract):
        if path[-1] == "router":
            values[path] = jnp.zeros(v.shape, v.dtype)
        elif path[-1] in ("w_in", "w_out"):
            values[path] = source[path][None]  # the dense FFN as the single expert
        else:
            values[path] = source[path]
    state = jax.tree.map(lambda v: v, abstract)
    for path, v in nnx.to_flat_state(state):
        v.set_value(values[path])
    tokens = jax.random.randint(jax.random.key(1), (2, 16), 0, 128)
    la, _ = forward_a(nnx.state(a), tokens, None)
    lb, aux = jax.jit(lambda s, t: nnx.merge(graphdef, s)(t))(state, tokens)
    np.testing.assert_allclose(la, lb, rtol=1e-5, atol=1e-5)
    assert float(aux[0].load[0]) == 1.0


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="^moe: ffn='moe' needs a moe config"):
        LMConfig(**TINY, ffn="moe")
    with pytest.raises(ConfigError, match="^moe: is set but ffn is 'dense'"):
        LMConfig(**TINY, moe=MoEConfig(d_model=32))
    with pytest.raises(ConfigError, match=r"^moe.d_model: must equal d_model \(32\); got 64"):
        LMConfig(**TINY, ffn="moe", moe=MoEConfig(d_model=64))
    with pytest.raises(ConfigError, match="^moe_every: must be <= n_layers"):
        moe_cfg(moe_every=3)
    with pytest.raises(ConfigError, match="^n_heads: must divide d_model"):
        LMConfig(**(TINY | {"n_heads": 5}))
    with pytest.raises(ConfigError, match="^moe.router: this is a causal decoder"):
        moe_cfg(moe={"router": "expert_choice", "capacity_factor": 1.0})
    assert not moe_cfg(causal=False, moe={"router": "expert_choice", "capacity_factor": 1.0}).causal  # an encoder may
    with pytest.raises(ConfigError, match="^model.moe.d_model"):
        # nested: from_dict prefixes the parent's path
        from_dict(_Wrapper, {"model": {"ffn": "moe", "moe": {"d_model": 8}}})
    # Switching MoE on from the command line.
    on = override(LMConfig(d_model=64), ["ffn=moe", 'moe={"num_experts": 4}', "moe_every=2"])
    assert on.moe.num_experts == 4 and on.moe_layers == (1,)


from dataclasses import dataclass, field  # noqa: E402


@dataclass(frozen=True)
class _Wrapper:
    model: LMConfig = field(default_factory=LMConfig)


def test_sequence_longer_than_seq_len_is_refused():
    model = nnx.eval_shape(lambda: LM(LMConfig(**TINY), rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match="seq_len"):
        model(jnp.zeros((1, 17), jnp.int32))
