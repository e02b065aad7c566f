"""``LMConfig``: the toy language model, dense or Mixture-of-Experts; a causal decoder, or a
bidirectional encoder with ``causal=False``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routerlab.config import check
from routerlab.moe.config import MoEConfig, causal_leak

__all__ = ["LMConfig"]


@dataclass(frozen=True)
class LMConfig:
    """Hyper-parameters of :class:`routerlab.models.LM`.

    Architecture: token embedding (plus a learned position table when
    ``positions="learned"``), ``n_layers`` pre-norm blocks
    ``x += attn(rmsnorm(x)); x += ffn(rmsnorm(x))`` with multi-head attention (causal, or
    bidirectional when ``causal=False``), a final RMSNorm, and an output head (the transposed
    embedding when ``tie_embeddings``). Every matmul is bias-free. Dense FFNs are :class:`routerlab.moe.DenseFFN`,
    ``act(x @ w_in) @ w_out`` of width ``d_ff``: the same form and initialisation as one
    expert of :class:`routerlab.moe.MoELayer`, so dense and MoE models differ only in routing.

    Attributes:
      vocab_size: token ids are in ``[0, vocab_size)``.
      d_model: residual width ``d``.
      n_layers: transformer blocks ``L``.
      n_heads: attention heads; ``d_model`` must divide by it.
      seq_len: context length ``T`` (the attention cost is charged at this length).
      d_ff: hidden width of the dense FFNs.
      ffn: ``"dense"`` everywhere, or ``"moe"`` in every ``moe_every``-th block.
      moe: the MoE layer config (its ``d_model`` must equal ``d_model``); set iff ``ffn="moe"``.
      moe_every: block ``i`` (0-based) is MoE iff ``(i + 1) % moe_every == 0``: ``1`` is
        every block, ``2`` every other one starting with the second (Switch, GShard).
      positions: ``"rope"`` (rotary, no parameters) or ``"learned"`` (``seq_len x d`` table).
      tie_embeddings: output logits are ``h @ embedding.T``; else a separate ``d x V`` head.
      dtype: activation and matmul dtype; parameters stay float32, logits and softmaxes
        are float32.
      rope_base: rotary frequency base.
      norm_eps: RMSNorm epsilon.
      activation: dense FFN activation (MoE experts use ``moe.activation``).
      causal: ``True``: a decoder, position ``t`` sees positions ``<= t`` only (attention is
        masked and MoE layers refuse token-mixing routers, :func:`~routerlab.moe.causal_leak`).
        ``False``: a bidirectional encoder, every position sees the whole sequence, and
        expert choice, Soft MoE and Sinkhorn are allowed. Train it on the masked objective
        (``TrainConfig.objective="masked"``): on next-byte prediction it could copy the answer.
    """

    vocab_size: int = 128
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    seq_len: int = 128
    d_ff: int = 256
    ffn: Literal["dense", "moe"] = "dense"
    moe: MoEConfig | None = None
    moe_every: int = 1
    positions: Literal["rope", "learned"] = "rope"
    tie_embeddings: bool = True
    dtype: Literal["float32", "bfloat16"] = "float32"
    rope_base: float = 10_000.0
    norm_eps: float = 1e-6
    activation: Literal["gelu", "relu", "silu"] = "gelu"
    causal: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "seq_len", "d_ff", "moe_every"):
            check(getattr(self, name) >= 1, name, f"must be >= 1; got {getattr(self, name)}")
        check(self.d_model % self.n_heads == 0, "n_heads",
              f"must divide d_model ({self.d_model}); got {self.n_heads}")
        check(self.positions != "rope" or self.head_dim % 2 == 0, "n_heads",
              f"rotary positions need an even head_dim; d_model / n_heads = {self.head_dim}")
        check(self.rope_base > 1, "rope_base", f"must be > 1; got {self.rope_base}")
        check(self.norm_eps > 0, "norm_eps", f"must be > 0; got {self.norm_eps}")
        if self.ffn == "moe":
            check(self.moe is not None, "moe", "ffn='moe' needs a moe config (e.g. moe.num_experts=8)")
            assert self.moe is not None
            check(self.moe.d_model == self.d_model, "moe.d_model",
                  f"must equal d_model ({self.d_model}); got {self.moe.d_model}")
            check(self.moe_every <= self.n_layers, "moe_every",
                  f"must be <= n_layers ({self.n_layers}) so that some block is MoE; got {self.moe_every}")
            leak = causal_leak(self.moe) if self.causal else None
            check(leak is None or self.moe.allow_causal_leak, "moe.router",
                  f"this is a causal decoder and {leak}; use a bidirectional encoder (causal=false) "
                  "or set moe.allow_causal_leak=true only to study the leak")
        else:
            check(self.moe is None, "moe", "is set but ffn is 'dense'; set ffn=moe, or moe=null")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def is_moe_layer(self, i: int) -> bool:
        """Whether block ``i`` (0-based) has an MoE FFN."""
        return self.ffn == "moe" and (i + 1) % self.moe_every == 0

    @property
    def moe_layers(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n_layers) if self.is_moe_layer(i))
