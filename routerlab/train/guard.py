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

A training that runs in vmapped segments of scanned engine steps
(:func:`routerlab.train.step.make_train_step`; a study's seeds, planted experts) learns only
*that* a segment went bad (the scan's per-step ``ok``). :func:`scan_with_health` is the same
segment returning every step's full health (per-parameter gradient norms and finiteness), run
once, from the segment's starting state, after a failure; :func:`name_nonfinite` reads it and
names the seed, the first bad step and the quantity in the format of
:func:`routerlab.train.step.nonfinite_message`::

    seed 1: step 3: grad norm of layers.0.ffn.w_in is inf
    seed 0: step 12: loss is nan
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

__all__ = ["check_finite_unit", "scan_with_health", "name_nonfinite"]


def scan_with_health(step: Callable, *, noise: bool, masked: bool) -> Callable:
    """``run(state, tokens[n], keys[n], mask_keys[n]) -> (state, (metrics, health))``: the
    steps of :func:`routerlab.train.step.scan_steps`, returning each step's ``loss``, ``ce``,
    ``aux_loss``, ``grad_norm`` and its whole ``health`` (``step`` must be made with
    ``diagnostics=True``, as :func:`routerlab.train.loop.engine_steps`' is). For naming a
    failure only: the per-parameter outputs cost time that a healthy segment need not spend."""

    def run(state, tokens, keys, mask_keys):
        def body(state, inputs):
            tok, key, mask_key = inputs
            new, metrics, health = step(state, tok, key if noise else None, mask_key if masked else None)
            return new, ({k: metrics[k] for k in ("loss", "ce", "aux_loss", "grad_norm")}, health)

        return jax.lax.scan(body, state, (tokens, keys, mask_keys))

    return run


def name_nonfinite(metrics: Mapping[str, Any], health: Mapping[str, Any], seeds: Sequence[int], first_step: int,
                   *, rename: Mapping[str, str] | None = None,
                   label: Callable[[int], str] = "seed {}".format) -> tuple[str, int] | None:
    """``(one line, step)`` naming the first non-finite step of a vmapped segment, or ``None``
    when every step is finite.

    ``metrics``/``health``: :func:`scan_with_health`'s outputs under ``vmap`` (leading axes
    ``[seed, step]``), for seeds ``seeds`` from step ``first_step + 1``. The earliest bad step
    wins (ties: the first seed); a non-finite loss is named by its part (``ce``, ``aux loss``)
    when one is non-finite. ``rename`` relabels the loss terms in the message
    (``{"ce": "train mse"}`` for a regression); ``label(seed)`` prefixes it (``seed 1``).
    """
    from routerlab.train.step import nonfinite_message

    bad = np.argwhere(~np.asarray(health["ok"], bool))
    if not bad.size:
        return None
    seed_index, offset = min((int(j), int(i)) for i, j in bad)[::-1]
    at = lambda tree: jax.tree.map(lambda x: np.asarray(x)[seed_index, offset], tree)  # noqa: E731
    step = first_step + offset + 1
    here = at(dict(metrics))
    # The loss is the sum of its parts: name the part that went bad when one did.
    part = next((name for name in ("ce", "aux_loss") if not np.isfinite(float(here[name]))), None)
    if part is not None:
        value = float(here[part])
        message = f"step {step}: {part.replace('_', ' ')} is {'nan' if np.isnan(value) else ('inf' if value > 0 else '-inf')}"
    else:
        message = nonfinite_message(step, here, at(dict(health)))
    for old, new in (rename or {}).items():
        message = message.replace(f": {old} is ", f": {new} is ")
    return f"{label(seeds[seed_index])}: {message}", step


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
