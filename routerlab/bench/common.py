"""Timing helpers shared by the benchmarks: interleaved median timing, environment record."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jaxlib

__all__ = ["environment", "interleaved_median_ms", "interleaved_times_ms"]


def interleaved_times_ms(
    fns: Mapping[str, Callable[[], Any]], *, repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Wall time in milliseconds of each thunk in every timed round, timed round-robin.

    Each round calls every thunk once, in order, and waits for its result with
    :func:`jax.block_until_ready`. Interleaving spreads slow drifts of a shared machine
    (other jobs, thermal throttling) evenly over the contenders, so ratios of the medians
    are far more stable than the medians themselves. ``warmup`` untimed rounds come first
    (compilation happens there if the thunks are jitted).

    Args:
      fns: name -> zero-argument callable returning JAX arrays (or pytrees of them).
      repeats: timed rounds (>= 1).
      warmup: untimed rounds (>= 0).

    Returns:
      name -> the ``repeats`` timed rounds' milliseconds, in order.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0; got {repeats}, {warmup}")
    for _ in range(warmup):
        for fn in fns.values():
            jax.block_until_ready(fn())
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(1e3 * (time.perf_counter() - start))
    return times


def interleaved_median_ms(
    fns: Mapping[str, Callable[[], Any]], *, repeats: int, warmup: int
) -> dict[str, float]:
    """Median over the timed rounds of :func:`interleaved_times_ms`: name -> milliseconds."""
    times = interleaved_times_ms(fns, repeats=repeats, warmup=warmup)
    return {name: statistics.median(ts) for name, ts in times.items()}


def environment() -> dict[str, Any]:
    """What a timing depends on: library versions, backend, devices and host CPU count."""
    return {
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.local_devices()],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
