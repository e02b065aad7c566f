"""Train the seeds of one language-model config together: ``jax.vmap`` over seeds of a ``lax.scan`` over steps.

:func:`train_seeds` is the sweep counterpart of :func:`routerlab.train.train`. It runs the same
training engine: the pure step and the evaluation step of :func:`routerlab.train.loop.engine_steps`
(loss, AdamW on the warmup-cosine schedule, the DeepSeek bias update, the objective; RL-R's loss
with ``reinforce_pg_weight``), :func:`routerlab.train.loop.init_state`, and the same named
key streams (``params``, ``data``, ``("router_noise", step)``, ``("mask", step)``) per seed, so
seed ``s`` here sees exactly the initialisation, batches, router noise and masks that
``train(replace(cfg, seed=s))`` sees, and its loss curve agrees with that path to float
tolerance (``tests/studies/test_lm_moe.py``). Evaluation masks (masked objective) are the
fixed ones of :func:`routerlab.train.objective.eval_mask_key`, batch by batch as in
:func:`routerlab.train.loop.evaluate`.

Steps run in segments of ``eval_every`` (the last one possibly shorter): one compiled program
``scan_steps(step)`` (:func:`routerlab.train.step.scan_steps`) per segment length, compiled once per config
(its rate aside) with :data:`routerlab.runtime.FAST_COMPILE`, and run over the seeds as ``batching``
says. The peak learning rate is not part of that program: it is optimiser state
(:func:`routerlab.train.state.make_optimizer` with ``lr_in_state``), so every rate of a study's grid
runs one program (keyed on :func:`_program_config`), and evaluation runs in calls of
:data:`EVAL_CHUNK` batches, so one evaluation program serves every split. A rate held in state
trains bit for bit as the same rate compiled in (``tests/train/test_engine.py``), so runs recorded
when each rate compiled its own program are reproduced.

* ``vmap`` (the default): one ``vmap``-ed program trains every seed at once; every recorded
  LM run was made this way.
* ``loop``: the *unbatched* program runs once per seed and the results are stacked, so a
  seed's numbers do not depend on which other seeds share its call (seed ``s`` of a loop is
  bit for bit ``train_seeds(cfg, [s], batching="loop")``).

The two agree to float tolerance, not bit for bit (XLA fuses a batched program differently).
Neither is clearly faster on CPU. A hand-timed pilot (2026-12-01, the quick studies' arms:
one block, d_model 32, FFN 32, 3 seeds of 32 x 64 bytes, each process pinned to one core as
two studies on two cores run) had the loop ~34% (dense) and ~36% (Switch E=8) faster per
seed-step, but ``routerlab bench lm`` (one block, d_model 32, FFN 128, 3 seeds x 50 steps per
call, medians of 7) measured ``loop_over_vmap`` 1.00 (dense) and 0.92 (top-1 MoE) pinned to
one core and 1.26 / 1.03 unpinned on the loaded machine: the pilot's gain did not replicate.
So the default stays ``vmap``; :data:`BATCHING_ENV` (``ROUTERLAB_SEED_BATCHING=loop``)
switches every LM study to the loop, and the LM unit cache keys on it. A run records its
``seed_batching``; mid-unit checkpoints of the other path are not resumed. Evaluations and
the knowledge readout run per seed the same way.

After each segment every seed is evaluated on the same
fixed validation batches as :func:`routerlab.train.loop.evaluate`; after the last, on every
full test batch. Evaluation batches mix the domains as training batches do
(:meth:`routerlab.models.corpus.Corpus.eval_batches` with ``mixed``), so that routing metrics,
drops and dead experts are those of the training distribution; the final validation windows
are also read in domain-pure batches for the per-domain specialisation readout.

**Mid-unit checkpoints.** With ``checkpoint_dir``, the stacked state of all seeds and the logs
so far are saved after every segment but the last (:class:`routerlab.train.unit_checkpoint.UnitCheckpoints`),
and a call with the same directory continues from the newest readable one: the segments are
the evaluation cadence, so checkpointing changes no compiled program and no number, and the
result (``final_params`` included) is identical to an uninterrupted call's. The caller deletes
the directory once the unit is recorded.

**Non-finite numbers** stop the sweep with :class:`routerlab.train.NonFiniteError`: the bad
segment is run again from its starting state with every step's health
(:func:`routerlab.train.guard.scan_with_health`), and the one-line message names the seed, the
first bad step and the quantity (``seed 1: step 7: grad norm of layers.0.ffn.w_in is inf``),
plus the last good checkpoint, which is kept.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from routerlab.models.accounting import flops_per_token, param_count
from routerlab.models.config import LMConfig
from routerlab.models.corpus import DOMAINS, build_corpus
from routerlab.rng import stream_key
from routerlab.runtime import FAST_COMPILE
from routerlab.train.config import LMRunConfig, TrainConfig
from routerlab.train.guard import name_nonfinite, scan_with_health
from routerlab.train.loop import NonFiniteError, engine_steps, init_state
from routerlab.train.objective import check_mask_id, eval_mask_keys
from routerlab.train.step import scan_steps
from routerlab.train.unit_checkpoint import UnitCheckpoints

__all__ = ["train_seeds", "eval_points", "SEED_BATCHING", "BATCHING_ENV", "seed_batching", "over_seeds"]

#: ``batching`` values of :func:`train_seeds` (module docstring).
SEED_BATCHING = ("vmap", "loop")
#: The environment variable that sets :func:`train_seeds`'s default ``batching`` (unset: ``vmap``).
BATCHING_ENV = "ROUTERLAB_SEED_BATCHING"


def seed_batching(mode: str | None = None) -> str:
    """``mode``, or where it is ``None`` the value of :data:`BATCHING_ENV` (unset: ``vmap``);
    anything but ``vmap`` or ``loop`` is a ValueError naming where it came from."""
    where = "batching"
    if mode is None:
        mode, where = os.environ.get(BATCHING_ENV) or "vmap", BATCHING_ENV
    if mode not in SEED_BATCHING:
        raise ValueError(f"{where} must be one of {', '.join(SEED_BATCHING)}; got {mode!r}")
    return mode


def over_seeds(fn: Callable, mode: str, in_axes: tuple[int | None, ...] | int = 0, **jit_kw: Any) -> Callable:
    """``fn`` (one seed's computation) jitted over a leading seed axis of the ``in_axes == 0``
    arguments: ``jit(vmap(fn, in_axes))``, or with ``mode="loop"`` ``jit(fn)`` called once per
    seed on that seed's slices and the outputs stacked (``mode`` as :func:`seed_batching` resolves it)."""
    if mode == "vmap":
        return jax.jit(jax.vmap(fn, in_axes=in_axes), **jit_kw)
    if mode != "loop":
        raise ValueError(f"over_seeds needs a resolved mode, vmap or loop; got {mode!r}")
    one = jax.jit(fn, **jit_kw)

    def call(*args: Any) -> Any:
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        n = next(len(jax.tree.leaves(a)[0]) for a, ax in zip(args, axes) if ax == 0)
        outs = [one(*(a if ax is None else jax.tree.map(lambda x, i=i: x[i], a) for a, ax in zip(args, axes)))
                for i in range(n)]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)

    return call


