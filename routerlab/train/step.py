"""Pure, jitted training and evaluation steps over NNX state.

The model is split once, ``graphdef, params, rest = nnx.split(model, nnx.Param, ...)``:
``params`` are what the optimiser updates; ``rest`` holds every other variable (the
DeepSeek router biases, updated by their own rule after each step). The steps are plain
functions of ``(state, tokens, key)`` closed over the static ``graphdef`` and optimiser,
compiled once with :func:`jax.jit`, so the hot loop never re-traverses the module graph.

Losses and numerics:

* ``ce`` is the objective's cross-entropy (nats; :mod:`routerlab.train.objective`): the mean
  next-token cross-entropy over every position of the batch, or under the masked objective
  the mean over the masked positions; the training loss is ``ce + sum over MoE layers of
  aux.loss`` (each layer's weighted auxiliary losses, :class:`routerlab.moe.MoELayer`).
* Each step also returns a *health* pytree: whether the loss, the gradients and the new
  state are finite, per-parameter gradient norms and per-parameter finiteness, from which
  :func:`nonfinite_message` names the offending quantity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from routerlab.train.objective import apply_mask, mask_positions, masked_cross_entropy

__all__ = [
    "TrainState",
    "split_model",
    "flat_names",
    "aux_metrics",
    "lm_loss",
    "make_train_step",
    "scan_steps",
    "router_bias_update",
    "uses_router_bias",
    "make_eval_step",
    "nonfinite_message",
]


class TrainState(NamedTuple):
    """Everything a run carries from one step to the next (and checkpoints).

    Attributes:
      params: ``nnx.Param`` variables, updated by the optimiser.
      rest: all other model variables (router biases, ...), updated outside the optimiser.
      opt_state: the optax state over ``params``.
    """

    params: nnx.State
    rest: nnx.State
    opt_state: Any


def split_model(model: nnx.Module) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """``(graphdef, params, rest)``: the model's Params and every other variable."""
    return nnx.split(model, nnx.Param, ...)


def flat_names(state: nnx.State) -> list[str]:
    """Dotted paths (``layers.1.ffn.w_in``) of the variables of ``state``, in leaf order."""
    return [".".join(str(p) for p in path) for path, _ in nnx.to_flat_state(state)]


def _flat_values(state: nnx.State) -> list[Any]:
    return [v[...] if isinstance(v, nnx.Variable) else v for _, v in nnx.to_flat_state(state)]


def _key_name(entry: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def aux_metrics(aux: Any) -> dict[str, jax.Array]:
    """One MoE layer's aux pytree as ``{dotted name: array}`` (losses and routing metrics).

    Works for any pytree of arrays (NamedTuple, dataclass or dict); ``None`` leaves vanish.
    """
    leaves, _ = jax.tree_util.tree_flatten_with_path(aux)
    return {".".join(_key_name(k) for k in path): jnp.asarray(leaf) for path, leaf in leaves}


def _aux_loss(aux: Any) -> jax.Array:
    return jnp.asarray(aux.loss, jnp.float32)


def lm_loss(
    graphdef: nnx.GraphDef,
    params: nnx.State,
    rest: nnx.State,
    tokens: jax.Array,
    key: jax.Array | None,
    mask_key: jax.Array | None = None,
    *,
    objective: str = "next_token",
    mask_rate: float = 0.15,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array, dict[int, Any], jax.Array]]:
    """``(loss, (ce, aux_loss, aux, ce_per_sequence))`` of ``tokens[B, T + 1]``.

    ``objective="next_token"``: inputs ``tokens[:, :-1]``, targets ``tokens[:, 1:]``, every
    position counts. ``objective="masked"``: the sequence ``x = tokens[:, :-1]`` with the
    positions of :func:`~routerlab.train.objective.mask_positions` ``(mask_key, x.shape,
    mask_rate)`` replaced by ``MASK_ID`` is the input, ``x`` the target, and only masked
    positions count. ``key`` feeds router noise. ``aux`` maps each MoE block index to its
    layer's aux pytree.
    """
    model = nnx.merge(graphdef, params, rest)
    if objective == "next_token":
        logits, aux = model(tokens[:, :-1], key=key)
        ce_tok = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:])
        ce_seq = jnp.mean(ce_tok, axis=1)
    elif objective == "masked":
        if mask_key is None:
            raise ValueError("the masked objective needs a mask_key")
        x = tokens[:, :-1]
        mask = mask_positions(mask_key, x.shape, mask_rate)
        logits, aux = model(apply_mask(x, mask), key=key)
        ce_seq = masked_cross_entropy(logits, x, mask)  # every row has the same number of masked positions
    else:
        raise ValueError(f"unknown objective {objective!r}; expected 'next_token' or 'masked'")
    ce = jnp.mean(ce_seq)
    aux_loss = jnp.zeros((), jnp.float32)
    for layer_aux in aux.values():
        aux_loss = aux_loss + _aux_loss(layer_aux)
    return ce + aux_loss, (ce, aux_loss, aux, ce_seq)


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def router_bias_update(graphdef: nnx.GraphDef, params: nnx.State, rest: nnx.State, aux: dict[int, Any]) -> nnx.State:
    """DeepSeek loss-free balancing after a step: each MoE block with a router bias moves it
    by ``bias_update_rate * sign(mean(load) - load)`` using the load of that step's batch
    (:meth:`routerlab.moe.MoELayer.update_bias`). Returns the new ``rest``."""
    model = nnx.merge(graphdef, params, rest)
    for index, layer_aux in aux.items():
        layer = model.layers[index].ffn
        if getattr(layer, "router_bias", None) is not None:
            layer.update_bias(layer_aux.load)
    _, _, new_rest = split_model(model)
    return new_rest


