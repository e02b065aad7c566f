"""Process-wide JAX settings for command-line runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["enable_compilation_cache", "quiet_progress_bars", "progress", "FAST_COMPILE", "cpu_threads", "cpu_isa"]

# Nothing here imports jax at module level: ``routerlab --version`` and argument errors must
# not pay for it.


def quiet_progress_bars(stream=None) -> bool:
    """Turn Hugging Face ``datasets`` progress bars off when ``stream`` (stderr) is not a TTY.

    Logs of CI jobs and redirected runs then hold no carriage-return noise. Sets
    ``HF_DATASETS_DISABLE_PROGRESS_BARS`` (read when ``datasets`` is first imported) unless the
    user set it, and, if ``datasets`` is imported already, calls its
    ``disable_progress_bars()``. routerlab's own tqdm bars use ``disable=None``, which is
    the same rule. Returns whether bars were turned off.
    """
    stream = sys.stderr if stream is None else stream
    if stream is not None and hasattr(stream, "isatty") and stream.isatty():
        return False
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"].upper() in ("0", "FALSE", "NO", "OFF"):
        return False
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    return True


def progress(items, desc: str, unit: str = "unit", *, label=str, stream=None):
    """Iterate ``items`` with visible progress: a tqdm bar on a terminal, otherwise one line per
    item on ``stream`` (stderr), so a redirected or CI log shows what a long run is doing
    instead of minutes of silence::

        [moe_vs_dense] arm 3/15 switch lr=0.01 (started at 41 s)

    ``label(item)`` names an item in that line. ``TQDM_DISABLE`` set to a true value silences
    both forms.
    """
    import time

    stream = sys.stderr if stream is None else stream
    if os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes"):
        yield from items
        return
    if hasattr(stream, "isatty") and stream.isatty():
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=desc, unit=unit, file=stream)
        return
    items = list(items)
    start = time.perf_counter()
    for i, item in enumerate(items, 1):
        print(f"[{desc}] {unit} {i}/{len(items)} {label(item)} (started at {time.perf_counter() - start:.0f} s)",
              file=stream, flush=True)
        yield item
    print(f"[{desc}] {len(items)} {unit}s done in {time.perf_counter() - start:.0f} s", file=stream, flush=True)


def cpu_threads() -> int:
    """The CPUs this process may run on (its affinity mask; ``os.cpu_count()`` where there is none).

    XLA:CPU sizes its thread pool by this number, and the pool's size changes how a program's
    work is split, so float results on the CPU backend depend on it: measured 2026-12-02 on the
    2-core machine, a dense quick-knowledge unit (3 seeds, 2,000 steps) ends at validation loss
    0.29776 with 2 CPUs and 0.29982 pinned to one (``taskset -c 0``), each bit for bit
    reproducible, while the Switch E=8 unit agreed to the last bit (``XLA_FLAGS=
    --xla_cpu_multi_thread_eigen=false`` gives a third result, 0.30240). "Same config and seed,
    identical metrics" therefore holds for the same CPU count: ``env.json`` records it and the
    LM unit cache keys on it (:func:`routerlab.studies.lm.runner.unit_key`).
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_isa(cpuinfo: Path | str = "/proc/cpuinfo") -> dict[str, object]:
    """The host CPU's model name and the vector instruction sets it offers (``cpuinfo``'s first
    ``model name`` and its ``avx*``, ``fma``, ``amx*``, ``sse4*`` and ``f16c`` flags, sorted;
    ``platform.processor()`` and no flags where there is no such file).

    XLA:CPU compiles for the CPU it runs on (LLVM's host target), so the vector width and fused
    multiply-adds it emits, and with them the last bits of float results, can differ between
    machines with the same CPU count: on 2026-12-02 the quick LM suite, rerun on a fresh machine
    of this project's kind at a code version whose changes since the recorded runs were meant
    to be bit-neutral, gave different numbers (moe_vs_dense's Switch control +0.73 nats per fact
    against the recorded +0.82), and which CPU made the recorded runs had not been written
    down. ``env.json`` records this, and the LM unit cache keys on it
    (:func:`routerlab.studies.lm.runner.unit_key`), so a unit is served only where it was made.
    """
    import platform
    import re

    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {"model": platform.processor() or platform.machine(), "flags": []}
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    wanted = re.compile(r"^(avx.*|fma|amx.*|sse4.*|f16c)$")
    return {"model": model.group(1).strip() if model else platform.machine(),
            "flags": sorted({f for f in (flags.group(1).split() if flags else []) if wanted.match(f)})}


def enable_compilation_cache() -> Path | None:
    """Keep compiled XLA programs on disk, so a rerun of the same experiment skips compilation.

    The cache lives in ``$ROUTERLAB_JAX_CACHE`` (default ``~/.cache/routerlab/jax``); set it to
    an empty string to turn caching off. JAX's own ``$JAX_COMPILATION_CACHE_DIR``, when set,
    wins. Results do not depend on it: a cached program is the same program.
    """
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    setting = os.environ.get("ROUTERLAB_JAX_CACHE", str(Path.home() / ".cache" / "routerlab" / "jax"))
    if not setting:
        return None
    import jax

    path = Path(setting)
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return path


# Toy models compile for far longer than they run. LLVM optimization level 1 roughly halves
# XLA:CPU compile time of the planted-experts training program (default level: ~45 s,
# level 1: ~23 s, on a loaded 2-core machine) with no measurable change in its run time.
FAST_COMPILE = {"xla_backend_optimization_level": 1}
