"""MoELayer against a slow dense reference, plus NNX plumbing, causality, sizes and config checks."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from routerlab.config import ConfigError, from_dict, override
from routerlab.moe import (
    CausalLeakError,
    DenseFFN,
    MoEConfig,
    MoELayer,
    RouterBias,
    causal_leak,
    matched_dense_d_ff,
    moe_flops_per_token,
    moe_param_count,
    param_count,
)
from routerlab.moe.layer import ACTIVATIONS

D, F, E = 8, 16, 4
BASE = dict(num_experts=E, d_model=D, d_ff=F)


def _layer(seed=0, **kw):
    return MoELayer(MoEConfig(**{**BASE, **kw}), rngs=nnx.Rngs(seed))


def _x(shape=(2, 6), seed=1):
    return jax.random.normal(jax.random.key(seed), (*shape, D))


# ---------------------------------------------------------------------------------------------
# Slow reference: run every expert on every token in float32 and mix the outputs with a dense
# [T, E] combine matrix built from the router's assignment (Python loops over experts / slots).
# Gates are recomputed from the parameters, so gradients are comparable; only the discrete
# choices (which experts, which assignments fit) come from the layer's router.


def _expert(p, e, v, act):
    return act(v @ p["w_in"][e]) @ p["w_out"][e]


def _mix(p, tokens, combine, cfg):
    act = ACTIVATIONS[cfg.activation]
    return sum(combine[:, e : e + 1] * _expert(p, e, tokens, act) for e in range(E))


def _scores(p, tokens, cfg):
    logits = tokens @ p["router"]
    return jax.nn.softmax(logits, -1) if cfg.score_fn == "softmax" else jax.nn.sigmoid(logits)


def _kept(scores, index, cfg):
    """Which assignments fit their expert: slot-major, first come first served in priority order."""
    num_tokens, k = index.shape
    keep = np.ones(index.shape, bool)
    if cfg.capacity_factor is None:
        return keep
    capacity = math.ceil(cfg.capacity_factor * num_tokens * k / E)
    gates = np.take_along_axis(scores, index, 1)
    if cfg.renormalize:
        gates = gates / gates.sum(1, keepdims=True)
    order = np.argsort(-gates.max(1), kind="stable") if cfg.priority == "score" else range(num_tokens)
    used = [0] * E
    for j in range(k):
        for t in order:
            keep[t, j] = used[index[t, j]] < capacity
            used[index[t, j]] += keep[t, j]
    return keep


def _token_choice_reference(p, x, index, keep, cfg):
    tokens = x.reshape(-1, D)
    selected = np.zeros((index.shape[0], E)), np.zeros((index.shape[0], E))
    for t, j in np.ndindex(*index.shape):
        selected[0][t, index[t, j]] = 1.0
        selected[1][t, index[t, j]] = keep[t, j]
    if cfg.router == "hash":
        combine = jnp.asarray(selected[1])
    else:
        scores = _scores(p, tokens, cfg)
        norm = jnp.sum(scores * selected[0], 1, keepdims=True) if cfg.renormalize else 1.0
        combine = scores * selected[1] / norm
    return _mix(p, tokens, combine, cfg).reshape(x.shape)


def _expert_choice_reference(p, x, token_index, cfg):
    out = []
    for seq, chosen in zip(x.reshape(-1, *x.shape[-2:]), token_index):
        picked = np.zeros((seq.shape[0], E))
        for e, c in np.ndindex(*chosen.shape):
            picked[chosen[e, c], e] = 1.0
        out.append(_mix(p, seq, jax.nn.softmax(seq @ p["router"], -1) * picked, cfg))
    return jnp.stack(out).reshape(x.shape)


def _soft_reference(p, x, cfg):
    act = ACTIVATIONS[cfg.activation]
    out = []
    for seq in x.reshape(-1, *x.shape[-2:]):
        logits = seq @ p["router"]
        dispatch, combine = jax.nn.softmax(logits, 0), jax.nn.softmax(logits, 1)
        y = 0.0
        for s in range(logits.shape[1]):
            slot_in = dispatch[:, s] @ seq
            y = y + combine[:, s : s + 1] * _expert(p, s // cfg.slots_per_expert, slot_in, act)[None, :]
        out.append(y)
    return jnp.stack(out).reshape(x.shape)


def _shared_reference(p, x, cfg):
    act = ACTIVATIONS[cfg.activation]
    return act(x @ p["shared"]["w_in"]) @ p["shared"]["w_out"]


CASES = {
    "top_k_dropless": dict(router="top_k", top_k=2),
    "switch_capacity_drops": dict(router="top_k", top_k=1, renormalize=False, capacity_factor=0.75),
    "top2_capacity_score_priority": dict(router="top_k", top_k=2, capacity_factor=0.6, priority="score"),
    "top_k_sigmoid_shared": dict(router="top_k", top_k=2, score="sigmoid", num_shared_experts=2, shared_d_ff=8),
    "deepseek": dict(router="deepseek", top_k=2, num_shared_experts=1),
    "sinkhorn": dict(router="sinkhorn", top_k=2, sinkhorn_iters=4),
    "hash_ids": dict(router="hash", top_k=1),
    "hash_lsh": dict(router="hash", top_k=1),
    "expert_choice": dict(router="expert_choice", top_k=1, capacity_factor=1.5),
    "soft": dict(router="soft", slots_per_expert=2),
}


@nnx.jit
def _apply(layer, x, key=None, token_ids=None):
    return layer(x, key=key, token_ids=token_ids)


@nnx.jit(static_argnames="causal")
def _apply_causal(layer, x, causal=True):
    return layer(x, causal=causal)


@nnx.jit
def _route(layer, tokens, token_ids=None):
    return layer.route(tokens, token_ids=token_ids)


def _np_scores(p, tokens, cfg):
    logits = np.asarray(tokens, np.float64) @ np.asarray(p["router"], np.float64)
    if cfg.score_fn == "sigmoid":
        return 1 / (1 + np.exp(-logits))
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _value_and_vjp(fn, p, x, cot):
    """``(y, aux, dp, dx)`` of ``fn(p, x) -> (y, aux)`` under one jit."""

    @jax.jit
    def run(p, x):
        y, vjp, aux = jax.vjp(fn, p, x, has_aux=True)
        return (y, aux, *vjp(cot))

    return run(p, x)


SLOW_CASES = ("top2_capacity_score_priority", "top_k_sigmoid_shared")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in CASES])
def test_layer_matches_slow_reference_values_and_gradients(name):
    layer = _layer(**CASES[name])
    cfg = layer.cfg
    if cfg.router == "deepseek":  # a bias that changes some selections
        layer.router_bias[...] = jnp.array([0.0, 0.3, -0.3, 0.1])
    x = _x((2, 4))
    token_ids = jnp.arange(8).reshape(2, 4) * 7 if name == "hash_ids" else None
    tokens = x.reshape(-1, D)
    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)
    p = nnx.to_pure_dict(params)
    cot = jax.random.normal(jax.random.key(9), x.shape)
    mixing = cfg.router in ("expert_choice", "soft")

    def layer_fn(params, x):
        model = nnx.merge(graphdef, params, rest)
        routing = jax.vmap(model.route)(x) if mixing else model.route(x.reshape(-1, D), token_ids=token_ids)
        y, aux = model(x, token_ids=token_ids)
        return y, (aux, routing)

    y, (aux, routing), grads, gx = _value_and_vjp(layer_fn, params, x, cot)

    if mixing:
        dropped_ref = 0.0
        # The reference routes each sequence on its own, so agreement also shows that the
        # layer never lets one batch element's tokens influence another's routing.
        if cfg.router == "expert_choice":  # selection: each expert's top-C tokens by probability
            token_index = np.asarray(routing.token_index)
            for seq, chosen in zip(x, token_index):
                probs = _np_scores(p, seq, cfg)
                np.testing.assert_array_equal(chosen, np.argsort(-probs.T, axis=1)[:, : chosen.shape[1]])
            # for expert choice, dropped_frac is the fraction of tokens no expert picked
            dropped_ref = 1.0 - np.mean([len(np.unique(chosen)) for chosen in token_index]) / x.shape[1]

        def reference(p, x):
            if cfg.router == "soft":
                return _soft_reference(p, x, cfg)
            return _expert_choice_reference(p, x, token_index, cfg)
    else:
        index = np.asarray(routing.expert_index)
        scores = _np_scores(p, tokens, cfg) if cfg.router != "hash" else None
        if cfg.router in ("top_k", "deepseek"):  # selection: numpy top-k of score (+ bias)
            select = scores + (np.asarray(layer.router_bias[...])[None, :] if cfg.router == "deepseek" else 0.0)
            np.testing.assert_array_equal(np.sort(index, 1), np.sort(np.argsort(-select, 1)[:, : cfg.top_k], 1))
        keep = _kept(scores, index, cfg)
        dropped_ref = 1.0 - keep.mean()

        def reference(p, x):
            return _token_choice_reference(p, x, index, keep, cfg)

    def ref_total(p, x):
        y = reference(p, x)
        return (y + _shared_reference(p, x, cfg) if cfg.num_shared_experts else y), None

    y_ref, _, ref_grads, gx_ref = _value_and_vjp(ref_total, p, x, cot)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(aux.dropped_frac, dropped_ref, atol=1e-6)
    if cfg.capacity_factor is not None and cfg.router == "top_k":
        assert float(aux.dropped_frac) > 0  # these cases exercise dropping
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)  # noqa: E731
    jax.tree.map(close, nnx.to_pure_dict(grads), ref_grads)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-3, atol=1e-5)


def test_jit_and_split_merge_round_trip():
    layer = _layer(router="top_k", top_k=2)
    x = _x()
    y, aux = _apply(layer, x)  # nnx.jit
    graphdef, state = nnx.split(layer)

    @jax.jit
    def forward(state, x):  # split once, jit a pure function of the state
        return nnx.merge(graphdef, state)(x)

    y_jit, aux_jit = forward(state, x)
    np.testing.assert_allclose(y_jit, y, rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), aux_jit, aux)
    merged = nnx.merge(graphdef, state)
    jax.tree.map(np.testing.assert_array_equal, nnx.state(merged), state)
    np.testing.assert_array_equal(forward(nnx.state(merged), x)[0], y_jit)


def test_aux_fields_for_a_collapsed_router():
    layer = _layer(router="top_k", top_k=1, renormalize=False, capacity_factor=1.0)
    layer.router[...] = jnp.zeros((D, E))  # uniform probabilities; ties go to expert 0
    _, aux = _apply(layer, jnp.ones((8, D)))
    assert int(aux.dead) == E - 1
    np.testing.assert_allclose(aux.load, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(aux.max_vio, E - 1.0)  # 1 / (1/4) - 1
    np.testing.assert_allclose(aux.dropped_frac, 6 / 8)  # capacity ceil(8 * 1 / 4) = 2 of 8 served
    np.testing.assert_allclose(aux.entropy, math.log(E), rtol=1e-6)
    np.testing.assert_allclose(aux.confidence, 1 / E, rtol=1e-6)
    np.testing.assert_allclose(aux.load_balance, 1.0, rtol=1e-6)  # 4 * (1 * 1/4)
    np.testing.assert_allclose(aux.z_loss, math.log(E) ** 2, rtol=1e-6)  # logsumexp(0, 0, 0, 0) = ln 4
    cfg = layer.cfg
    np.testing.assert_allclose(aux.loss, cfg.load_balance_weight + cfg.z_loss_weight * math.log(E) ** 2, rtol=1e-6)


# --------------------------------------------------------------------------- DeepSeek bias


def test_router_bias_is_outside_the_optimizer():
    layer = _layer(router="deepseek", top_k=2)
    assert isinstance(layer.router_bias, RouterBias) and not isinstance(layer.router_bias, nnx.Param)
    assert "router_bias" not in nnx.to_pure_dict(nnx.state(layer, nnx.Param))
    layer.router_bias[...] = jnp.array([0.5, -0.5, 0.25, 0.0])
    bias, w_in = layer.router_bias[...], layer.w_in[...]
    optimizer = nnx.Optimizer(layer, optax.adam(0.1), wrt=nnx.Param)
    x = _x()

    @nnx.jit
    def train_step(model, optimizer):
        def loss_fn(model):
            y, aux = model(x)
            return jnp.mean(y**2) + aux.loss

        grads = nnx.grad(loss_fn)(model)
        optimizer.update(model, grads)
        return grads

    grads = train_step(layer, optimizer)
    assert "router_bias" not in nnx.to_pure_dict(grads)
    np.testing.assert_array_equal(layer.router_bias[...], bias)
    assert not np.allclose(layer.w_in[...], w_in)


def test_router_bias_changes_selection_but_not_gates():
    layer = _layer(router="deepseek", top_k=2)
    tokens = _x((12,))
    before = _route(layer, tokens)
    layer.router_bias[...] = jnp.array([0.0, 0.0, 0.0, 100.0])
    after = _route(layer, tokens)
    assert np.all(np.any(np.asarray(after.expert_index) == 3, axis=1))
    assert not np.array_equal(before.expert_index, after.expert_index)
    scores = _np_scores({"router": layer.router[...]}, tokens, layer.cfg)  # unbiased sigmoid
    picked = np.take_along_axis(scores, np.asarray(after.expert_index), 1)
    np.testing.assert_allclose(after.gates, picked / picked.sum(1, keepdims=True), rtol=1e-5)


def test_bias_update_in_a_jitted_training_step_balances_load():
    layer = _layer(router="deepseek", top_k=1, renormalize=False, bias_update_rate=0.02)
    layer.router[...] = layer.router[...].at[0, 0].add(3.0)  # feature 0 pulls tokens to expert 0
    x = _x((64,)).at[:, 0].set(1.0)
    graphdef, state = nnx.split(layer)

    @jax.jit
    def step(state):
        model = nnx.merge(graphdef, state)
        _, aux = model(x)
        model.update_bias(aux.load)
        return nnx.state(model), aux.max_vio

    vios = []
    for _ in range(60):
        state, vio = step(state)
        vios.append(float(vio))
    assert vios[0] > 1.5
    assert np.mean(vios[-10:]) < 0.5 * vios[0]
    with pytest.raises(ValueError, match="deepseek"):
        _layer(router="top_k").update_bias(jnp.ones(E))


# --------------------------------------------------------------------------- causality


@pytest.mark.parametrize("kw", [
    dict(router="expert_choice", top_k=1, capacity_factor=1.0),
    dict(router="soft"),
    dict(router="sinkhorn"),
    dict(router="top_k", top_k=2, capacity_factor=2.0),
    dict(router="top_k", top_k=1, renormalize=False, capacity_factor=2.0, priority="score"),
])
def test_token_mixing_configs_are_refused_in_causal_mode(kw):
    x = _x()
    with pytest.raises(CausalLeakError, match="later tokens"):
        _layer(**kw)(x, causal=True)  # refused before any computation
    assert causal_leak(MoEConfig(**BASE, **kw)) is not None


def _future_changes_past(layer, x):
    y, _ = _apply_causal(layer, x)
    y2, _ = _apply_causal(layer, x.at[:, -1].add(5.0))
    return not np.allclose(y[:, :-1], y2[:, :-1], atol=1e-6)


def test_causal_configs_do_not_leak_and_refused_ones_do():
    x = _x()
    assert not _future_changes_past(_layer(router="top_k", top_k=2), x)
    assert not _future_changes_past(_layer(router="top_k", top_k=1, renormalize=False, capacity_factor=0.5), x)
    leaky = _layer(router="expert_choice", top_k=1, capacity_factor=1.0, allow_causal_leak=True)
    leaky.router[...] = jnp.zeros((D, E)).at[0].set(jnp.array([1.0, -1.0, 0.0, 0.0]))
    x = jnp.zeros((1, 4, D)).at[0, :, 0].set(jnp.array([1.0, 2.0, 0.0, 0.0]))
    # C = 1 token per expert; expert 0 takes the token with the largest feature 0: token 1.
    # Raising token 3's feature to 5 makes expert 0 take token 3 instead: token 1's output changes.
    assert _future_changes_past(leaky, x)


# --------------------------------------------------------------------------- noise and dtypes


def test_router_noise_needs_a_key_and_is_deterministic_given_it():
    noisy = _layer(router="top_k", top_k=2, noise="gaussian", noise_eps=1.0)
    clean = _layer(router="top_k", top_k=2)
    x = _x()
    np.testing.assert_array_equal(_apply(noisy, x)[0], _apply(clean, x)[0])  # same init, no key
    a, b = _apply(noisy, x, jax.random.key(3))[0], _apply(noisy, x, jax.random.key(3))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, _apply(noisy, x, jax.random.key(4))[0])
    assert not np.allclose(a, _apply(clean, x)[0])


def test_router_logits_stay_float32_with_bfloat16_inputs():
    layer = _layer(router="top_k", top_k=2)
    x = _x().astype(jnp.bfloat16)
    y, aux = _apply(layer, x)
    assert y.dtype == jnp.bfloat16 and aux.loss.dtype == jnp.float32
    tokens = x.reshape(-1, D)
    logits = _route(layer, tokens).logits
    assert logits.dtype == jnp.float32
    exact = np.asarray(tokens, np.float64) @ np.asarray(layer.router[...], np.float64)
    np.testing.assert_allclose(logits, exact, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.astype(jnp.float32), _apply(layer, x.astype(jnp.float32))[0], rtol=0.05, atol=0.05)


# --------------------------------------------------------------------------- sizes and config


@pytest.mark.parametrize("kw", [dict(), dict(router="soft", slots_per_expert=3), dict(router="hash", top_k=1),
                                dict(router="deepseek", num_shared_experts=2, shared_d_ff=4)])
def test_param_count_matches_the_module(kw):
    layer = _layer(**kw)
    assert param_count(layer) == layer.param_count() == moe_param_count(layer.cfg)


def test_flops_per_token_and_matched_dense_width_by_hand():
    cfg = MoEConfig(**BASE, top_k=2, num_shared_experts=1)
    # router 2*8*4 = 64; two experts 2 * 4*8*16 = 1024; shared 4*8*16 = 512 -> 1600
    assert moe_flops_per_token(cfg) == 1600
    assert matched_dense_d_ff(cfg) == 50  # 1600 / (4 * 8)
    dense = DenseFFN(D, 50, rngs=nnx.Rngs(0))
    assert dense.flops_per_token() == 1600 and dense.param_count() == 2 * D * 50
    soft = MoEConfig(**BASE, router="soft", slots_per_expert=2)
    # router 2*8*8 = 128; 8 slot FFNs over 16 tokens: 8/16 * 512 = 256; dispatch+combine 4*8*8 = 256
    assert moe_flops_per_token(soft, seq_len=16) == 640


def test_dense_ffn_has_the_same_interface():
    dense = DenseFFN(D, F, rngs=nnx.Rngs(0))
    x = _x()
    y, aux = dense(x, key=jax.random.key(0), causal=True)
    expected = jax.nn.gelu(x @ dense.w_in[...]) @ dense.w_out[...]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert float(aux.loss) == 0.0 and aux.load.shape == (1,)


@pytest.mark.parametrize("kw, field", [
    (dict(top_k=5), "top_k"),
    (dict(capacity_factor=0.0), "capacity_factor"),
    (dict(capacity_factor=-1.0), "capacity_factor"),
    (dict(load_balance_weight=-0.1), "load_balance_weight"),
    (dict(z_loss_weight=-1e-3), "z_loss_weight"),
    (dict(router="expert_choice"), "capacity_factor"),
    (dict(router="hash", top_k=2), "top_k"),
    (dict(top_k=1), "renormalize"),
    (dict(noise="jitter", noise_eps=1.5), "noise_eps"),
    (dict(num_shared_experts=-1), "num_shared_experts"),
])
def test_config_validation_names_the_field(kw, field):
    with pytest.raises(ConfigError) as err:
        MoEConfig(**{**BASE, **kw})
    assert err.value.field == field


def test_config_errors_from_dicts_and_overrides():
    with pytest.raises(ConfigError, match=r"top_k: must be <= num_experts \(4\); got 8"):
        override(MoEConfig(**BASE), ["top_k=8"])
    with pytest.raises(ConfigError, match="'top_k', 'expert_choice', 'soft'"):
        from_dict(MoEConfig, {"router": "bogus"})
    cfg = override(MoEConfig(**BASE), ["router=deepseek", "capacity_factor=null"])
    assert cfg.score_fn == "sigmoid" and cfg.capacity_factor is None