def eval_points(tc: TrainConfig) -> list[int]:
    """Steps (1-based) after which a sweep evaluates: multiples of ``eval_every`` and the last step."""
    points = list(range(tc.eval_every, tc.steps + 1, tc.eval_every))
    if not points or points[-1] != tc.steps:
        points.append(tc.steps)
    return points


def _program_config(tc: TrainConfig) -> TrainConfig:
    """``tc`` with the peak rate at the trainer's default: the compiled training program
    depends on everything of ``tc`` but its rate, which the state carries
    (``make_optimizer(..., lr_in_state=True)``), so every rate of a grid shares one program."""
    return replace(tc, lr=TrainConfig.lr)


@functools.lru_cache(maxsize=16)
def _segment_fn(model_cfg: LMConfig, train_cfg: TrainConfig, noise: bool, pg_weight: float | None = None,
                batching: str = "vmap"):
    """:func:`~routerlab.train.step.scan_steps` of the engine's step over seeds (:func:`over_seeds`);
    callers pass :func:`_program_config` of their train config."""
    step, _ = engine_steps(model_cfg, train_cfg, pg_weight, lr_in_state=True)
    run = scan_steps(step, noise=noise, masked=train_cfg.objective == "masked")
    return over_seeds(run, batching, compiler_options=FAST_COMPILE)


