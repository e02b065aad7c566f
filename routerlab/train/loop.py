"""The training loop: batches, jitted steps, metrics, evaluation, checkpoints, resume.

:func:`train` runs one :class:`LMRunConfig` inside a :class:`~routerlab.rundir.RunDir`:

* Randomness comes from :class:`~routerlab.rng.KeyStreams` under ``cfg.seed``:
  ``params`` (init), ``data`` (batch order, :meth:`Corpus.batch`),
  ``("router_noise", step)`` and, under the masked objective, ``("mask", step)``; evaluation
  masks are fixed (:func:`routerlab.train.objective.eval_mask_key`). Every input of step
  ``s`` is a function of ``(cfg, s)``.
* Step ``s`` (1-based) writes, in this order: a ``train`` record (every ``log_every``), a
  ``val`` record (every ``eval_every``), at the last step a ``test`` record, then the
  checkpoint (every ``ckpt_every``, and the last step). Records hold no timings, so the
  same config and seed give byte-identical ``metrics.jsonl`` on one machine.
* Resuming restores the newest checkpoint (parameters, optimiser state, router biases;
  its directory name is the step), drops the records written after it, and continues:
  the finished ``metrics.jsonl`` is byte-identical to an uninterrupted run's.
* Non-finite numbers stop the run (:class:`NonFiniteError`, one line naming the step and
  the quantity) before anything of that step is logged or checkpointed, so the newest
  checkpoint is always a good state.

Several trainings can share one run directory as named *units* (``unit="moe-8"``): their
records carry ``"unit"`` and their checkpoints live in ``ckpt/<unit>/``.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from routerlab.models.accounting import flops_per_token, param_count, training_flops
from routerlab.models.config import LMConfig
from routerlab.models.corpus import DOMAINS, Corpus, build_corpus
from routerlab.models.lm import LM
from routerlab.rng import KeyStreams
from routerlab.rundir import RunDir, RunDirError, atomic_write_text
from routerlab.train.checkpoint import Checkpoints, check_resume_records, expected_records
from routerlab.train.config import LMRunConfig, TrainConfig
from routerlab.train.objective import check_mask_id, eval_mask_key
from routerlab.train.state import init_state, make_optimizer, make_schedule
from routerlab.train.step import (
    TrainState,
    lm_loss,
    make_eval_step,
    make_train_step,
    nonfinite_message,
    router_bias_update,
    split_model,
    uses_router_bias,
)

__all__ = [
    "NonFiniteError",
    "train",
    "make_schedule",
    "make_optimizer",
    "init_state",
    "compiled_steps",
    "engine_steps",
    "evaluate",
    "truncate_metrics",
    "to_python",
]


class NonFiniteError(FloatingPointError):
    """A non-finite loss, gradient or parameter; ``str(err)`` is one line naming step and quantity."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


@functools.lru_cache(maxsize=16)
def engine_steps(model_cfg: LMConfig, train_cfg: TrainConfig, pg_weight: float | None = None, *,
                 lr_in_state: bool = False) -> tuple[Callable, Callable]:
    """``(step, eval_step)`` of this model, optimiser and objective: ``step`` is the pure
    :func:`~routerlab.train.step.make_train_step` (with diagnostics) that every training path
    compiles (:func:`train` one step per call, :func:`routerlab.studies.lm_sweep.train_seeds`
    under ``vmap(scan)``), ``eval_step`` the jitted :func:`~routerlab.train.step.make_eval_step`.

    ``pg_weight``: the MoE layers are RL-R layers (:mod:`routerlab.moe.reinforce`, starting
    from the standard MoE's parameters) trained on ``reinforce_lm_loss`` with this weight on
    the policy-gradient loss (next-token objective only).

    ``lr_in_state``: the step reads the peak learning rate from the optimiser state
    (:func:`~routerlab.train.state.make_optimizer`), so ``train_cfg.lr`` does not enter the
    program; the state must come from ``init_state(..., lr_in_state=True)``.
    """
    tx = make_optimizer(train_cfg, lr_in_state=lr_in_state)
    if pg_weight is not None:
        from routerlab.moe.reinforce import reinforce_lm, reinforce_lm_loss

        graphdef, _, _ = split_model(nnx.eval_shape(lambda: reinforce_lm(LM(model_cfg, rngs=nnx.Rngs(0)))))

        def loss_fn(params, rest, tokens, key, mask_key):
            del mask_key  # RL-R trains on next tokens only
            return reinforce_lm_loss(graphdef, params, rest, tokens, key, pg_weight)

        return make_train_step(loss_fn, tx), make_eval_step(graphdef)
    graphdef, _, rest = split_model(nnx.eval_shape(lambda: LM(model_cfg, rngs=nnx.Rngs(0))))
    objective = dict(objective=train_cfg.objective, mask_rate=train_cfg.mask_rate)
    loss_fn = functools.partial(lm_loss, graphdef, **objective)
    bias = functools.partial(router_bias_update, graphdef) if uses_router_bias(rest) else None
    return (make_train_step(loss_fn, tx, rest_update=bias),
            make_eval_step(graphdef, **objective))


