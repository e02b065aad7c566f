"""Routers: selections against numpy, gate conventions, noise, hashing, balancing."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.moe import (
    expert_choice_route,
    expert_load,
    hash_ids,
    hash_route,
    lsh_route,
    max_violation,
    router_logits,
    sinkhorn,
    sinkhorn_route,
    soft_route,
    top_k_route,
    update_router_bias,
)

LOGITS = jax.random.normal(jax.random.key(0), (16, 6))


def _softmax(z):
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def test_router_logits_are_float32_for_bfloat16_inputs():
    x = jax.random.normal(jax.random.key(1), (5, 16)).astype(jnp.bfloat16)
    w = jax.random.normal(jax.random.key(2), (16, 4))
    logits = router_logits(x, w)
    assert logits.dtype == jnp.float32
    expected = np.asarray(x, np.float64) @ np.asarray(w, np.float64)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_softmax_matches_numpy(k):
    routing = top_k_route(LOGITS, k)
    probs = _softmax(np.asarray(LOGITS, np.float64))
    expected = np.argsort(-probs, axis=-1)[:, :k]
    np.testing.assert_array_equal(routing.expert_index, expected)
    assert routing.expert_index.dtype == jnp.int32
    np.testing.assert_allclose(routing.gates, np.take_along_axis(probs, expected, -1), rtol=1e-5)
    np.testing.assert_allclose(routing.probs, probs, rtol=1e-5)


def test_top_k_renormalize_and_sigmoid_scores():
    routing = top_k_route(LOGITS, 2, score="sigmoid", renormalize=True)
    sig = 1 / (1 + np.exp(-np.asarray(LOGITS, np.float64)))
    expected = np.argsort(-sig, axis=-1)[:, :2]
    picked = np.take_along_axis(sig, expected, -1)
    np.testing.assert_array_equal(routing.expert_index, expected)
    np.testing.assert_allclose(routing.gates, picked / picked.sum(-1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(routing.probs, sig / sig.sum(-1, keepdims=True), rtol=1e-5)


def test_bias_selects_experts_but_does_not_weight_them():
    bias = jnp.array([0.0, 0.0, 0.0, 0.0, 0.0, 10.0])
    plain = top_k_route(LOGITS, 2, score="sigmoid", renormalize=True)
    biased = top_k_route(LOGITS, 2, score="sigmoid", renormalize=True, bias=bias)
    assert np.all(np.any(np.asarray(biased.expert_index) == 5, axis=1))  # expert 5 always chosen
    assert not np.array_equal(plain.expert_index, biased.expert_index)
    sig = np.asarray(jax.nn.sigmoid(LOGITS))
    picked = np.take_along_axis(sig, np.asarray(biased.expert_index), -1)
    np.testing.assert_allclose(biased.gates, picked / picked.sum(-1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(biased.probs, plain.probs)  # balance loss sees unbiased scores


def test_bias_gets_no_gradient():
    def gate_sum(bias):
        return top_k_route(LOGITS, 2, score="sigmoid", bias=bias).gates.sum()

    assert float(jnp.abs(jax.grad(gate_sum)(jnp.ones(6))).sum()) == 0.0


@pytest.mark.parametrize("noise", ["jitter", "gaussian"])
def test_noise_comes_only_from_the_explicit_key(noise):
    x = jax.random.normal(jax.random.key(3), (8, 4))
    w = jax.random.normal(jax.random.key(4), (4, 3))
    clean = router_logits(x, w)
    np.testing.assert_array_equal(router_logits(x, w, noise=noise, eps=0.1), clean)
    a = router_logits(x, w, noise=noise, eps=0.1, key=jax.random.key(5))
    b = router_logits(x, w, noise=noise, eps=0.1, key=jax.random.key(5))
    c = router_logits(x, w, noise=noise, eps=0.1, key=jax.random.key(6))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, clean)
    np.testing.assert_array_equal(router_logits(x, w, noise="none", eps=0.1, key=jax.random.key(5)), clean)


def test_jitter_is_multiplicative_within_eps():
    x = jnp.ones((64, 1))
    logits = router_logits(x, jnp.ones((1, 1)), noise="jitter", eps=0.1, key=jax.random.key(0))
    assert float(logits.min()) >= 0.9 and float(logits.max()) <= 1.1 and float(logits.std()) > 0.01


def test_sinkhorn_plan_is_balanced():
    plan = np.exp(np.asarray(sinkhorn(LOGITS * 3, 200), np.float64))
    np.testing.assert_allclose(plan.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(plan.sum(0), 16 / 6, rtol=1e-3)


def test_sinkhorn_route_balances_a_collapsed_router():
    # every token prefers expert 0, with token-dependent preferences for the rest
    logits = LOGITS.at[:, 0].add(5.0)
    greedy = top_k_route(logits, 1)
    balanced = sinkhorn_route(logits, 1, num_iters=20)
    assert float(max_violation(expert_load(greedy.expert_index, 6))) == pytest.approx(5.0)
    assert float(max_violation(expert_load(balanced.expert_index, 6))) < 0.6
    probs = np.asarray(jax.nn.softmax(logits))  # gates stay the router's own scores
    picked = np.take_along_axis(probs, np.asarray(balanced.expert_index), -1)
    np.testing.assert_allclose(balanced.gates, picked, rtol=1e-5)


def test_expert_choice_by_hand():
    # scores per token over 2 experts (softmax of [l, 0]): token 0..3 prefer expert 0 by 3, 1, -1, -3
    logits = jnp.array([[3.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-3.0, 0.0]])
    routing = expert_choice_route(logits, 2)
    np.testing.assert_array_equal(routing.token_index, [[0, 1], [3, 2]])
    p = jax.nn.sigmoid(jnp.array([3.0, 1.0]))  # softmax([l, 0])[0] = sigmoid(l)
    np.testing.assert_allclose(routing.gates, [[p[0], p[1]], [p[0], p[1]]], rtol=1e-6)


def test_soft_route_normalizes_over_tokens_and_slots():
    routing = soft_route(LOGITS)
    np.testing.assert_allclose(routing.dispatch.sum(0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(routing.combine.sum(1), 1.0, rtol=1e-5)


def _fmix32(v: int) -> int:
    v ^= v >> 16
    v = (v * 0x85EBCA6B) & 0xFFFFFFFF
    v ^= v >> 13
    v = (v * 0xC2B2AE35) & 0xFFFFFFFF
    return v ^ (v >> 16)


def test_hash_ids_is_the_murmur3_finaliser():
    ids = [0, 1, 7, 12345, 2**31 - 1]
    got = hash_ids(jnp.array(ids, jnp.int32), jnp.uint32(0x9E3779B9))
    assert [int(h) for h in got] == [_fmix32(i ^ 0x9E3779B9) for i in ids]


def test_hash_route_is_fixed_and_balanced():
    ids = jnp.arange(8000) % 4000  # every id twice
    routing = hash_route(ids, 8, jnp.uint32(1))
    index = np.asarray(routing.expert_index[:, 0])
    np.testing.assert_array_equal(index[:4000], index[4000:])
    # 4000 ids into 8 buckets: 500 +- 21 each if the hash is uniform; allow ~4 sigma
    assert float(max_violation(expert_load(routing.expert_index, 8))) < 0.17
    other_salt = hash_route(ids, 8, jnp.uint32(2))
    assert np.mean(np.asarray(other_salt.expert_index[:, 0]) == index) < 0.3
    np.testing.assert_array_equal(routing.gates, 1.0)
    assert routing.logits is None


def test_lsh_route_is_an_argmax_over_fixed_directions():
    x = jax.random.normal(jax.random.key(7), (32, 5))
    projection = jax.random.normal(jax.random.key(8), (5, 4))
    routing = lsh_route(x, projection)
    np.testing.assert_array_equal(routing.expert_index[:, 0], np.argmax(np.asarray(x) @ np.asarray(projection), -1))
    np.testing.assert_array_equal(lsh_route(3.0 * x, projection).expert_index, routing.expert_index)


def test_update_router_bias_by_hand():
    bias = jnp.zeros(4)
    load = jnp.array([0.5, 0.25, 0.25, 0.0])  # mean 0.25 -> sign(mean - load) = [-1, 0, 0, 1]
    np.testing.assert_allclose(update_router_bias(bias, load, 0.1), [-0.1, 0.0, 0.0, 0.1])


def test_bias_updates_move_load_toward_uniform():
    logits = LOGITS.at[:, 0].add(1.5)  # a router that overloads expert 0

    def step(bias, _):
        load = expert_load(top_k_route(logits, 2, score="sigmoid", bias=bias).expert_index, 6)
        return update_router_bias(bias, load, 0.02), max_violation(load)

    _, vio = jax.jit(lambda b: jax.lax.scan(step, b, length=300))(jnp.zeros(6))
    assert float(vio[0]) > 1.0
    assert float(vio[-50:].mean()) < 0.5 * float(vio[0])
