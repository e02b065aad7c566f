"""Expert-parallel MoE layer: the ``all_to_all`` share of step time and weak scaling.

For ``n`` in 1, 2, 4, ... up to ``devices``, a mesh ``{expert: n}`` runs the
:func:`routerlab.parallel.expert.ep_dispatch` layer (router, dispatch, experts, combine) on
``tokens_per_device * n`` tokens (weak scaling: work per device fixed), timing a jitted forward
and backward pass (gradients w.r.t. the tokens, the router and the expert weights):

* ``ep_ms``: the real layer; ``local_ms``: the same program with both ``all_to_all``\\ s
  replaced by the identity (``collectives=False``), so ``a2a_share = 1 - local_ms / ep_ms``;
* ``weak_scaling_efficiency = ep_ms(n=1) / ep_ms(n)`` (1.0 is perfect).

On fake CPU devices (``--xla_force_host_platform_device_count``) all devices share the host's
cores, so ``n`` devices do ``n`` times the work on the same cores: weak-scaling efficiency
there measures the overhead of the partitioned program (ideal ``1/n`` if the cores were
saturated), not a speed-up, and ``all_to_all`` is a memory copy, not a network transfer. Each
record says so in ``note``. Only real accelerators give meaningful figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import AxisType

from routerlab.bench.common import environment, interleaved_median_ms
from routerlab.moe.routers import top_k_route
from routerlab.parallel.expert import ep_buffer_rows, ep_dispatch

__all__ = ["bench_moe_parallel"]

_CHILD = "ROUTERLAB_BENCH_MOE_PARALLEL_CHILD"
FAKE_CPU_NOTE = (
    "fake CPU devices share the host's cores: weak-scaling efficiency measures the overhead of "
    "the sharded program, not speed-up, and all_to_all is a local memory copy"
)


def _rerun_with_devices(devices: int, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    if os.environ.get(_CHILD):
        raise RuntimeError(
            f"bench_moe_parallel(devices={devices}) needs {devices} devices; jax sees {jax.device_count()}. "
            f"On CPU set XLA_FLAGS=--xla_force_host_platform_device_count={devices} before importing jax."
        )
    flags = os.environ.get("XLA_FLAGS", "")
    flags = " ".join(f for f in flags.split() if not f.startswith("--xla_force_host_platform_device_count"))
    env = dict(os.environ, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}".strip(),
               JAX_PLATFORMS="cpu", **{_CHILD: "1"})
    code = ("import json, sys; from routerlab.bench.moe_parallel import bench_moe_parallel; "
            "print(json.dumps(bench_moe_parallel(**json.loads(sys.argv[1]))))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps({"devices": devices, **kwargs})],
                          env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"bench_moe_parallel subprocess failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_moe_parallel(
    *,
    devices: int = 8,
    tokens_per_device: int = 512,
    d_model: int = 128,
    d_ff: int = 256,
    num_experts: int = 8,
    top_k: int = 2,
    capacity_factors: tuple[float | None, ...] = (1.25, None),
    repeats: int = 5,
    warmup: int = 1,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Time the expert-parallel layer on 1, 2, 4, ... ``devices`` devices (module docstring).

    ``capacity_factors``: ``None`` is dropless; a number is GShard per-device capacity
    (``capacity_scope="local"``). If this process has fewer than ``devices`` devices the
    benchmark re-runs itself in a subprocess with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=<devices>`` on CPU.

    Returns:
      One dict per (case, n): ``case``, ``ep_devices`` (n), ``num_tokens``, ``ep_ms``,
      ``local_ms``, ``a2a_share``, ``weak_scaling_efficiency``, ``buffer_rows`` (``S``),
      shapes, ``note`` and :func:`environment`.
    """
    kwargs = dict(tokens_per_device=tokens_per_device, d_model=d_model, d_ff=d_ff, num_experts=num_experts,
                  top_k=top_k, capacity_factors=list(capacity_factors), repeats=repeats, warmup=warmup, seed=seed)
    if jax.device_count() < devices:
        return _rerun_with_devices(devices, kwargs)
    d, f, e, k = d_model, d_ff, num_experts, top_k
    counts = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= devices and e % n == 0]
    env = environment()
    fake_cpu = jax.default_backend() == "cpu"
    records = []
    for cf in capacity_factors:
        case = "dropless" if cf is None else f"capacity_{cf}_local"
        base_ms = None
        for n in counts:
            mesh = jax.make_mesh((n,), ("expert",), axis_types=(AxisType.Auto,), devices=jax.devices()[:n])
            t = tokens_per_device * n
            keys = jax.random.split(jax.random.key(seed), 4)
            args = (jax.random.normal(keys[0], (t, d)), jax.random.normal(keys[1], (d, e)) / d**0.5,
                    jax.random.normal(keys[2], (e, d, f)) / d**0.5, jax.random.normal(keys[3], (e, f, d)) / f**0.5)

            def step(collectives, mesh=mesh, cf=cf):
                def loss(x, w_router, w_in, w_out):
                    r = top_k_route(x @ w_router, k, score="softmax", renormalize=True)
                    out = ep_dispatch(x, r.expert_index, r.gates, w_in, w_out, mesh=mesh, capacity_factor=cf,
                                      capacity_scope="local", collectives=collectives)
                    return jnp.mean(jnp.square(out.y))

                return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))

            ep, local = step(True), step(False)
            ms = interleaved_median_ms({"ep": lambda: ep(*args), "local": lambda: local(*args)},
                                       repeats=repeats, warmup=warmup)
            base_ms = ms["ep"] if base_ms is None else base_ms
            records.append({
                "case": case, "ep_devices": n, "num_tokens": t, "tokens_per_device": tokens_per_device,
                "ep_ms": ms["ep"], "local_ms": ms["local"],
                "a2a_share": max(0.0, 1.0 - ms["local"] / ms["ep"]),
                "weak_scaling_efficiency": base_ms / ms["ep"],
                "buffer_rows": ep_buffer_rows(t, e, k, n, cf, "local"),
                "capacity_factor": cf, "d_model": d, "d_ff": f, "num_experts": e, "top_k": k,
                "repeats": repeats, "warmup": warmup,
                "note": FAKE_CPU_NOTE if fake_cpu else "",
                **env,
            })
    return records
