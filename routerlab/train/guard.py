"""The non-finite guard of trainings that run whole inside one compiled program.

The step-by-step loop (:func:`routerlab.train.train`) checks every step as it goes; a
training compiled as one ``lax.scan`` (planted experts, a study's vmapped seeds) returns its
per-step curves at the end, and :func:`check_finite_unit` checks them before the unit is
logged. Both raise :class:`~routerlab.train.NonFiniteError` with one line in one format::

    step 17: loss is nan                           (the loop; no unit)
    switch/seed1: step 3: train mse is inf         (a unit: the first bad step of its curve)
    dense/seed0: after step 60: test nmse is nan   (a quantity measured after training)

so the CLI exits 1 with the unit, the step and the quantity, and nothing of the bad unit is
recorded: the units logged before it are the last good state, and a resume starts there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["check_finite_unit"]


def check_finite_unit(unit: str, steps: int, curve: Any, final: float | None = None,
                      metrics: Mapping[str, Any] | None = None, *, curve_name: str = "train mse",
                      final_name: str = "test nmse") -> None:
    """Raise :class:`~routerlab.train.NonFiniteError` if unit ``unit`` went non-finite.

    ``curve``: the per-step training quantity (step ``i + 1`` at index ``i``); the first
    non-finite entry names its step. ``final`` and ``metrics``: scalars measured after the
    ``steps`` training steps, named ``final_name`` and by their keys.
    """
    from routerlab.train.loop import NonFiniteError

    values = np.asarray(curve, np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        step = int(bad[0]) + 1
        raise NonFiniteError(f"{unit}: step {step}: {curve_name} is {values[bad[0]]}", step)
    after = {} if final is None else {final_name: final}
    for name, value in {**after, **(metrics or {})}.items():
        if not math.isfinite(float(value)):
            raise NonFiniteError(f"{unit}: after step {steps}: {name} is {float(value)}", steps)
