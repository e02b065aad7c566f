"""Strict numerics for every test (after equinox): silent broadcasting fails loudly."""
import os

# Fake CPU devices for sharding tests; must be set before jax initialises its backend.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TQDM_DISABLE", "1")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_platforms", "cpu")
