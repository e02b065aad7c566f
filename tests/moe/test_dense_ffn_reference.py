"""The dense FFN's fast path (tokens flattened to one axis before the matmuls, so XLA:CPU's
backward pass needs no transposed copy) against a slow, obviously right reference."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from routerlab.moe.layer import DenseFFN, _ffn


def _reference(x, w_in, w_out):
    """Token by token in float64: ``gelu_tanh(x_t @ w_in) @ w_out``."""
    def gelu(h):  # the tanh approximation, jax.nn.gelu's default
        return 0.5 * h * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (h + 0.044715 * h**3)))
    out = np.zeros(x.shape[:-1] + (w_out.shape[1],))
    for idx in np.ndindex(*x.shape[:-1]):
        out[idx] = gelu(x[idx] @ w_in) @ w_out
    return out


def test_dense_ffn_matches_the_token_loop_and_the_unflattened_gradients():
    ffn = DenseFFN(8, 16, activation="gelu", rngs=nnx.Rngs(0))
    w_in, w_out = ffn.w_in[...], ffn.w_out[...]
    x = jax.random.normal(jax.random.key(1), (3, 5, 8), jnp.float32)
    y = ffn.apply(x)
    assert y.shape == (3, 5, 8) and y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), _reference(*(np.asarray(a, np.float64) for a in (x, w_in, w_out))),
                               rtol=1e-5, atol=1e-6)

    def fast(x, w_in, w_out):  # what DenseFFN.apply runs
        return jnp.sum(jnp.sin(_ffn(x, w_in, w_out, "gelu")))

    def slow(x, w_in, w_out):  # the [B, T, d] einsums the fast path replaced
        return jnp.sum(jnp.sin(jnp.einsum("btf,fd->btd", jax.nn.gelu(jnp.einsum("btd,df->btf", x, w_in)), w_out)))

    for g_fast, g_slow in zip(jax.grad(fast, argnums=(0, 1, 2))(x, w_in, w_out),
                              jax.grad(slow, argnums=(0, 1, 2))(x, w_in, w_out)):
        np.testing.assert_allclose(np.asarray(g_fast), np.asarray(g_slow), rtol=1e-5, atol=1e-6)
