"""Training and greedy decoding of a fleet's models, on the one training engine.

Training (:func:`train_group`). Models of one architecture train together in one compiled
program: ``jax.vmap`` over models of :func:`routerlab.train.step.scan_steps` over steps of
:func:`routerlab.train.step.make_train_step`, the engine every training path of routerlab
uses (its update, gradient norm and finiteness check). A model is defined by its
architecture, its seed and its *family weights* ``w [F]``: at step ``i`` batch row ``r``
picks a family from ``w`` and then a uniform example of that family's training pool, both
drawn from ``fold_in(data_key, i)``. The draws of every step are made first (``[steps, B]``
integer indices, small), and the step gathers its rows from the pools, so the pools are
never copied per step. The loss is the cross-entropy of the answer and EOS tokens only
(:func:`routerlab.fleet.tasks.answer_mask`). Optimiser:
:func:`routerlab.train.state.make_optimizer` (AdamW, warmup-cosine, clipping).

Evaluation (:func:`decode`): greedy decoding from the prompt, one full forward pass per new
token (answers are at most a few tokens), jitted and batched; exact match of ``answer EOS``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from routerlab.fleet.tasks import Suite, answer_mask, encode_batch
from routerlab.models.config import LMConfig
from routerlab.models.lm import LM
from routerlab.runtime import FAST_COMPILE
from routerlab.train.config import TrainConfig
from routerlab.train.state import make_optimizer
from routerlab.train.step import TrainState, make_train_step, scan_steps, split_model

__all__ = ["pools", "draw_batches", "answer_loss", "train_group", "decode"]


def pools(suite: Suite, families: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training pools stacked as ``tokens [F, N, T+1]``, ``mask [F, N, T]``, ``sizes [F]`` (padded rows unused)."""
    seq_len = suite.cfg.seq_len
    n = max(len(suite.train[f]) for f in families)
    tokens = np.zeros((len(families), n, seq_len + 1), np.int32)
    mask = np.zeros((len(families), n, seq_len), np.float32)
    sizes = np.zeros(len(families), np.int32)
    for i, f in enumerate(families):
        tok, plen, alen = encode_batch(suite.train[f], seq_len)
        tokens[i, : len(tok)], mask[i, : len(tok)] = tok, answer_mask(plen, alen, seq_len)
        sizes[i] = len(tok)
    return tokens, mask, sizes


def draw_batches(data_key: jax.Array, weights: jax.Array, sizes: jax.Array, steps: int, batch_size: int):
    """``(family [steps, B], row [steps, B])``: step ``i`` draws from ``fold_in(data_key, i)``
    a family per row from ``weights`` and a uniform row of that family's pool."""

    def one(i):
        k_fam, k_idx = jax.random.split(jax.random.fold_in(data_key, i))
        fam = jax.random.categorical(k_fam, jnp.log(weights), shape=(batch_size,))
        return fam, jax.random.randint(k_idx, (batch_size,), 0, sizes[fam])

    return jax.vmap(one)(jnp.arange(steps))


def answer_loss(graphdef: nnx.GraphDef, params: nnx.State, rest: nnx.State, tokens: jax.Array,
                mask: jax.Array) -> jax.Array:
    """Mean cross-entropy of ``tokens[:, 1:]`` over the positions where ``mask`` is 1 (answer and EOS)."""
    logits, _ = nnx.merge(graphdef, params, rest)(tokens[:, :-1])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:])
    return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


@functools.lru_cache(maxsize=8)
def _train_fn(model_cfg: LMConfig, train_cfg: TrainConfig):
    graphdef, _, _ = split_model(nnx.eval_shape(lambda: LM(model_cfg, rngs=nnx.Rngs(0))))
    tx = make_optimizer(train_cfg)

    def one_model(init_key, data_key, weights, pool_tokens, pool_mask, sizes):
        _, params, rest = split_model(LM(model_cfg, rngs=nnx.Rngs(params=init_key)))
        state = TrainState(params, rest, tx.init(params))

        def loss_fn(params, rest, batch, key, mask_key):
            del key, mask_key  # dense models, next-token answers: no router noise, no masking
            fam, row = batch
            loss = answer_loss(graphdef, params, rest, pool_tokens[fam, row], pool_mask[fam, row])
            zero = jnp.zeros((), jnp.float32)
            return loss, (loss, zero, {}, zero)

        run = scan_steps(make_train_step(loss_fn, tx, diagnostics=False), noise=False, masked=False)
        batches = draw_batches(data_key, weights, sizes, train_cfg.steps, train_cfg.batch_size)
        no_keys = jnp.zeros((train_cfg.steps,), jnp.uint32)  # unused: the step gets None
        state, per_step = run(state, batches, no_keys, no_keys)
        return state.params, state.rest, per_step["loss"], per_step["ok"]

    fn = jax.vmap(one_model, in_axes=(0, 0, 0, None, None, None))
    return graphdef, jax.jit(fn, compiler_options=FAST_COMPILE)


