"""One seed, split into named key streams (after levanter).

Each consumer of randomness draws from its own stream, so adding a new consumer never
changes the numbers an existing one sees::

    keys = KeyStreams(seed=0)
    params_key = keys("params")
    noise_key = keys("router_noise", step)   # per-step key: fold_in(stream, step)

A stream key is ``fold_in(key(seed), crc32(name))``: stable across processes and Python
versions (unlike ``hash``), and independent across names.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import jax

__all__ = ["KeyStreams", "stream_key"]


def stream_key(seed: int, name: str, *indices: int) -> jax.Array:
    """The key of stream ``name`` under ``seed``, folded with any ``indices`` (e.g. step)."""
    key = jax.random.fold_in(jax.random.key(seed), zlib.crc32(name.encode()) & 0x7FFFFFFF)
    for index in indices:
        key = jax.random.fold_in(key, index)
    return key


@dataclass(frozen=True)
class KeyStreams:
    """Named key streams derived from one integer seed."""

    seed: int

    def __call__(self, name: str, *indices: int) -> jax.Array:
        return stream_key(self.seed, name, *indices)
