"""Neural bandits: a small MLP (Flax NNX) trained online with optax, as pure functions.

The network is held as ``nnx.split`` state (a pytree of parameters) inside the policy
state; its ``GraphDef`` is static, rebuilt from shapes with ``nnx.eval_shape``, so
``init``/``select``/``update`` stay jit-, scan- and vmap-able like every other policy.
Each ``update`` appends ``(x, arm, y)`` to a ring buffer and takes one optax step on a
minibatch drawn from it (a fixed amount of work per round: no data-dependent branches).

* :func:`neural_linear` (Riquelme et al. 2018): Thompson sampling with a Bayesian linear
  regression per arm on the network's last hidden layer, the posterior recomputed from the
  whole buffer with the *current* features on every selection (the paper's point: do not
  let the posterior go stale as the representation moves). Gaussian posterior with a fixed
  noise scale ``v`` instead of the paper's normal-inverse-gamma.
* :func:`neural_ucb` / :func:`neural_ts` (after Zhou et al. 2020; Zhang et al. 2021):
  the network's head gives the mean; the exploration term uses the gradient of arm ``a``'s
  output with respect to its own last-layer weights, which is the last hidden layer
  ``phi(x)``. ``Z_a`` accumulates ``phi phi^T`` at the time of each observation (as NeuralUCB
  does with its gradients), kept by the float32 ridge code of :mod:`.linalg`. This is the
  last-layer restriction of NeuralUCB/NeuralTS, not the full-network gradient version.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from routerlab.bandits.linalg import Ridge, ridge_init, ridge_update, ridge_width2
from routerlab.bandits.policies import ts_propensities
from routerlab.bandits.types import BanditSpec, Context, Policy, known_reward, masked_argmax, residual

__all__ = ["MLP", "neural_linear", "neural_ucb", "neural_ts"]

f32 = jnp.float32


class MLP(nnx.Module):
    """``x -> relu(W2 relu(W1 x)) = phi(x) -> head(phi) in R^K``."""

    def __init__(self, dim: int, hidden: int, num_arms: int, *, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.l2 = nnx.Linear(hidden, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, num_arms, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(self.l2(jax.nn.relu(self.l1(x))))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(x))


@functools.lru_cache(maxsize=None)
def _graphdef(dim: int, hidden: int, num_arms: int):
    return nnx.split(nnx.eval_shape(lambda: MLP(dim, hidden, num_arms, rngs=nnx.Rngs(0))))[0]


class NeuralState(NamedTuple):
    params: Any  # nnx.State of the MLP
    opt_state: Any  # optax state; the learning rate is injected data
    buf_x: jax.Array  # [N, d]
    buf_a: jax.Array  # [N] int32
    buf_y: jax.Array  # [N]
    n: jax.Array  # observations so far
    key: jax.Array  # minibatch sampling
    ridge: Ridge  # Z_a on phi (neural_ucb / neural_ts); unused by neural_linear
    hp: jax.Array  # exploration scale (alpha, nu or v)
    reg: jax.Array


def _optimizer(lr):
    return optax.inject_hyperparams(optax.adam)(learning_rate=lr)


def _neural(explore: str, scale, *, hidden: int, buffer: int, batch: int, lr, reg) -> Policy:
    def model(state: NeuralState) -> MLP:
        d = state.buf_x.shape[1]
        K = state.ridge.b.shape[0]
        return nnx.merge(_graphdef(d, hidden, K), state.params)

    def init(key, spec: BanditSpec):
        k_net, k_buf = jax.random.split(key)
        net = MLP(spec.dim, hidden, spec.num_arms, rngs=nnx.Rngs(params=k_net))
        _, params = nnx.split(net)
        return NeuralState(
            params=params,
            opt_state=_optimizer(lr).init(params),
            buf_x=jnp.zeros((buffer, spec.dim), f32),
            buf_a=jnp.zeros((buffer,), jnp.int32),
            buf_y=jnp.zeros((buffer,), f32),
            n=jnp.zeros((), jnp.int32),
            key=k_buf,
            ridge=ridge_init(spec.num_arms, hidden, reg),
            hp=jnp.asarray(scale, f32),
            reg=jnp.asarray(reg, f32),
        )

    def posterior(state: NeuralState, phi: jax.Array):
        """Per-arm Bayesian linear regression on the buffer's current features."""
        net = model(state)
        feats = jax.vmap(net.features)(state.buf_x)  # [N, h]
        filled = (jnp.arange(buffer) < state.n).astype(f32)
        onehot = jax.nn.one_hot(state.buf_a, state.ridge.b.shape[0], dtype=f32) * filled[:, None]  # [N, K]
        gram = jnp.einsum("nk,ni,nj->kij", onehot, feats, feats) + state.reg * jnp.eye(hidden, dtype=f32)[None]
        b = jnp.einsum("nk,n,ni->ki", onehot, state.buf_y, feats)
        chol = jnp.linalg.cholesky(gram)
        solve = jax.vmap(lambda c, r: jax.scipy.linalg.cho_solve((c, True), r))
        theta = solve(chol, b)
        w = solve(chol, jnp.broadcast_to(phi, b.shape))
        return theta @ phi, jnp.sqrt(jnp.maximum(w @ phi, 0.0))

    def select(state: NeuralState, ctx: Context, key):
        net = model(state)
        phi = net.features(ctx.x)
        if explore == "linear":
            mean, width = posterior(state, phi)
        else:
            mean, width = net.head(phi), jnp.sqrt(ridge_width2(state.ridge, phi))
        mean = mean + known_reward(ctx)
        if explore == "ucb":
            return masked_argmax(mean + state.hp * width, ctx.mask), jnp.ones((), f32)
        std = state.hp * width
        arm = masked_argmax(mean + std * jax.random.normal(key, mean.shape, f32), ctx.mask)
        return arm, ts_propensities(mean, std, ctx.mask)[arm]

    def update(state: NeuralState, ctx: Context, arm, reward):
        y = residual(ctx, arm, reward)
        i = state.n % buffer
        buf_x, buf_a, buf_y = state.buf_x.at[i].set(ctx.x), state.buf_a.at[i].set(arm), state.buf_y.at[i].set(y)
        n = state.n + 1
        key, k_batch = jax.random.split(state.key)
        idx = jax.random.randint(k_batch, (batch,), 0, jnp.minimum(n, buffer))
        xb, ab, yb = buf_x[idx], buf_a[idx], buf_y[idx]
        graphdef = _graphdef(ctx.x.shape[0], hidden, state.ridge.b.shape[0])

        def loss(params):
            out = jax.vmap(nnx.merge(graphdef, params))(xb)
            pred = jnp.take_along_axis(out, ab[:, None], axis=1)[:, 0]
            return jnp.mean((pred - yb) ** 2)

        grads = jax.grad(loss)(state.params)
        updates, opt_state = _optimizer(lr).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ridge = state.ridge
        if explore != "linear":
            phi = model(state).features(ctx.x)  # features at observation time, as NeuralUCB
            ridge = ridge_update(ridge, arm, phi, y)
        return state._replace(
            params=params, opt_state=opt_state, buf_x=buf_x, buf_a=buf_a, buf_y=buf_y, n=n, key=key, ridge=ridge
        )

    return Policy(init, select, update)


def neural_linear(v=0.3, *, hidden: int = 32, buffer: int = 512, batch: int = 32, lr=3e-3, reg=1.0) -> Policy:
    """NeuralLinear (Riquelme et al. 2018): TS on a per-arm linear posterior over ``phi(x)``."""
    return _neural("linear", v, hidden=hidden, buffer=buffer, batch=batch, lr=lr, reg=reg)


def neural_ucb(alpha=0.5, *, hidden: int = 32, buffer: int = 512, batch: int = 32, lr=3e-3, reg=1.0) -> Policy:
    """NeuralUCB-style: ``f_a(x) + alpha * sqrt(phi^T Z_a^{-1} phi)`` (module docstring)."""
    return _neural("ucb", alpha, hidden=hidden, buffer=buffer, batch=batch, lr=lr, reg=reg)


def neural_ts(nu=0.5, *, hidden: int = 32, buffer: int = 512, batch: int = 32, lr=3e-3, reg=1.0) -> Policy:
    """NeuralTS-style: ``f_a(x) + nu * sqrt(phi^T Z_a^{-1} phi) * z_a``, exact propensity."""
    return _neural("ts", nu, hidden=hidden, buffer=buffer, batch=batch, lr=lr, reg=reg)
