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

Segments and checkpoints. The scanned steps run in segments (:func:`segment_bounds`: 8 of
500 steps at quick scale, 8 of 750 at paper, one for the smoke fleet), each its own compiled
program with its start step as a constant; with a ``checkpoint_dir`` the group's stacked
state and losses are saved after each (:class:`routerlab.train.unit_checkpoint.UnitCheckpoints`)
and a killed group resumes from the newest readable one, bit-identical to one scan of all
steps (which is what fleets were built with before segments, so their cache key is unchanged).

Evaluation (:func:`decode`): greedy decoding from the prompt, one full forward pass per new
token (answers are at most a few tokens), jitted and batched; exact match of ``answer EOS``.
:func:`answer_nll`: the teacher-forced negative log-likelihood of ``answer EOS`` given the
prompt, a smooth quality measure beside the threshold one (what "a larger model is better at
equal tokens" is a statement about: held-out loss).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
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
from routerlab.train.guard import name_nonfinite, scan_with_health
from routerlab.train.state import make_optimizer
from routerlab.train.step import TrainState, make_train_step, scan_steps, split_model
from routerlab.train.unit_checkpoint import UnitCheckpoints

__all__ = ["pools", "draw_batches", "answer_loss", "segment_bounds", "train_group", "decode", "answer_nll"]


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


def segment_bounds(steps: int) -> list[int]:
    """The steps after which a group's training stops to checkpoint (the last is ``steps``).

    Under 400 steps (seconds of training, the smoke fleet) one segment. Else 8, 10, 6, 5 or 4
    equal segments, the first count that divides ``steps``, or else segments of
    ``ceil(steps / 8)`` and a shorter last one (quick: 8 x 500 steps, paper: 8 x 750)."""
    if steps < 400:
        return [steps]
    n = next((n for n in (8, 10, 6, 5, 4) if steps % n == 0), None)
    size = steps // n if n is not None else -(-steps // 8)
    return list(range(size, steps, size)) + [steps]


@functools.lru_cache(maxsize=8)
def _train_fns(model_cfg: LMConfig, train_cfg: TrainConfig):
    """``(graphdef, start, segment)``, each jitted and vmapped over models:
    ``start(init_keys, data_keys, weights, sizes)`` the fresh states and every step's batch
    indices (one program), and
    ``segment(start, state, fam, row, pool_tokens, pool_mask)`` steps ``start + 1 ..`` on
    ``fam, row [M, n, B]``.

    ``start`` is static, one compiled program per segment: the segment sets the optimiser's
    step counts to the constant ``start`` (their value anyway), as the unsegmented program's
    counts start at the constant 0. XLA compiles the schedule of a loop whose count enters
    as a known constant differently from one whose count is a runtime input (the losses
    differ in the last float32 bit from the first step after warmup), so only this keeps every
    segmentation bit-identical to one scan of all steps from the initial state, i.e. to the
    fleets built before segments (tests/fleet/test_fleet_engine.py, test_fleet_resume.py)."""
    graphdef, _, _ = split_model(nnx.eval_shape(lambda: LM(model_cfg, rngs=nnx.Rngs(0))))
    tx = make_optimizer(train_cfg)

    def init_one(init_key):
        _, params, rest = split_model(LM(model_cfg, rngs=nnx.Rngs(params=init_key)))
        return TrainState(params, rest, tx.init(params))

    def start_one(init_key, data_key, weights, sizes):
        return init_one(init_key), draw_batches(data_key, weights, sizes, train_cfg.steps, train_cfg.batch_size)

    def segment_one(start, state, fam, row, pool_tokens, pool_mask, diagnose=False):
        def known(path, x):
            return jnp.full_like(x, start) if getattr(path[-1], "name", None) == "count" else x

        state = state._replace(opt_state=jax.tree_util.tree_map_with_path(known, state.opt_state))

        def loss_fn(params, rest, batch, key, mask_key):
            del key, mask_key  # dense models, next-token answers: no router noise, no masking
            f, r = batch
            loss = answer_loss(graphdef, params, rest, pool_tokens[f, r], pool_mask[f, r])
            zero = jnp.zeros((), jnp.float32)
            return loss, (loss, zero, {}, zero)

        no_keys = jnp.zeros((fam.shape[0],), jnp.uint32)  # unused: the step gets None
        if diagnose:  # every step's health, to name a failure's quantity (guard.name_nonfinite)
            run = scan_with_health(make_train_step(loss_fn, tx, diagnostics=True), noise=False, masked=False)
            return run(state, (fam, row), no_keys, no_keys)[1]
        run = scan_steps(make_train_step(loss_fn, tx, diagnostics=False), noise=False, masked=False)
        state, per_step = run(state, (fam, row), no_keys, no_keys)
        return state, per_step["loss"], per_step["ok"]

    jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE)

    def vmapped(start, *a, diagnose=False):
        return jax.vmap(functools.partial(segment_one, start, diagnose=diagnose), in_axes=(0, 0, 0, None, None))(*a)

    segment = jax.jit(vmapped, static_argnums=0, static_argnames="diagnose", compiler_options=FAST_COMPILE)
    return graphdef, jit(jax.vmap(start_one, in_axes=(0, 0, 0, None))), segment