@functools.lru_cache(maxsize=4)
def _diagnose_fn(model_cfg: LMConfig, train_cfg: TrainConfig, noise: bool, pg_weight: float | None = None,
                 batching: str = "vmap"):
    """:func:`_segment_fn` returning every step's health, to name a failure's quantity."""
    step, _ = engine_steps(model_cfg, train_cfg, pg_weight, lr_in_state=True)
    run = scan_with_health(step, noise=noise, masked=train_cfg.objective == "masked")
    return over_seeds(run, batching, compiler_options=FAST_COMPILE)


def _nonfinite(cfg: LMRunConfig, pg_weight: float | None, seeds: list[int], start: int, segment_start_state: Any,
               inputs: tuple, bad: np.ndarray, saved: list[int], batching: str = "vmap") -> NonFiniteError:
    """The error for a segment from step ``start + 1`` whose per-step ``ok`` is false at ``bad``."""
    diagnose = _diagnose_fn(cfg.model, _program_config(cfg.train), cfg.train.router_noise, pg_weight, batching)
    _, (metrics, health) = jax.device_get(diagnose(segment_start_state, *inputs))
    named = name_nonfinite(metrics, health, seeds, start)
    if named is None:  # the replay stayed finite: report what the segment itself saw
        seed_index, offset = (int(i[0]) for i in np.nonzero(bad))
        named = (f"seed {seeds[seed_index]}: step {start + offset + 1}: non-finite loss, gradient or parameter "
                 "(a replay with diagnostics stayed finite)", start + offset + 1)
    message, step = named
    kept = f"; last good checkpoint: step {saved[-1]}" if saved else ""
    return NonFiniteError(message + kept, step)


def _eval_config(tc: TrainConfig) -> TrainConfig:
    """What the evaluation program depends on of ``tc``: the objective (and its mask rate), not
    the rate, schedule or length, so that a variant's units at every rate of a grid share one
    compiled evaluation (``TrainConfig``'s defaults elsewhere)."""
    return TrainConfig(objective=tc.objective, mask_rate=tc.mask_rate)


@functools.lru_cache(maxsize=16)
def _eval_fn(model_cfg: LMConfig, train_cfg: TrainConfig, pg_weight: float | None = None, batching: str = "vmap"):
    """The evaluation step over seeds; callers pass :func:`_eval_config` of their train config."""
    _, eval_step = engine_steps(model_cfg, train_cfg, pg_weight)
    masked = train_cfg.objective == "masked"

    def one_seed(params, rest, batches, mask_keys):
        return jax.lax.map(lambda b: eval_step(params, rest, b[0], b[1] if masked else None), (batches, mask_keys))

    return over_seeds(one_seed, batching, in_axes=(0, 0, None, None), compiler_options=FAST_COMPILE)


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _mean_routing(routing: dict, batches: Any = slice(None)) -> dict[str, dict[str, np.ndarray]]:
    """Each MoE layer's metrics averaged over the selected batches (axis 1): ``{layer: {metric: [S, ...]}}``."""
    return {str(layer): {name: np.asarray(v, np.float64)[:, batches].mean(axis=1) for name, v in metrics.items()
                         if name != "logp"}  # RL-R's per-token log-probabilities
            for layer, metrics in routing.items()}


#: Batches per call of the compiled evaluation: every split and readout is evaluated in calls of
#: this many (the last padded), so a config compiles one evaluation program, not one per split size.
EVAL_CHUNK = 4


def _evaluate(fn, state, batches: np.ndarray) -> tuple[np.ndarray, dict]:
    """``fn`` (:func:`_eval_fn`) over ``batches [nb, B, T + 1]`` in calls of :data:`EVAL_CHUNK`
    batches; the last call is padded with copies of the split's last batch, whose outputs are
    dropped. Batch ``i`` keeps evaluation mask key ``i``. Each batch's numbers do not depend on the
    chunking (``jax.lax.map`` evaluates one batch at a time; ``tests/studies/test_lm_sweep_eval.py``)."""
    count = len(batches)
    keys = eval_mask_keys(count)
    parts = []
    for lo in range(0, count, EVAL_CHUNK):
        idx = np.minimum(np.arange(lo, lo + EVAL_CHUNK), count - 1)
        out = jax.device_get(fn(state.params, state.rest, jnp.asarray(batches[idx]), keys[idx]))
        parts.append(jax.tree.map(lambda x, n=min(EVAL_CHUNK, count - lo): np.asarray(x)[:, :n], out))
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *parts)  # [S, nb, ...]


