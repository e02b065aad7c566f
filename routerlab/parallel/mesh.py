"""``MeshConfig``: the device mesh of a run, as axis sizes in the config (``mesh: {data: 2, expert: 4}``).

Axes, in mesh order (the first is the slowest-varying over devices):

* ``data``: data parallelism; parameters replicated.
* ``fsdp``: data parallelism with parameters *and* optimizer state sharded (ZeRO-3 / FSDP):
  every parameter matrix is split over this axis and all-gathered where it is used.
* ``expert``: expert parallelism; MoE expert weights ``[E, ...]`` are split by expert.

The batch is split over all three axes (the ``expert`` devices also share the data), so a
mesh of ``data * fsdp * expert`` devices runs a global batch divisible by that product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
from jax.sharding import AxisType, Mesh

from routerlab.config import check

__all__ = ["MeshConfig", "AXES"]

AXES = ("data", "fsdp", "expert")


@dataclass(frozen=True)
class MeshConfig:
    """Sizes of the ``data``, ``fsdp`` and ``expert`` mesh axes (each >= 1)."""

    data: int = 1
    fsdp: int = 1
    expert: int = 1

    def __post_init__(self) -> None:
        for name in AXES:
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.data, self.fsdp, self.expert)

    @property
    def size(self) -> int:
        return self.data * self.fsdp * self.expert

    def make(self, devices: Sequence[jax.Device] | None = None) -> Mesh:
        """A :class:`jax.sharding.Mesh` with axes ``("data", "fsdp", "expert")`` over the first
        ``size`` devices (all processes' devices on a multi-host run), in automatic
        (GSPMD) sharding mode."""
        devices = list(jax.devices() if devices is None else devices)
        if len(devices) < self.size:
            raise ValueError(
                f"mesh {dict(zip(AXES, self.shape))} needs {self.size} devices; {len(devices)} available "
                "(on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before importing jax)"
            )
        return jax.make_mesh(self.shape, AXES, axis_types=(AxisType.Auto,) * 3, devices=devices[: self.size])