def train_group(model_cfg: LMConfig, train_cfg: TrainConfig, weights: np.ndarray, init_keys, data_keys,
                pools: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[Any, Any, Any, np.ndarray]:
    """Train ``M`` models of one architecture in one program.

    ``weights [M, F]``: each model's family sampling weights; ``init_keys``, ``data_keys [M]``;
    ``pools`` from :func:`pools`. Returns ``(graphdef, params [M, ...], rest [M, ...], losses [M, steps])``.

    Raises:
      FloatingPointError: a loss, gradient or updated state of some model was not finite
        (the engine's health check), naming the model's index and the first such step.
    """
    graphdef, fn = _train_fn(model_cfg, train_cfg)
    tokens, mask, sizes = (jnp.asarray(a) for a in pools)
    params, rest, losses, ok = fn(init_keys, data_keys, jnp.asarray(weights, jnp.float32), tokens, mask, sizes)
    losses, ok = np.asarray(losses), np.asarray(ok)
    if not ok.all():
        model, step = np.argwhere(~ok)[0]
        raise FloatingPointError(f"fleet model {model} of {model_cfg.d_model}x{model_cfg.n_layers}: "
                                 f"non-finite loss, gradient or state at step {step + 1}")
    return graphdef, params, rest, losses


@functools.lru_cache(maxsize=8)
def _decode_fn(graphdef, max_new: int):
    def one_model(params, rest, tokens, plen):
        model = nnx.merge(graphdef, params, rest)
        rows = jnp.arange(tokens.shape[0])
        last = tokens.shape[1] - 1

        def body(j, toks):
            logits, _ = model(toks[:, :-1])
            pos = jnp.minimum(plen - 1 + j, last - 1)
            nxt = jnp.argmax(logits[rows, pos], axis=-1).astype(toks.dtype)
            return toks.at[rows, pos + 1].set(nxt)

        return jax.lax.fori_loop(0, max_new, body, tokens)

    return jax.jit(jax.vmap(one_model, in_axes=(0, 0, None, None)), compiler_options=FAST_COMPILE)


def decode(graphdef, params, rest, pairs: Sequence[tuple[str, str]], seq_len: int,
           chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy answers of ``M`` stacked models to ``pairs``.

    Returns ``correct [M, N]`` (exact match of ``answer EOS``), ``tokens_in [N]`` (prompt with
    BOS) and ``tokens_out [M, N]`` (generated tokens up to and including the first EOS).
    """
    full, plen, alen = encode_batch(pairs, seq_len)
    max_new = int(alen.max())
    prompt = np.where(np.arange(seq_len + 1)[None, :] < plen[:, None], full, 0).astype(np.int32)
    fn = _decode_fn(graphdef, max_new)
    outs = []
    for start in range(0, len(pairs), chunk):
        sl = slice(start, start + chunk)
        outs.append(np.asarray(fn(params, rest, jnp.asarray(prompt[sl]), jnp.asarray(plen[sl]))))
    gen = np.concatenate(outs, axis=1)  # [M, N, T+1]
    offs = plen[:, None] + np.arange(max_new)[None, :]  # [N, max_new] positions of generated tokens
    offs = np.minimum(offs, seq_len)
    generated = np.take_along_axis(gen, np.broadcast_to(offs[None], (gen.shape[0],) + offs.shape), axis=2)
    target = np.take_along_axis(full, offs, axis=1)
    within = np.arange(max_new)[None, :] < alen[:, None]
    correct = np.all((generated == target[None]) | ~within[None], axis=2)
    is_eos = generated == 2
    first = np.where(is_eos.any(axis=2), is_eos.argmax(axis=2) + 1, max_new)
    return correct, plen.astype(np.int64), first.astype(np.int64)