def train_group(model_cfg: LMConfig, train_cfg: TrainConfig, weights: np.ndarray, init_keys, data_keys,
                pools: tuple[np.ndarray, np.ndarray, np.ndarray], *, checkpoint_dir: str | Path | None = None,
                fingerprint: dict[str, Any] | None = None,
                bounds: Sequence[int] | None = None) -> tuple[Any, Any, Any, np.ndarray]:
    """Train ``M`` models of one architecture in one program, in segments.

    ``weights [M, F]``: each model's family sampling weights; ``init_keys``, ``data_keys [M]``;
    ``pools`` from :func:`pools`. Returns ``(graphdef, params [M, ...], rest [M, ...], losses [M, steps])``.

    The steps run in segments ending at ``bounds`` (default :func:`segment_bounds`; ``[steps]``
    is one scan of every step); the result does not depend on them (the state carried from one
    segment to the next is the scan's carry; tests/fleet/test_fleet_resume.py checks it bit
    for bit). With ``checkpoint_dir``, the stacked state and the losses so far are saved after
    every segment but the last (:class:`routerlab.train.unit_checkpoint.UnitCheckpoints`, with
    ``fingerprint`` plus the models and bounds as the schedule), and a call with the same
    directory continues from the newest readable one. The caller removes the directory.

    Raises:
      FloatingPointError: a loss, gradient or updated state of some model was not finite
        (the engine's health check), naming the model's index and the first such step; the
        segment's state is not saved, so the last checkpoint is the last good state.
    """
    graphdef, start_fn, segment = _train_fns(model_cfg, train_cfg)
    tokens, mask, sizes = (jnp.asarray(a) for a in pools)
    bounds = list(segment_bounds(train_cfg.steps) if bounds is None else bounds)
    if not bounds or bounds[-1] != train_cfg.steps or any(b <= a for a, b in zip([0] + bounds, bounds)):
        raise ValueError(f"bounds must rise to steps={train_cfg.steps}; got {bounds}")
    # fam, row [M, steps, B]: every step's draws
    state, (fam, row) = start_fn(init_keys, data_keys, jnp.asarray(weights, jnp.float32), sizes)
    schedule = {**(fingerprint or {}), "models": int(np.shape(weights)[0]), "bounds": bounds}
    with UnitCheckpoints(checkpoint_dir) as ckpts:
        done, state, logs = ckpts.resume(state, schedule)
        losses = [np.asarray(logs.get("loss", np.zeros((len(weights), 0))), np.float32)]
        start = done
        for end in bounds:
            if end <= done:
                continue
            new_state, loss, ok = segment(start, state, fam[:, start:end], row[:, start:end], tokens, mask)
            ok = np.asarray(ok)
            if not ok.all():
                raise FloatingPointError(_nonfinite(segment, model_cfg, start, state, (fam[:, start:end],
                                                    row[:, start:end], tokens, mask), ok))
            state, start = new_state, end
            losses.append(np.asarray(loss, np.float32))
            if end < train_cfg.steps:
                ckpts.save(end, state, {"loss": np.concatenate(losses, axis=1).tolist()}, schedule)
    return graphdef, state.params, state.rest, np.concatenate(losses, axis=1)


def _nonfinite(segment, model_cfg: LMConfig, start: int, state, inputs: tuple, ok: np.ndarray) -> str:
    """One line naming the first non-finite step of a segment from step ``start + 1``: the model,
    the step and the quantity (a replay of the segment with the engine's full health check)."""
    arch = f"{model_cfg.d_model}x{model_cfg.n_layers}"
    metrics, health = jax.device_get(segment(start, state, *inputs, diagnose=True))
    named = name_nonfinite(metrics, health, list(range(ok.shape[0])), start, rename={"ce": "answer loss"},
                           label=lambda m: f"fleet model {m} of {arch}")
    if named is None:  # the replay stayed finite: report what the segment itself saw
        model, offset = (int(i) for i in np.argwhere(~ok)[0])
        return (f"fleet model {model} of {arch}: step {start + offset + 1}: non-finite loss, gradient or state "
                "(a replay with diagnostics stayed finite)")
    return named[0] + "; the last checkpoint is the last good state"


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


@functools.lru_cache(maxsize=8)
def _nll_fn(graphdef):
    def one_model(params, rest, tokens, mask):
        logits, _ = nnx.merge(graphdef, params, rest)(tokens[:, :-1])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:])  # [n, T] nats
        return jnp.sum(ce * mask, axis=1)

    return jax.jit(jax.vmap(one_model, in_axes=(0, 0, None, None)), compiler_options=FAST_COMPILE)


def answer_nll(graphdef, params, rest, pairs: Sequence[tuple[str, str]], seq_len: int,
               chunk: int = 1024) -> np.ndarray:
    """``[M, N]``: for each of ``M`` stacked models and each query, ``-log p(answer EOS | BOS
    prompt)`` in nats, teacher-forced (the sum of the cross-entropies of the answer's tokens and
    EOS, :func:`routerlab.fleet.tasks.answer_mask`), in ``chunk``-row batches."""
    full, plen, alen = encode_batch(pairs, seq_len)
    mask = answer_mask(plen, alen, seq_len)
    fn = _nll_fn(graphdef)
    outs = [np.asarray(fn(params, rest, jnp.asarray(full[i:i + chunk]), jnp.asarray(mask[i:i + chunk])), np.float64)
            for i in range(0, len(pairs), chunk)]
    return np.concatenate(outs, axis=1)
