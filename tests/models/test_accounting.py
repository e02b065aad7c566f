"""Parameter and FLOP accounting against the instantiated model and hand arithmetic."""

import jax
import pytest
from flax import nnx

from routerlab.models import LM, LMConfig, flops_per_token, param_count, training_flops
from routerlab.moe import MoEConfig


def actual_params(cfg: LMConfig) -> int:
    """nnx.Param scalars of the model, from shapes alone (no arrays are computed)."""
    model = nnx.eval_shape(lambda: LM(cfg, rngs=nnx.Rngs(0)))
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def moe(**kw) -> MoEConfig:
    return MoEConfig(**({"d_model": 64, "d_ff": 128, "num_experts": 8, "top_k": 2} | kw))


CONFIGS = {
    "dense": LMConfig(),
    "dense-learned-untied": LMConfig(positions="learned", tie_embeddings=False, n_layers=3),
    "moe-every": LMConfig(ffn="moe", moe=moe()),
    "moe-every-other": LMConfig(ffn="moe", moe=moe(), moe_every=2, n_layers=4),
    "deepseek-shared": LMConfig(ffn="moe", moe=moe(router="deepseek", num_shared_experts=2, shared_d_ff=32)),
    "hash": LMConfig(ffn="moe", moe=moe(router="hash", top_k=1, renormalize=False)),
    "switch-capacity": LMConfig(ffn="moe", moe=moe(top_k=1, renormalize=False, capacity_factor=1.25)),
    "expert-choice": LMConfig(ffn="moe", moe=moe(router="expert_choice", capacity_factor=1.5, allow_causal_leak=True)),
    "soft": LMConfig(ffn="moe", moe=moe(router="soft", slots_per_expert=2, allow_causal_leak=True)),
    "encoder-expert-choice": LMConfig(ffn="moe", moe=moe(router="expert_choice", capacity_factor=1.0), causal=False),
    "encoder-dense-learned": LMConfig(causal=False, positions="learned"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_total_params_match_the_instantiated_model(name):
    cfg = CONFIGS[name]
    assert param_count(cfg)["total"] == actual_params(cfg)


def test_dense_counts_by_hand():
    # d=64, L=2, V=128, f=256, tied, rotary.
    # embedding 128*64 = 8192; per block: norms 2*64 = 128, attention 4*64*64 = 16384,
    # FFN 2*64*256 = 32768 -> 49280; final norm 64.
    assert param_count(LMConfig()) == {"total": 8192 + 2 * 49280 + 64, "active": 106816}
    # Untied head (+8192) and a learned 128 x 64 position table (+8192).
    assert param_count(LMConfig(tie_embeddings=False, positions="learned"))["total"] == 106816 + 16384
    # Forward FLOPs per token at T=128, 2 per multiply-add:
    # per block: projections 8*64^2 = 32768, QK^T 2*128*64 = 16384, AV 16384, FFN 4*64*256 = 65536
    # -> 131072; head 2*64*128 = 16384.
    assert flops_per_token(LMConfig()) == {"total": 2 * 131072 + 16384, "active": 278528}
    assert training_flops(LMConfig(), tokens=1000) == 3 * 278528 * 1000


def test_bidirectional_attention_counts_by_hand():
    # Both the decoder and the encoder form the full T x T score matrix (the decoder masks
    # its upper triangle), so per token and block at T=128, d=64: projections 8*64^2 = 32768,
    # QK^T 2*128*64 = 16384, AV 16384; FFN 4*64*256 = 65536; head 2*64*128 = 16384.
    per_block = 32768 + 16384 + 16384 + 65536
    assert flops_per_token(LMConfig(causal=False)) == {"total": 2 * per_block + 16384, "active": 278528}
    assert flops_per_token(LMConfig(causal=False)) == flops_per_token(LMConfig())
    # At T=32: QK^T and AV shrink to 2*32*64 = 4096 each, the rest is unchanged.
    assert flops_per_token(LMConfig(causal=False, seq_len=32))["active"] == 2 * (32768 + 2 * 4096 + 65536) + 16384
    # Parameters do not depend on the mask.
    assert param_count(LMConfig(causal=False)) == param_count(LMConfig())


def test_moe_counts_by_hand():
    # Every other block of 4 is MoE (blocks 1 and 3): E=8 experts of d_ff=128, top-2.
    cfg = CONFIGS["moe-every-other"]
    dense_block = 128 + 16384 + 32768  # norms, attention, FFN (d_ff=256)
    router = 64 * 8
    expert = 2 * 64 * 128  # 16384
    moe_block = 128 + 16384 + router + 8 * expert
    embed_final = 8192 + 64
    assert param_count(cfg) == {
        "total": embed_final + 2 * dense_block + 2 * moe_block,
        "active": embed_final + 2 * dense_block + 2 * (moe_block - 6 * expert),
    }
    attention = 32768 + 2 * 16384
    dense_ffn, expert_flops, router_flops = 65536, 4 * 64 * 128, 2 * 64 * 8
    head = 16384
    assert flops_per_token(cfg) == {
        "total": head + 4 * attention + 2 * dense_ffn + 2 * (router_flops + 8 * expert_flops),
        "active": head + 4 * attention + 2 * dense_ffn + 2 * (router_flops + 2 * expert_flops),
    }


def test_router_variants_by_hand():
    expert, expert_flops = 2 * 64 * 128, 4 * 64 * 128
    base = param_count(LMConfig())["total"] - 2 * 2 * 64 * 256  # the model without its FFNs
    base_flops = flops_per_token(LMConfig())["total"] - 2 * 65536
    # Hash routing: no router parameters, and (with token ids) no router FLOPs.
    assert param_count(CONFIGS["hash"]) == {"total": base + 2 * 8 * expert, "active": base + 2 * expert}
    assert flops_per_token(CONFIGS["hash"])["active"] == base_flops + 2 * expert_flops
    # Shared experts: 2 x 32 wide, always active.
    shared = 2 * 64 * 64
    ds = param_count(CONFIGS["deepseek-shared"])
    assert ds["active"] == base + 2 * (64 * 8 + 2 * expert + shared)
    # Expert choice serves capacity_factor * k = 3 experts per token on average.
    ec = param_count(CONFIGS["expert-choice"])
    assert ec["active"] == base + 2 * (64 * 8 + 3 * expert)
    # Soft MoE: every expert touches every token; 16 slots per 128-token sequence, plus
    # dispatch and combine (2 * 2 * d * slots) and a router of d x 16.
    soft = flops_per_token(CONFIGS["soft"])
    slots = 16
    assert soft["active"] == base_flops + 2 * (2 * 64 * slots + slots / 128 * expert_flops + 4 * 64 * slots)
    assert param_count(CONFIGS["soft"])["active"] == param_count(CONFIGS["soft"])["total"]
