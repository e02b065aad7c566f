"""Process-wide JAX settings for command-line runs."""

from __future__ import annotations

import functools
import os
import re
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
    identical metrics" therefore holds for the same CPU count on the same kind of CPU
    (:func:`cpu_isa`): ``env.json`` records both and the LM unit cache keys on both
    (:func:`routerlab.studies.lm.runner.unit_key`).
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: cpuinfo fields that identify a CPU beside its model name (x86: vendor, family, model, stepping;
#: ARM: implementer, part, revision), and the feature flags that decide the vector code LLVM emits.
_CPU_ID_FIELDS = ("vendor_id", "cpu family", "model", "stepping",
                  "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "CPU revision")
_VECTOR_FLAGS = {"flags": re.compile(r"^(avx.*|fma|amx.*|sse4.*|f16c)$"),  # x86
                 "Features": re.compile(r"^(asimd.*|sve.*|sme.*|bf16|i8mm|fphp|fcma|dotprod)$")}  # ARM


@functools.lru_cache(maxsize=4)
def cpu_isa(cpuinfo: Path | str = "/proc/cpuinfo") -> dict[str, object]:
    """The host CPU's identity and the vector instruction sets it offers, read from the first
    processor's block of ``cpuinfo``: ``{"model": <model name, else the machine>, "id": {field:
    value} of :data:`_CPU_ID_FIELDS` present, "flags": sorted vector flags}`` (x86's ``flags``:
    ``avx*``, ``fma``, ``amx*``, ``sse4*``, ``f16c``; ARM's ``Features``: ``asimd*``, ``sve*``,
    ``sme*``, ``bf16``, ``i8mm``, ...). Where there is no such file (macOS, Windows) only
    ``platform.processor()`` or the machine name, and no flags: there it identifies little.

    Why it is recorded: XLA:CPU compiles for the CPU it runs on (LLVM's host target), so the
    vector width and fused multiply-adds it emits, and with them the last bits of float results,
    may differ between machines with the same CPU count. On 2026-12-02 the quick LM suite, rerun
    on a fresh machine of this project's kind, gave numbers different from the recorded runs of
    2026-12-01 at the same configs (moe_vs_dense's Switch control +0.73 nats per fact against
    +0.82), while the code of the recorded runs, rerun on the new machine, gave the new numbers
    bit for bit: the machine (its CPU, which had not been written down, or its library builds)
    made the difference. ``env.json`` records the CPU, and the
    LM unit cache keys on it (:func:`routerlab.studies.lm.runner.unit_key`), so a unit is served
    only on the kind of CPU that made it.
    """
    import platform

    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {"model": platform.processor() or platform.machine(), "id": {}, "flags": []}
    first = re.split(r"\n[ \t]*\n", text.strip(), maxsplit=1)[0]  # processor 0's block
    fields: dict[str, str] = {}
    for line in first.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = {f for name, wanted in _VECTOR_FLAGS.items() for f in fields.get(name, "").split() if wanted.match(f)}
    return {"model": fields.get("model name") or platform.machine(),
            "id": {k: fields[k] for k in _CPU_ID_FIELDS if fields.get(k)},
            "flags": sorted(flags)}


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
