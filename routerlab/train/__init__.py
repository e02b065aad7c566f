"""Training of the toy LM: pure jitted steps over NNX state, orbax checkpoints, resume, NaN guard."""

from routerlab.train.checkpoint import Checkpoints, flatten_state, unflatten_state
from routerlab.train.config import LMRunConfig, TrainConfig
from routerlab.train.loop import (
    NonFiniteError,
    compiled_steps,
    evaluate,
    init_state,
    make_optimizer,
    make_schedule,
    to_python,
    train,
    truncate_metrics,
)
from routerlab.train.objective import MASK_ID, check_mask_id, eval_mask_key, mask_positions, masked_cross_entropy
from routerlab.train.step import (
    TrainState,
    aux_metrics,
    lm_loss,
    make_eval_step,
    make_train_step,
    nonfinite_message,
    router_bias_update,
    split_model,
)

__all__ = [
    "train",
    "NonFiniteError",
    "LMRunConfig",
    "TrainConfig",
    "TrainState",
    "Checkpoints",
    "flatten_state",
    "unflatten_state",
    "compiled_steps",
    "evaluate",
    "init_state",
    "make_optimizer",
    "make_schedule",
    "to_python",
    "truncate_metrics",
    "aux_metrics",
    "lm_loss",
    "make_eval_step",
    "make_train_step",
    "nonfinite_message",
    "router_bias_update",
    "split_model",
    "MASK_ID",
    "check_mask_id",
    "eval_mask_key",
    "mask_positions",
    "masked_cross_entropy",
]
