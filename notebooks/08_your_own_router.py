# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Write your own MoE router
#
# In routerlab an MoE router is a pure function and a record of what it is:
#
# * `route(inputs) -> Routing`: `inputs.logits [T, E]` are the float32 router logits
#   `tokens @ router` of the call's `T` tokens (the layer owns the learned `router [d, E]`);
#   the result names each token's experts (`expert_index [T, k]`), their combine weights
#   (`gates [T, k]`, differentiable: the router learns through them) and the router's
#   distribution over experts (`probs [T, E]`, read by the load-balance loss and the metrics);
# * a frozen `RouterSpec` around it: whether the routing of one token depends on other
#   tokens (`mixes_tokens`), how many experts a token uses and what that costs in FLOPs, and
#   a few more facts the layer, the causal guard, the accounting and expert parallelism read.
#
# `register_router(name, spec)` makes `MoEConfig(router=name)` valid everywhere a router name
# is. This notebook writes a router in a dozen lines, registers it, and trains it on planted
# experts next to Switch, reading how well its routing recovers the planted clusters (AMI).
# Nothing here starts a long run: `ROUTERLAB_SCALE` (default `smoke`) sets the steps and seeds.

# %%
import os
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.metrics import adjusted_mutual_info_score

from routerlab.config import ConfigError
from routerlab.models import LMConfig
from routerlab.moe import MoEConfig, MoELayer, Routing, RouterInputs, RouterSpec, causal_leak, moe_flops_per_token
from routerlab.moe import register_router, router_scores
from routerlab.report.stats import mean_ci
from routerlab.rng import stream_key
from routerlab.runtime import FAST_COMPILE
from routerlab.studies.planted import PlantedConfig, main_expert, make_teacher, sample_task, variant_moe_config

scale = os.environ.get("ROUTERLAB_SCALE", "smoke")
steps, seeds = {"smoke": (200, 3), "quick": (1000, 5)}.get(scale, (3000, 10))

# %% [markdown]
# ## The router: top-1 after a one-step balance
#
# Switch sends each token to the expert with the highest probability. Left alone, a few
# experts win most tokens, which is why Switch needs a load-balance loss. Our router
# subtracts from each expert's score its mean over the call's tokens before taking the
# argmax: an expert every token likes is handicapped, an expert nobody likes gets a chance.
# It is one step of the balancing that Sinkhorn (BASE layers) iterates. The gate stays the
# unshifted probability, so the task loss trains the router exactly as it trains Switch's.

# %%
def balanced_top1(inputs: RouterInputs) -> Routing:
    scores, probs = router_scores(inputs.logits, "softmax")  # [T, E] each
    centred = scores - jnp.mean(scores, axis=0, keepdims=True)  # each expert's score minus its mean
    index = jnp.argmax(jax.lax.stop_gradient(centred), axis=-1).astype(jnp.int32)[:, None]  # [T, 1]
    gates = jnp.take_along_axis(scores, index, axis=-1)  # the chosen expert's own probability
    return Routing(expert_index=index, gates=gates, logits=inputs.logits, probs=probs)


spec = RouterSpec(
    route=balanced_top1,
    # A token's expert depends on every other token of the call through the column means,
    # so a causal decoder must refuse it; the phrase is what the refusal will say.
    mixes_tokens="each expert's mean score over all tokens of the call shifts every token's choice",
)
register_router("balanced_top1", spec, replace=True)  # replace=True: this cell can run twice

# %% [markdown]
# Everything else in `RouterSpec` keeps its default: a learned `[d, E]` router, no selection
# bias, softmax scores, and `cfg.top_k` experts per token (1 here) for the FLOP and parameter
# accounting. The name is now a router like the built-in ones:

# %%
planted = PlantedConfig()  # the planted-experts study's defaults: 8 clusters in 8-D, experts of width 32
switch = variant_moe_config(planted, "switch")  # the study's Switch: top-1, capacity factor 1.25
ours = replace(switch, router="balanced_top1")  # the same layer with our router
print(ours.router, "| FLOPs per token:", moe_flops_per_token(ours), "(Switch:", moe_flops_per_token(switch), ")")
print("causal?", causal_leak(ours))
try:
    MoEConfig(router="balanced_top_1")
except ConfigError as err:
    print("a typo is refused:", err)

# %% [markdown]
# ## Train both on planted experts
#
# The task (`routerlab.studies.planted`): inputs from 8 Gaussian clusters, each with its own
# random tanh network as the target. The model is the study's: embed, add an MoE FFN on the
# normalised embedding, read out. Each router trains `seeds` models in one compiled call
# (`vmap` over seeds of a `lax.scan` over steps), each seed drawing from its own named key
# streams, as the planted-experts study trains its variants.

# %%
task = planted.task
teacher = make_teacher(task)