def uses_router_bias(rest: nnx.State) -> bool:
    """Whether a model's non-Param state holds router biases (router='deepseek')."""
    return any(path[-1] == "router_bias" for path, _ in nnx.to_flat_state(rest))


LossFn = Callable[..., tuple[jax.Array, tuple[jax.Array, jax.Array, dict[int, Any], jax.Array]]]
RestUpdate = Callable[[nnx.State, nnx.State, dict[int, Any]], nnx.State]


def make_train_step(
    loss_fn: LossFn,
    tx: optax.GradientTransformation,
    *,
    rest_update: RestUpdate | None = None,
    diagnostics: bool = True,
) -> Callable[..., tuple[TrainState, dict[str, Any], dict[str, Any]]]:
    """The training engine's one step, a pure function (jit it, scan it, vmap it):
    ``step(state, tokens, key, mask_key=None) -> (state, metrics, health)``.

    ``loss_fn(params, rest, tokens, key, mask_key) -> (loss, (ce, aux_loss, aux, ce_seq))``
    is differentiated in ``params`` (e.g. :func:`lm_loss` with its graphdef and objective
    bound; RL-R's :func:`routerlab.moe.reinforce.reinforce_lm_loss`); ``key`` feeds router
    noise (``None``: none), ``mask_key`` the masked objective. The update is ``tx`` (clipping,
    AdamW, ... as the optimiser says), then ``rest_update(params, rest, aux) -> rest`` (the
    DeepSeek loss-free balancing step) when given.

    ``metrics``: ``loss``, ``ce``, ``aux_loss``, ``grad_norm`` (global, before clipping) and
    ``routing`` (``{layer: aux_metrics}``). ``health["ok"]``: loss, gradients and the new
    state (parameters, other variables, optimiser state) all finite. With ``diagnostics``
    also ``grad_norms``, ``params_finite`` and ``rest_finite`` (per variable), from which
    :func:`nonfinite_message` names the offending quantity; under ``jax.lax.scan`` or when
    unused they cost nothing (XLA drops dead outputs), but a jitted single step returns them.

    :func:`scan_steps` runs ``n`` of these steps in one program, and ``jax.vmap`` of that
    trains several seeds at once (:func:`routerlab.studies.lm_sweep.train_seeds`).
    """

    def step(state: TrainState, tokens: jax.Array, key: jax.Array | None, mask_key: jax.Array | None = None):
        grad_fn = jax.value_and_grad(loss_fn, argnums=0, has_aux=True)
        (loss, (ce, aux_loss, aux, _)), grads = grad_fn(state.params, state.rest, tokens, key, mask_key)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        rest = state.rest if rest_update is None else rest_update(params, state.rest, aux)
        ok = (
            jnp.isfinite(loss)
            & jnp.isfinite(grad_norm)
            & _all_finite(params)
            & _all_finite(rest)
            & _all_finite(opt_state)
        )
        metrics = {
            "loss": loss,
            "ce": ce,
            "aux_loss": aux_loss,
            "grad_norm": grad_norm,
            "routing": {layer: aux_metrics(a) for layer, a in aux.items()},
        }
        health = {"ok": ok}
        if diagnostics:
            health.update(
                grad_norms=jax.tree.map(jnp.linalg.norm, grads),
                params_finite=jax.tree.map(lambda p: jnp.all(jnp.isfinite(p)), params),
                rest_finite=jax.tree.map(lambda v: jnp.all(jnp.isfinite(v)), rest),
            )
        return TrainState(params, rest, opt_state), metrics, health

    return step