def _eval_split(fn, state, batches: np.ndarray, domains: np.ndarray) -> dict[str, Any]:
    """Losses (``domains [nb, B]``: each window's domain) and routing metrics of ``batches``."""
    ce_seq, routing = _evaluate(fn, state, batches)  # [S, nb, B], {layer: [S, nb, ...]}
    num_seeds = ce_seq.shape[0]
    out: dict[str, Any] = {"loss": ce_seq.reshape(num_seeds, -1).astype(np.float64).mean(axis=1)}
    out["loss_by_domain"] = {DOMAINS[d]: ce_seq[:, domains == d].reshape(num_seeds, -1).astype(np.float64).mean(axis=1)
                             for d in np.unique(domains)}
    out["routing"] = _mean_routing(routing)
    return out


def _routing_by_domain(fn, state, batches: np.ndarray, domains: np.ndarray) -> dict[str, Any]:
    """The specialisation readout: routing metrics per domain, on domain-pure batches."""
    _, routing = _evaluate(fn, state, batches)
    first = domains[:, 0]
    return {DOMAINS[d]: _mean_routing(routing, first == d) for d in np.unique(first)}


def _split_batches(corpus, split: str, batch_size: int, max_batches: int | None,
                   mixed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens [nb, B, T + 1], domains [nb, B])``: mixed-domain batches as training sees them
    (:meth:`~routerlab.models.corpus.Corpus.eval_batches`), or its domain-pure ones."""
    batches = list(corpus.eval_batches(split, batch_size, max_batches, mixed=mixed))
    return np.stack([b.tokens for b in batches]), np.stack([b.domain for b in batches])


def train_seeds(cfg: LMRunConfig, seeds: Sequence[int], *, reinforce_pg_weight: float | None = None,
                keep_params: bool = False, checkpoint_dir: str | Path | None = None,
                batching: str | None = None) -> dict[str, Any]:
    """Train ``cfg`` once per seed in ``seeds`` (``cfg.seed`` is ignored), all seeds in one program.

    ``reinforce_pg_weight``: train the MoE layers as RL-R routers (:mod:`routerlab.moe.reinforce`)
    with this weight on the policy-gradient loss; they start from the parameters a standard MoE
    of ``cfg`` would (same init stream), and need ``cfg.train.router_noise`` (the sampling key).

    Returns numpy arrays with a leading seed axis ``S``:

    * ``eval_steps [n]``: steps of the validation evaluations (:func:`eval_points`);
    * ``val_loss [S, n]``: mean validation cross-entropy (nats/token; of the masked
      positions under the masked objective) after each;
    * ``train_loss``, ``train_ce``, ``train_aux [S, steps]``: per-step training loss, its
      cross-entropy and auxiliary parts (the ``train`` records of the single-model path);
    * ``val``, ``test``: the final evaluation of each split: ``loss [S]``,
      ``loss_by_domain {domain: [S]}``, ``routing {layer: {metric: [S, ...]}}`` (MoE layers'
      routing metrics averaged over the split's mixed-domain batches, as in ``routerlab.train``'s
      records); ``val`` also holds ``routing_by_domain {domain: {layer: {metric: [S, ...]}}}``,
      the same metrics on domain-pure validation batches (the specialisation readout);
    * ``params``, ``flops_per_token`` ({total, active}) and ``tokens_per_step``;
    * with ``keep_params``, ``final_params``: the trained parameters of every seed (a pytree of
      numpy arrays with the leading seed axis), for evaluations a study defines itself, and
      ``final_rest``: the rest of the state alike (router biases of the loss-free balancer).

    * ``seed_batching``: ``vmap`` or ``loop``, how the seeds ran (``batching``, default
      :func:`seed_batching`'s: module docstring).

    ``checkpoint_dir``: save mid-unit checkpoints there and resume from them (module docstring).
    """
    batching = seed_batching(batching)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("train_seeds needs at least one seed")
    tc = cfg.train
    corpus = build_corpus(cfg.data, cfg.model.seq_len)
    masked = tc.objective == "masked"
    if masked:
        check_mask_id(corpus)
    if masked and reinforce_pg_weight is not None:
        raise ValueError("RL-R's reward is the next-token cross-entropy; it is not defined for the masked objective")
    states = [init_state(replace(cfg, seed=s), lr_in_state=True) for s in seeds]  # the rate is state
    state = _stack(states)
    del states
    tokens = np.stack([corpus.batches(stream_key(s, "data"), tc.steps, tc.batch_size).tokens
                       for s in seeds])  # [S, steps, B, T + 1]: batch i of seed s is corpus.batch(..., i, ...)
    steps = jnp.arange(tc.steps)
    keys = jnp.stack([jax.vmap(lambda i, base=stream_key(s, "router_noise"): jax.random.fold_in(base, i))(steps)
                      for s in seeds])  # [S, steps], key ("router_noise", i) of each seed
    mask_keys = jnp.stack([jax.vmap(lambda i, base=stream_key(s, "mask"): jax.random.fold_in(base, i))(steps)
                           for s in seeds])  # [S, steps], key ("mask", i); unused by next_token
    if reinforce_pg_weight is not None and not tc.router_noise:
        raise ValueError("RL-R samples experts with the router_noise key; set train.router_noise=true")
    segment = _segment_fn(cfg.model, _program_config(tc), tc.router_noise, reinforce_pg_weight, batching)
    evaluate = _eval_fn(cfg.model, _eval_config(tc), reinforce_pg_weight, batching)
    val_batches, val_domains = _split_batches(corpus, "val", tc.batch_size, tc.eval_batches)

    points = eval_points(tc)
    fingerprint = {"seeds": seeds, "eval_steps": points, "seed_batching": batching}
    with UnitCheckpoints(checkpoint_dir) as ckpts:
        done, state, saved_logs = ckpts.resume(state, fingerprint)
        logs = [{k: np.asarray(v, np.float32) for k, v in seg.items()} for seg in saved_logs.get("train", [])]
        val_loss = [np.asarray(v, np.float64) for v in saved_logs.get("val_loss", [])]
        saved, start = ckpts.steps(), done
        for end in points:
            if end <= done:
                continue
            inputs = (jnp.asarray(tokens[:, start:end]), keys[:, start:end], mask_keys[:, start:end])
            new_state, out = segment(state, *inputs)
            out = jax.device_get(out)
            bad = ~np.asarray(out["ok"])
            if bad.any():
                raise _nonfinite(cfg, reinforce_pg_weight, seeds, start, state, inputs, bad, saved, batching)
            state = new_state
            logs.append({k: np.asarray(out[k], np.float32) for k in ("loss", "ce", "aux_loss")})
            val = _eval_split(evaluate, state, val_batches, val_domains)
            val_loss.append(val["loss"])
            start = end
            if end < tc.steps:
                ckpts.save(end, state, {"train": [{k: v.tolist() for k, v in seg.items()} for seg in logs],
                                        "val_loss": [v.tolist() for v in val_loss]}, fingerprint)
                saved.append(end)
    test_batches, test_domains = _split_batches(corpus, "test", tc.batch_size, None)
    test = _eval_split(evaluate, state, test_batches, test_domains)
    val["routing_by_domain"] = _routing_by_domain(evaluate, state, *_split_batches(
        corpus, "val", tc.batch_size, tc.eval_batches, mixed=False)) if val["routing"] else {}
    cat = lambda name: np.concatenate([np.asarray(o[name], np.float64) for o in logs], axis=1)  # noqa: E731
    out = {
        "eval_steps": np.array(points),
        "val_loss": np.stack(val_loss, axis=1),
        "train_loss": cat("loss"),
        "train_ce": cat("ce"),
        "train_aux": cat("aux_loss"),
        "val": val,
        "test": test,
        "params": param_count(cfg.model),
        "flops_per_token": flops_per_token(cfg.model),
        "tokens_per_step": tc.batch_size * cfg.model.seq_len,
        "seed_batching": batching,
    }
    if keep_params:
        out["final_params"] = jax.device_get(state.params)
        out["final_rest"] = jax.device_get(state.rest)  # non-Param state, e.g. trained router biases
    return out
