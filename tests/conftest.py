"""Strict numerics for every test (after equinox): silent broadcasting fails loudly."""
import os

import tempfile

# Set before jax initialises its backend; subprocesses and xdist workers inherit them.
# - 8 fake CPU devices for the sharding tests;
# - LLVM optimization level 1: the suite's toy programs compile for far longer than they
#   run, and level 1 compiles them about twice as fast at no measurable run-time cost;
# - one compilation cache per test session, so a subprocess (the SIGKILL resume test)
#   reuses what its parent compiled instead of compiling it again.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=1")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="routerlab-test-jax-cache-"))
os.environ.setdefault("TQDM_DISABLE", "1")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_platforms", "cpu")