class PlantedMoE(nnx.Module):
    def __init__(self, moe: MoEConfig, *, rngs: nnx.Rngs):
        self.embed = nnx.Linear(task.input_dim, moe.d_model, rngs=rngs)
        self.norm = nnx.LayerNorm(moe.d_model, rngs=rngs)
        self.ffn = MoELayer(moe, rngs=rngs)
        self.head = nnx.Linear(moe.d_model, task.output_dim, rngs=rngs)

    def __call__(self, x):
        h = self.embed(x)
        y, aux = self.ffn(self.norm(h))
        return self.head(h + y), aux

    def top_expert(self, x):
        return main_expert(self.ffn.route(self.norm(self.embed(x))), self.ffn.cfg.num_experts)


def train_and_eval(moe: MoEConfig, seed: jax.Array):
    model = PlantedMoE(moe, rngs=nnx.Rngs(params=stream_key(seed, "params")))
    optimizer = nnx.Optimizer(model, optax.adam(optax.cosine_decay_schedule(planted.lr, steps)), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))

    def step(state, i):
        model, optimizer = nnx.merge(graphdef, state)
        x, y, _ = sample_task(task, teacher, jax.random.fold_in(stream_key(seed, "data"), i), planted.batch_size)

        def loss_fn(model):
            pred, aux = model(x)
            return jnp.mean((pred - y) ** 2) + aux.loss  # task loss + Switch balance loss + z-loss

        optimizer.update(model, nnx.grad(loss_fn)(model))
        return nnx.state((model, optimizer)), None

    model, _ = nnx.merge(graphdef, jax.lax.scan(step, state, jnp.arange(steps))[0])
    # Test in training-size batches: our router balances over the tokens of one call.
    x, y, cluster = sample_task(task, teacher, stream_key(task.seed, "test"), 8 * planted.batch_size)
    batches = lambda a: a.reshape(8, planted.batch_size, -1)  # noqa: E731
    pred, experts = jax.lax.map(lambda xb: (model(xb)[0], model.top_expert(xb)), batches(x))
    nmse = jnp.mean((pred.reshape(y.shape) - y) ** 2) / jnp.mean(jnp.var(y, axis=0))
    return nmse, experts.reshape(-1), cluster


per_seed = {}
for name, moe in {"switch": switch, "balanced_top1": ours}.items():
    run = jax.jit(jax.vmap(partial(train_and_eval, moe)), compiler_options=FAST_COMPILE)
    nmse, experts, cluster = jax.device_get(run(jnp.arange(seeds)))
    ami = np.array([adjusted_mutual_info_score(c, e) for c, e in zip(cluster, experts)])
    per_seed[name] = {"nmse": nmse, "ami": ami}
    for key, values in per_seed[name].items():
        m = mean_ci(values)
        print(f"{name:14s} test {key:4s} {m.mean:.3f}  95% CI [{m.lo:.3f}, {m.hi:.3f}]  per seed {np.round(values, 3)}")
print(f"({seeds} seeds, {steps} steps each)")

# %% [markdown]
# AMI is 0 for routing independent of the clusters and 1 when each expert holds exactly one
# cluster. A router that learned nothing from the data would sit near 0; the next cell checks
# that ours did not, then compares it with Switch seed by seed (both routers see the same
# initial weights and the same batches for a given seed, so the difference is paired). At
# `smoke` scale the models are barely trained and the interval is wide: read it at
# `ROUTERLAB_SCALE=quick` or above before concluding anything.

# %%
assert per_seed["balanced_top1"]["ami"].mean() > 0.3, "the router should follow the planted clusters"
for key in ("ami", "nmse"):
    d = mean_ci(per_seed["balanced_top1"][key] - per_seed["switch"][key])
    print(f"balanced_top1 - switch, test {key}: {d.mean:+.3f}  95% CI [{d.lo:+.3f}, {d.hi:+.3f}]")

# %% [markdown]
# ## Where the name goes from here
#
# `MoEConfig(router="balanced_top1")` now works in every `MoELayer`, in the toy LM
# (`routerlab.models.LM`, whose config is `LMConfig(ffn="moe", moe=...)`), in its FLOP and
# parameter accounting and in expert parallelism (`routerlab.parallel.ep_moe`). What the spec
# says is enforced: this router mixes tokens, so the causal decoder refuses it, while a
# bidirectional encoder takes it.

# %%
lm = dict(d_model=switch.d_model, n_heads=2, ffn="moe")
try:
    LMConfig(**lm, moe=ours)
except ConfigError as err:
    print("causal decoder:", err)
print("encoder:", LMConfig(**lm, moe=ours, causal=False).moe.router)

# %% [markdown]
# A run loads only the router's *name* from its config, so register the router where the run
# starts: at the top of your experiment file, or in a module it imports.
