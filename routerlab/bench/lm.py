"""Training throughput of the toy LM: tokens/s and model FLOPs utilisation (MFU).

Each case times the training step that :func:`routerlab.train.train` and
:func:`routerlab.studies.lm_sweep.train_seeds` run (forward, backward, clipping, AdamW on
the warmup-cosine schedule, the finiteness check), on random tokens, for one model:

* ``ffn``: ``dense`` (FFN width ``4 d``), ``moe_top1`` (``E`` experts of width ``4 d``,
  Switch top-1) or ``moe_top2`` (``E`` experts of width ``2 d``, top-2, gates renormalised):
  the same active matmul FLOPs per token up to the router's ``2 d E``.
* ``mode``: ``single`` is one run, one compiled step call per optimiser step (the path of
  :func:`routerlab.train.train`); ``vmap`` trains ``num_seeds`` seeds together for
  ``scan_steps`` steps per call (the accelerator path of
  :func:`~routerlab.studies.lm_sweep.train_seeds`); ``loop`` trains the same seeds and steps
  with the unbatched program called once per seed (its CPU path). ``loop_over_vmap`` is a
  ``loop`` row's call time over the ``vmap`` row's of the same case (same seeds, steps and
  tokens): below 1 where the seed loop is the faster path.

FLOPs. ``model_flops_per_s`` counts *useful* training FLOPs: ``3 x`` the forward FLOPs per
token of :func:`routerlab.models.flops_per_token` (``active``: matmuls only, attention at the
full ``T x T`` context, the output head; the backward pass is twice the forward, as
:func:`routerlab.models.training_flops` states) times the tokens of a call, over the median
call time. Capacity-dispatch padding, norms, softmaxes and the optimiser are not counted.
``peak_flops_per_s`` is a jitted ``N x N`` matmul (``2 N^3`` FLOPs) timed in the same
process, interleaved with the cases it divides: float32 ``N = 2048`` on CPU, bfloat16
``N = 8192`` on an accelerator, unless ``peak_dtype``/``peak_size`` say otherwise.
``mfu = model_flops_per_s / peak_flops_per_s``. ``moe_over_dense`` is the MoE row's step
time over the dense row's of the same ``d_model`` and mode (same tokens, equal active FLOPs).

Each ``(d_model, mode)`` group times the peak matmul and its models round-robin: ``warmup``
untimed rounds (compilation), then ``repeats`` timed rounds; rows report the median and the
min-max of the call time.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp

from routerlab.bench.common import environment, interleaved_times_ms
from routerlab.config import ConfigError
from routerlab.models.accounting import flops_per_token, training_flops
from routerlab.models.config import LMConfig
from routerlab.models.corpus import VOCAB_SIZE
from routerlab.moe.config import MoEConfig

__all__ = ["bench_lm", "lm_case_config", "FFNS", "MODES"]

FFNS = ("dense", "moe_top1", "moe_top2")
MODES = ("single", "vmap", "loop")


def lm_case_config(
    ffn: str, d_model: int, *, n_layers: int, seq_len: int, head_dim: int, num_experts: int,
    capacity_factor: float | None, dtype: str = "float32",
) -> LMConfig:
    """The :class:`LMConfig` of one bench case (dense FFN ``4 d``; MoE experts ``4 d / k`` wide)."""
    moe = None
    if ffn != "dense":
        k = int(ffn[-1])
        moe = MoEConfig(num_experts=num_experts, top_k=k, d_model=d_model, d_ff=4 * d_model // k,
                        renormalize=k > 1, capacity_factor=capacity_factor,
                        # Top-2 under a capacity lets later tokens' first choices take earlier
                        # tokens' slots (a causal leak, refused in studies); it costs the same.
                        allow_causal_leak=capacity_factor is not None and k > 1)
    return LMConfig(vocab_size=VOCAB_SIZE, d_model=d_model, n_layers=n_layers,
                    n_heads=max(1, d_model // head_dim), seq_len=seq_len, d_ff=4 * d_model,
                    ffn="dense" if moe is None else "moe", moe=moe, dtype=dtype)


def _peak_thunk(size: int, dtype: str) -> Callable[[], jax.Array]:
    a = jax.random.normal(jax.random.key(1), (size, size), dtype)
    b = jax.random.normal(jax.random.key(2), (size, size), dtype)
    matmul = jax.jit(lambda a, b: a @ b)
    return lambda: matmul(a, b)


def _single_thunk(run_cfg, tokens: jax.Array) -> Callable[[], Any]:
    from routerlab.train.loop import compiled_steps, init_state

    train_step, _ = compiled_steps(run_cfg.model, run_cfg.train)
    box = [init_state(run_cfg)]

    def call():
        state, metrics, health = train_step(box[0], tokens, None, None)
        box[0] = state
        return metrics["loss"], health["ok"]

    return call


def _seeds_thunk(run_cfg, tokens: jax.Array, num_seeds: int, batching: str) -> Callable[[], Any]:
    from routerlab.studies.lm_sweep import _program_config, _segment_fn, _stack
    from routerlab.train.loop import init_state

    segment = _segment_fn(run_cfg.model, _program_config(run_cfg.train), False, None, batching)
    box = [_stack([init_state(replace(run_cfg, seed=s), lr_in_state=True) for s in range(num_seeds)])]
    steps = tokens.shape[1]
    keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s), steps))(jnp.arange(num_seeds))

    def call():
        state, out = segment(box[0], tokens, keys, keys)
        box[0] = state
        return out["loss"], out["ok"]

    return call


def _as_tuple(name: str, value: Any, allowed: Sequence[Any] | None = None) -> tuple:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values:
        raise ConfigError(name, "must name at least one value")
    for v in values:
        if allowed is not None and v not in allowed:
            raise ConfigError(name, f"unknown value {v!r}; expected some of {', '.join(map(str, allowed))}")
        if allowed is None and (not isinstance(v, int) or v < 1):
            raise ConfigError(name, f"must be positive integers; got {v!r}")
    return values


def bench_lm(
    *,
    d_models: Sequence[int] | int = (32, 64, 128, 256),
    ffns: Sequence[str] | str = FFNS,
    modes: Sequence[str] | str = MODES,
    n_layers: int = 4,
    seq_len: int = 128,
    batch_size: int = 32,
    head_dim: int = 32,
    num_experts: int = 8,
    capacity_factor: float | None = 1.0,
    num_seeds: int = 4,
    scan_steps: int = 4,
    dtype: str = "float32",
    repeats: int = 5,
    warmup: int = 2,
    peak_size: int | None = None,
    peak_dtype: str | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Time the LM training step per ``(d_model, mode, ffn)`` and return one row per case.

    Args:
      d_models: residual widths (each also sets the FFN ``4 d`` and ``d / head_dim`` heads).
      ffns: some of ``dense``, ``moe_top1``, ``moe_top2`` (module doc).
      modes: some of ``single``, ``vmap``, ``loop`` (module doc).
      n_layers, seq_len, batch_size, head_dim: the model and batch shape.
      num_experts, capacity_factor: the MoE layers (``capacity_factor=None``: dropless).
      num_seeds, scan_steps: seeds and steps per call in ``vmap`` and ``loop`` modes.
      dtype: activation/matmul dtype of the model (``float32`` or ``bfloat16``).
      repeats, warmup: timed and untimed rounds per group.
      peak_size, peak_dtype: the peak matmul (defaults: 2048/float32 on CPU, 8192/bfloat16
        elsewhere).
      seed: the random tokens.

    Returns:
      One dict per case: ``case``, the shape, ``call_ms`` (median) with ``call_ms_min`` /
      ``call_ms_max``, ``steps_per_call``, ``tokens_per_call``, ``tokens_per_s``,
      ``model_flops_per_token`` (training, ``3 x`` forward active), ``model_flops_per_s``,
      ``peak_flops_per_s``, ``mfu``, ``moe_over_dense`` (``None`` for dense rows or without
      a dense row in the group), ``loop_over_vmap`` (``loop`` rows with a ``vmap`` row of the
      same case; else ``None``), ``date`` and :func:`environment`.
    """
    from routerlab.train.config import LMRunConfig, TrainConfig

    d_models = _as_tuple("d_models", d_models)
    ffns = _as_tuple("ffns", ffns, FFNS)
    modes = _as_tuple("modes", modes, MODES)
    if dtype not in ("float32", "bfloat16"):
        raise ConfigError("dtype", f"must be float32 or bfloat16; got {dtype!r}")
    for name, value in (("n_layers", n_layers), ("seq_len", seq_len), ("batch_size", batch_size),
                        ("head_dim", head_dim), ("num_experts", num_experts), ("num_seeds", num_seeds),
                        ("scan_steps", scan_steps), ("repeats", repeats)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(name, f"must be an integer >= 1; got {value!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ConfigError("warmup", f"must be an integer >= 0; got {warmup!r}")
    on_cpu = jax.default_backend() == "cpu"
    peak_size = peak_size or (2048 if on_cpu else 8192)
    peak_dtype = peak_dtype or ("float32" if on_cpu else "bfloat16")
    peak_flops = 2.0 * peak_size**3
    # No warmup phase: every step runs at the peak learning rate, so later steps cannot
    # shrink into no-ops; clipping and weight decay stay on as in the studies.
    train_cfg = TrainConfig(steps=1_000_000, batch_size=batch_size, warmup_steps=0, router_noise=False)
    env = {**environment(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")}
    key = jax.random.key(seed)

    rows = []
    for d in d_models:
        for mode in modes:
            steps_per_call = 1 if mode == "single" else scan_steps
            seeds = 1 if mode == "single" else num_seeds
            shape = (batch_size, seq_len + 1) if mode == "single" else (num_seeds, scan_steps, batch_size, seq_len + 1)
            tokens = jax.random.randint(jax.random.fold_in(key, d), shape, 0, VOCAB_SIZE)
            thunks: dict[str, Callable[[], Any]] = {"peak": _peak_thunk(peak_size, peak_dtype)}
            configs = {}
            for ffn in ffns:
                try:
                    model = lm_case_config(ffn, d, n_layers=n_layers, seq_len=seq_len, head_dim=head_dim,
                                           num_experts=num_experts, capacity_factor=capacity_factor, dtype=dtype)
                except ConfigError as err:
                    raise ConfigError(f"d_models={d}", str(err)) from None
                run_cfg = LMRunConfig(model=model, train=train_cfg)
                configs[ffn] = model
                thunks[ffn] = (_single_thunk(run_cfg, tokens) if mode == "single"
                               else _seeds_thunk(run_cfg, tokens, num_seeds, mode))
            times = interleaved_times_ms(thunks, repeats=repeats, warmup=warmup)
            peak_per_s = peak_flops / (statistics.median(times["peak"]) / 1e3)
            median = {name: statistics.median(ts) for name, ts in times.items()}
            for ffn in ffns:
                model = configs[ffn]
                tokens_per_call = seeds * steps_per_call * batch_size * seq_len
                call_s = median[ffn] / 1e3
                model_flops_per_s = training_flops(model, tokens_per_call) / call_s
                rows.append({
                    "case": f"{ffn}_d{d}_{mode}",
                    "ffn": ffn,
                    "mode": mode,
                    "d_model": d,
                    "n_layers": n_layers,
                    "n_heads": model.n_heads,
                    "seq_len": seq_len,
                    "batch_size": batch_size,
                    "num_experts": None if model.moe is None else num_experts,
                    "top_k": None if model.moe is None else model.moe.top_k,
                    "expert_d_ff": None if model.moe is None else model.moe.d_ff,
                    "capacity_factor": None if model.moe is None else capacity_factor,
                    "num_seeds": seeds,
                    "steps_per_call": steps_per_call,
                    "tokens_per_call": tokens_per_call,
                    "call_ms": median[ffn],
                    "call_ms_min": min(times[ffn]),
                    "call_ms_max": max(times[ffn]),
                    "tokens_per_s": tokens_per_call / call_s,
                    "model_flops_per_token": 3.0 * float(flops_per_token(model)["active"]),
                    "model_flops_per_s": model_flops_per_s,
                    "peak_flops_per_s": peak_per_s,
                    "peak_size": peak_size,
                    "peak_dtype": peak_dtype,
                    "mfu": model_flops_per_s / peak_per_s,
                    "moe_over_dense": (median[ffn] / median["dense"]
                                       if ffn != "dense" and "dense" in median else None),
                    "dtype": dtype,
                    "repeats": repeats,
                    "warmup": warmup,
                    **env,
                })
    vmap_ms = {(r["d_model"], r["ffn"]): r["call_ms"] for r in rows if r["mode"] == "vmap"}
    for r in rows:
        base = vmap_ms.get((r["d_model"], r["ffn"])) if r["mode"] == "loop" else None
        r["loop_over_vmap"] = None if base is None else r["call_ms"] / base
    return rows