@functools.lru_cache(maxsize=8)
def compiled_steps(model_cfg: LMConfig, train_cfg: TrainConfig) -> tuple[Callable, Callable]:
    """``(train_step, eval_step)`` jitted for this model, optimiser and objective (cached per
    process, so repeated runs of one config compile once): :func:`engine_steps`' step under
    :func:`jax.jit`, ``train_step(state, tokens, key, mask_key=None) -> (state, metrics, health)``."""
    step, eval_step = engine_steps(model_cfg, train_cfg)
    return jax.jit(step), eval_step


def to_python(value: Any) -> Any:
    """Arrays to JSON-ready Python numbers (floats keep their exact float32 value)."""
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    arr = np.asarray(value)
    if arr.dtype.kind in "iub":
        return arr.tolist()
    return arr.astype(np.float64).tolist()


def _check_finite(step: int, record: dict[str, Any], prefix: str = "") -> None:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _check_finite(step, value, f"{name}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise NonFiniteError(f"step {step}: {name} is {value}", step)
        elif isinstance(value, list) and not all(math.isfinite(v) for v in value):
            raise NonFiniteError(f"step {step}: {name} has a non-finite entry", step)


def evaluate(
    eval_step: Callable,
    state: TrainState,
    corpus: Corpus,
    split: str,
    batch_size: int,
    max_batches: int | None,
    *,
    masked: bool = False,
) -> dict[str, Any]:
    """Cross-entropy and routing metrics of ``split`` on fixed batches.

    ``masked``: the eval step is the masked objective's; batch ``i`` of the split is masked
    with :func:`~routerlab.train.objective.eval_mask_key` ``(i)``, the same in every run.

    Returns ``loss`` (mean over windows), ``loss_by_domain`` and ``routing`` (each MoE layer's
    metrics averaged over batches), all on batches that mix the domains as training batches do
    (:meth:`~routerlab.models.corpus.Corpus.eval_batches` with ``mixed``: a capacity router's
    drops and an expert-choice router's load depend on the batch), and ``routing_by_domain``:
    the same windows in domain-pure batches, each domain's routing metrics (the specialisation
    readout: e.g. ``routing_by_domain.code.1.load`` is block 1's expert load on code).
    ``max_batches`` is per domain.
    """

    def run(mixed: bool):
        for index, batch in enumerate(corpus.eval_batches(split, batch_size, max_batches, mixed=mixed)):
            mask_key = eval_mask_key(index) if masked else None
            ce_seq, layer_metrics = eval_step(state.params, state.rest, jnp.asarray(batch.tokens), mask_key)
            yield batch.domain, np.asarray(ce_seq, np.float64), jax.device_get(layer_metrics)

    def mean(trees: list[Any]) -> Any:
        return jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0), *trees)

    domains, ces, routing = zip(*run(mixed=True))
    domain, ce = np.concatenate(domains), np.concatenate(ces)
    by_domain: dict[str, list[Any]] = {}
    for labels, _, metrics in run(mixed=False):
        by_domain.setdefault(DOMAINS[int(labels[0])], []).append(metrics)
    return {
        "loss": float(ce.mean()),
        "loss_by_domain": {DOMAINS[d]: float(ce[domain == d].mean()) for d in np.unique(domain)},
        "routing": to_python(mean(list(routing))),
        "routing_by_domain": {d: to_python(mean(v)) for d, v in by_domain.items()},
    }


def truncate_metrics(run: RunDir, step: int, unit: str | None = None) -> int:
    """Drop the records of ``unit`` logged after ``step`` (keeping every other line byte for byte).

    Returns the number of lines dropped.
    """
    path = run.metrics_path
    if not path.exists():
        return 0
    keep, dropped = [], 0
    for line in path.read_text().splitlines(keepends=True):
        record = json.loads(line)
        if record.get("unit") == unit and record.get("step", 0) > step:
            dropped += 1
        else:
            keep.append(line)
    if dropped:
        atomic_write_text(path, "".join(keep))
    return dropped


def _records(run: RunDir, unit: str | None) -> list[dict[str, Any]]:
    return [r for r in run.records() if r.get("unit") == unit]


