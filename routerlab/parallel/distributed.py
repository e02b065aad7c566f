"""Multi-host start-up: ``jax.distributed.initialize`` wired from environment variables.

Every process of a multi-host job runs the same program and calls :func:`initialize_from_env`
before touching any device. Variables (the ``ROUTERLAB_`` names win over the ``JAX_`` ones):

* ``ROUTERLAB_COORDINATOR`` / ``JAX_COORDINATOR_ADDRESS``: ``host:port`` of process 0;
* ``ROUTERLAB_NUM_PROCESSES`` / ``JAX_NUM_PROCESSES``: number of processes;
* ``ROUTERLAB_PROCESS_ID`` / ``JAX_PROCESS_ID``: this process's id in ``[0, n)``;
* ``ROUTERLAB_INIT_TIMEOUT``: seconds to wait for all processes (default 300).

With none of them set, or a process count of 1, it does nothing (single process). With
``ROUTERLAB_DISTRIBUTED=auto`` it calls ``jax.distributed.initialize()`` with no arguments,
letting JAX detect the cluster (Cloud TPU slices, SLURM, Open MPI, Kubernetes JobSets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import jax

__all__ = ["DistributedEnv", "read_env", "initialize_from_env"]


@dataclass(frozen=True)
class DistributedEnv:
    """Where this process sits in a multi-process job."""

    coordinator_address: str
    num_processes: int
    process_id: int
    timeout_s: int = 300


def _get(env: Mapping[str, str], name: str) -> str | None:
    return env.get(f"ROUTERLAB_{name}") or env.get(f"JAX_{name}" if name != "COORDINATOR" else "JAX_COORDINATOR_ADDRESS")


def read_env(env: Mapping[str, str] | None = None) -> DistributedEnv | None:
    """The job description from ``env`` (default ``os.environ``), or ``None`` for a single process.

    Raises ``ValueError`` naming the missing or malformed variable for a partial description.
    """
    env = os.environ if env is None else env
    address, count, index = _get(env, "COORDINATOR"), _get(env, "NUM_PROCESSES"), _get(env, "PROCESS_ID")
    if address is None and count is None and index is None:
        return None
    try:
        num_processes = int(count) if count is not None else None
        process_id = int(index) if index is not None else None
        timeout = int(env.get("ROUTERLAB_INIT_TIMEOUT", "300"))
    except ValueError as err:
        raise ValueError(f"distributed environment: {err}") from None
    if num_processes == 1 and process_id in (None, 0):
        return None
    missing = [name for name, v in (("ROUTERLAB_COORDINATOR", address), ("ROUTERLAB_NUM_PROCESSES", num_processes),
                                    ("ROUTERLAB_PROCESS_ID", process_id)) if v is None]
    if missing:
        raise ValueError(f"distributed environment is incomplete: set {', '.join(missing)} (or the JAX_ names)")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process id {process_id} must be in [0, {num_processes})")
    if ":" not in address:
        raise ValueError(f"coordinator address must be host:port; got {address!r}")
    return DistributedEnv(address, num_processes, process_id, timeout)


def initialize_from_env(env: Mapping[str, str] | None = None) -> DistributedEnv | None:
    """Call ``jax.distributed.initialize`` as the environment describes; returns the description
    (``None``: single process, nothing done). Call once, before any other JAX call."""
    env = os.environ if env is None else env
    if env.get("ROUTERLAB_DISTRIBUTED") == "auto":
        jax.distributed.initialize()
        return DistributedEnv("auto", jax.process_count(), jax.process_index())
    spec = read_env(env)
    if spec is not None:
        jax.distributed.initialize(
            coordinator_address=spec.coordinator_address,
            num_processes=spec.num_processes,
            process_id=spec.process_id,
            initialization_timeout=spec.timeout_s,
        )
    return spec
