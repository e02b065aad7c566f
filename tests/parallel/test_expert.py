"""Expert parallelism on 8 fake CPU devices equals the single-device dispatch and layer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import AxisType

from routerlab.moe import MoEConfig, MoELayer
from routerlab.moe.dispatch import capacity_dispatch, dropless_dispatch
from routerlab.moe.routers import top_k_route
from routerlab.parallel.expert import ep_buffer_rows, ep_dispatch, ep_moe

T, D, F, E, K = 64, 8, 16, 8, 2


def _mesh(data, expert):
    return jax.make_mesh((data, expert), ("data", "expert"), axis_types=(AxisType.Auto,) * 2)


def _inputs(seed=0):
    ks = jax.random.split(jax.random.key(seed), 4)
    return (jax.random.normal(ks[0], (T, D)), jax.random.normal(ks[1], (D, E)),
            jax.random.normal(ks[2], (E, D, F)) / 3, jax.random.normal(ks[3], (E, F, D)) / 4)


def _value_and_grads(dispatch):
    """y, dropped and d/d(x, router, w_in, w_out) of a nonlinear function of y, in one program."""

    def loss(x, w_router, w_in, w_out):
        r = top_k_route(x @ w_router, K, score="softmax", renormalize=True)
        out = dispatch(x, r.expert_index, r.gates, w_in, w_out)
        return jnp.sum(jnp.sin(out.y)), out

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3), has_aux=True))


def _check_equal(ref, got):
    (_, a), ga = ref
    (_, b), gb = got
    np.testing.assert_array_equal(a.dropped, b.dropped)
    np.testing.assert_allclose(a.y, b.y, atol=1e-5)
    for u, v in zip(ga, gb):  # x, router, w_in, w_out
        np.testing.assert_allclose(u, v, atol=2e-5, rtol=1e-5)


CASES = [((2, 4), None), ((1, 8), 1.0), ((2, 4), 1.0), ((1, 8), None), ((2, 4), 0.5), ((8, 1), 1.0)]


@pytest.mark.parametrize("shape,capacity_factor", [
    pytest.param(*c, marks=() if i < 2 else pytest.mark.slow) for i, c in enumerate(CASES)])
def test_ep_dispatch_outputs_and_gradients_match_one_device(shape, capacity_factor):
    mesh = _mesh(*shape)
    if capacity_factor is None:
        ref = lambda *a: dropless_dispatch(*a, impl="ragged_dot")
    else:
        ref = lambda *a: capacity_dispatch(*a, capacity_factor=capacity_factor)
    ep = lambda *a: ep_dispatch(*a, mesh=mesh, capacity_factor=capacity_factor)
    args = _inputs()
    expected, got = _value_and_grads(ref)(*args), _value_and_grads(ep)(*args)
    if capacity_factor == 1.0:
        assert 0 < float(jnp.mean(expected[0][1].dropped)) < 0.5  # drops happen and match
    _check_equal(expected, got)


def test_local_capacity_scope_is_per_device_capacity_dispatch():
    mesh = _mesh(2, 4)
    x, w_router, w_in, w_out = _inputs(1)
    r = top_k_route(x @ w_router, K, score="softmax", renormalize=True)
    got = jax.jit(lambda *a: ep_dispatch(*a, mesh=mesh, capacity_factor=1.0, capacity_scope="local"))(
        x, r.expert_index, r.gates, w_in, w_out)
    groups = lambda a: a.reshape(8, T // 8, *a.shape[1:])
    want = jax.jit(jax.vmap(lambda xg, eg, gg: capacity_dispatch(xg, eg, gg, w_in, w_out, capacity_factor=1.0)))(
        groups(x), groups(r.expert_index), groups(r.gates))
    np.testing.assert_array_equal(got.dropped, want.dropped.reshape(T, K))
    np.testing.assert_allclose(got.y, want.y.reshape(T, D), atol=1e-5)
    assert ep_buffer_rows(T, E, K, 8, 1.0, "local") == 2  # ceil(1.0 * 8 * 2 / 8)


def test_buffer_rows_and_divisibility_errors():
    assert ep_buffer_rows(T, E, K, 8, None) == T // 8  # dropless: worst case, a device's tokens
    assert ep_buffer_rows(T, E, K, 8, 1.0) == min(16, T // 8)
    x, w_router, w_in, w_out = _inputs()
    idx, gates = jnp.zeros((T, K), jnp.int32), jnp.zeros((T, K))
    with pytest.raises(ValueError, match="num_experts=6"):
        ep_dispatch(x, idx, gates, w_in[:6], w_out[:6], mesh=_mesh(2, 4))
    with pytest.raises(ValueError, match="T=60"):
        ep_dispatch(x[:60], idx[:60], gates[:60], w_in, w_out, mesh=_mesh(2, 4))


def _layer(dtype=jnp.float32, **kw):
    cfg = MoEConfig(num_experts=E, top_k=K, d_model=D, d_ff=F, **kw)
    layer = MoELayer(cfg, rngs=nnx.Rngs(0))
    if dtype != jnp.float32:  # bf16 parameters too, not just activations
        graphdef, state = nnx.split(layer)
        state = jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, state)
        layer = nnx.merge(graphdef, state)
    return layer


def test_ep_moe_matches_moe_layer_including_aux():
    layer = _layer(capacity_factor=1.0, num_shared_experts=1, shared_d_ff=8)
    x = jax.random.normal(jax.random.key(2), (4, T // 4, D))
    mesh = _mesh(2, 4)
    y, aux = jax.jit(lambda x: layer(x))(x)
    y_ep, aux_ep = jax.jit(lambda x: ep_moe(layer, x, mesh=mesh))(x)
    np.testing.assert_allclose(y_ep, y, atol=1e-5)
    for a, b in zip(aux, aux_ep):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert float(aux.dropped_frac) > 0


def test_bf16_experts_keep_a_float32_router():
    layer = _layer(jnp.bfloat16)
    assert layer.router[...].dtype == jnp.bfloat16 and layer.w_in[...].dtype == jnp.bfloat16
    x = jax.random.normal(jax.random.key(3), (T, D)).astype(jnp.bfloat16)
    routing = jax.jit(lambda x: layer.route(x))(x)
    assert routing.logits.dtype == jnp.float32 and routing.gates.dtype == jnp.float32
    # The router matmul really runs in float32: equal to the float32 product of the same numbers.
    want = x.astype(jnp.float32) @ layer.router[...].astype(jnp.float32)
    np.testing.assert_allclose(routing.logits, want, rtol=1e-6, atol=1e-6)
    y, aux = jax.jit(lambda x: ep_moe(layer, x, mesh=_mesh(2, 4)))(x)
    assert y.dtype == jnp.bfloat16 and aux.z_loss.dtype == jnp.float32
    y_ref, _ = jax.jit(lambda x: layer(x))(x)
    np.testing.assert_allclose(y.astype(jnp.float32), y_ref.astype(jnp.float32), atol=2e-2)


@pytest.mark.parametrize("backend,uses_ragged_dot", [("gpu", True), ("tpu", True), ("cpu", False)])
def test_dropless_auto_picks_ragged_dot_on_accelerators(monkeypatch, backend, uses_ragged_dot):
    import routerlab.moe.dispatch as dispatch

    monkeypatch.setattr(dispatch.jax, "default_backend", lambda: backend)
    x, w_router, w_in, w_out = _inputs()
    r = top_k_route(x @ w_router, K, score="softmax", renormalize=True)
    jaxpr = jax.make_jaxpr(lambda *a: dispatch.dropless_dispatch(*a, impl="auto").y)(
        x, r.expert_index, r.gates, w_in, w_out)
    assert ("ragged_dot" in str(jaxpr)) == uses_ragged_dot