def scan_steps(step: Callable, *, noise: bool, masked: bool) -> Callable:
    """``run(state, tokens[n], keys[n], mask_keys[n]) -> (state, per_step)``: ``n`` steps of
    ``step`` (:func:`make_train_step`) in one ``jax.lax.scan``, pure (jit or vmap it).

    ``keys``/``mask_keys`` are the per-step router-noise and mask keys; they are passed to
    the step only when ``noise``/``masked`` (else ``None``). ``per_step`` holds ``loss``,
    ``ce``, ``aux_loss``, ``grad_norm`` and ``ok`` for each step (leading axis ``n``).
    """

    def run(state: TrainState, tokens: jax.Array, keys: jax.Array, mask_keys: jax.Array):
        def body(state, inputs):
            tok, key, mask_key = inputs
            new, metrics, health = step(state, tok, key if noise else None, mask_key if masked else None)
            return new, {"loss": metrics["loss"], "ce": metrics["ce"], "aux_loss": metrics["aux_loss"],
                         "grad_norm": metrics["grad_norm"], "ok": health["ok"]}

        return jax.lax.scan(body, state, (tokens, keys, mask_keys))

    return run


def make_eval_step(
    graphdef: nnx.GraphDef, *, objective: str = "next_token", mask_rate: float = 0.15,
) -> Callable[..., tuple[jax.Array, dict]]:
    """The jitted ``eval(params, rest, tokens, mask_key=None) -> (ce_per_sequence[B], routing)``
    (no router noise). The masked objective needs ``mask_key``: the evaluation batch's
    :func:`~routerlab.train.objective.eval_mask_key`, so every run masks the same positions."""

    def step(params: nnx.State, rest: nnx.State, tokens: jax.Array, mask_key: jax.Array | None = None):
        _, (_, _, aux, ce_seq) = lm_loss(graphdef, params, rest, tokens, None, mask_key,
                                         objective=objective, mask_rate=mask_rate)
        return ce_seq, {layer: aux_metrics(a) for layer, a in aux.items()}

    return jax.jit(step)


def _describe(value: float) -> str:
    return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")


def nonfinite_message(step: int, metrics: dict[str, Any], health: dict[str, Any]) -> str:
    """One line naming the first non-finite quantity of a step, e.g.
    ``step 17: grad norm of layers.1.ffn.w_in is inf``.

    Checked in order: the loss (then its parts), per-parameter gradient norms, the updated
    parameters, the other variables (router biases).
    """
    for name in ("loss", "ce", "aux_loss", "grad_norm"):
        value = float(metrics[name])
        if not np.isfinite(value):
            if name == "grad_norm":
                break  # name the parameter below
            return f"step {step}: {name.replace('_', ' ')} is {_describe(value)}"
    norms = health["grad_norms"]
    for name, value in zip(flat_names(norms), _flat_values(norms)):
        if not np.isfinite(float(value)):
            return f"step {step}: grad norm of {name} is {_describe(float(value))}"
    if not np.isfinite(float(metrics["grad_norm"])):
        return f"step {step}: grad norm is {_describe(float(metrics['grad_norm']))}"
    for tree, what in ((health["params_finite"], "parameter"), (health["rest_finite"], "variable")):
        for name, finite in zip(flat_names(tree), _flat_values(tree)):
            if not bool(finite):
                return f"step {step}: {what} {name} is not finite after the update"
    return f"step {step}: optimizer state is not finite after the update"