def _summary(cfg: LMRunConfig, run: RunDir, unit: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    records = _records(run, unit)
    last = {split: [r for r in records if r.get("split") == split] for split in ("train", "val", "test")}
    tokens = cfg.train.steps * cfg.train.batch_size * cfg.model.seq_len
    summary = {
        "steps": cfg.train.steps,
        "tokens": tokens,
        "params": param_count(cfg.model),
        "flops_per_token": flops_per_token(cfg.model),
        "train_flops": training_flops(cfg.model, tokens),
        "final_train_loss": last["train"][-1]["loss"] if last["train"] else None,
        "final_val_loss": last["val"][-1]["loss"] if last["val"] else None,
        "val_loss_by_domain": last["val"][-1]["loss_by_domain"] if last["val"] else None,
        "test_loss": last["test"][-1]["loss"] if last["test"] else None,
        "test_loss_by_domain": last["test"][-1]["loss_by_domain"] if last["test"] else None,
    }
    if unit is not None:
        summary["unit"] = unit
    summary.update(extra)
    return summary


def train(
    cfg: LMRunConfig,
    run: RunDir,
    *,
    resume: bool = False,
    unit: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` in ``run``; return the summary (the caller finishes the run directory).

    Args:
      cfg: the run config.
      run: where metrics (``metrics.jsonl``) and checkpoints (``ckpt/``) go.
      resume: continue from the newest checkpoint if there is one (a fresh start if there
        is none). ``False`` refuses a run directory that already holds this unit's
        checkpoints or records.
      unit: name of this training when several share ``run``.
      on_step: called with the step number after each step is fully written (records and
        checkpoint); for progress hooks and tests.

    Returns:
      ``steps``, ``tokens``, ``params`` and ``flops_per_token`` ({total, active}),
      ``train_flops``, the final ``train``/``val``/``test`` losses (and per domain), and
      ``wall_s``/``steps_per_s`` of this call (timings live only in the summary).

    Raises:
      NonFiniteError: a non-finite loss, gradient norm, parameter or logged metric; the
        newest checkpoint is the last good state.
      RunDirError: ``resume=False`` on a run that already has state.
    """
    tc = cfg.train
    keys = KeyStreams(cfg.seed)
    corpus = build_corpus(cfg.data, cfg.model.seq_len)
    masked = tc.objective == "masked"
    if masked:
        check_mask_id(corpus)
    train_step, eval_step = compiled_steps(cfg.model, tc)
    if cfg.mesh is None:
        state = init_state(cfg)
    else:  # data / FSDP / expert sharding over a device mesh (routerlab.parallel)
        # Imported here: routerlab.parallel builds on routerlab.train, never the other way at import time.
        from routerlab.parallel.train import init_sharded_state, sharded_train_step

        mesh = cfg.mesh.make()
        state = init_sharded_state(cfg, mesh)
        train_step = sharded_train_step(train_step, state, mesh)
    ckpt_dir = run.path / "ckpt" if unit is None else run.path / "ckpt" / unit
    tag = {} if unit is None else {"unit": unit}
    schedule = make_schedule(tc)

    with Checkpoints(ckpt_dir, keep=tc.ckpt_keep) as ckpts:
        start = None
        if not resume and (ckpts.steps() or _records(run, unit)):
            raise RunDirError(f"{run.path}: already has checkpoints or records{f' of unit {unit!r}' if unit else ''}; "
                              "pass resume=True to continue it")
        if resume:  # the newest readable checkpoint, refused if metrics.jsonl lost records it had written
            schedule_of = dict(steps=tc.steps, log_every=tc.log_every, eval_every=tc.eval_every)
            start, state = ckpts.restore_latest(state, accept=lambda step: check_resume_records(
                run, unit, step, expected_records(step, **schedule_of)))
        start = start or 0
        truncate_metrics(run, start, unit)

        t0 = time.perf_counter()
        bar = tqdm(total=tc.steps, initial=start, desc=unit or "train", disable=None,
                   file=sys.stderr, dynamic_ncols=True, leave=False)
        try:
            for index in range(start, tc.steps):
                step = index + 1
                batch = corpus.batch(keys("data"), index, tc.batch_size)
                noise = keys("router_noise", index) if tc.router_noise else None
                mask_key = keys("mask", index) if masked else None
                new_state, metrics, health = train_step(state, jnp.asarray(batch.tokens), noise, mask_key)
                if not bool(health["ok"]):
                    raise NonFiniteError(nonfinite_message(step, jax.device_get(metrics), jax.device_get(health)), step)
                state = new_state
                last = step == tc.steps
                if step % tc.log_every == 0 or last:
                    record = {"step": step, "split": "train", **tag, **to_python(metrics),
                              "lr": float(np.float32(schedule(index)))}
                    _check_finite(step, record)
                    run.log(record)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", refresh=False)
                for split, due in (("val", step % tc.eval_every == 0 or last), ("test", last)):
                    if due:
                        record = {"step": step, "split": split, **tag,
                                  **evaluate(eval_step, state, corpus, split, tc.batch_size,
                                             tc.eval_batches if split == "val" else None, masked=masked)}
                        _check_finite(step, record)
                        run.log(record)
                if step % tc.ckpt_every == 0 or last:
                    ckpts.save(step, state)
                bar.update(1)
                if on_step is not None:
                    on_step(step)
        finally:
            bar.close()
        wall = time.perf_counter() - t0
    done = tc.steps - start
    return _summary(cfg, run, unit, {"wall_s": wall, "steps_per_s": done / wall if done and wall > 0 else None,
                                     "resumed_from": start if resume else None})
