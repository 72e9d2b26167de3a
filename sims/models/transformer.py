r"""Small pre-LayerNorm transformers: bidirectional (MDM denoiser) and causal (autoregressive baseline).

Both share one block definition (multi-head self-attention written out with matmul + softmax, so that
``torch.func.vmap`` can take per-example gradients, and a GELU MLP). Inputs are token ids in
``0..V`` where id V is the mask token (MDM) or the beginning-of-sequence token (AR); the head outputs V
logits, so the mask/BOS class is never predicted (MDLM's SUBS parameterisation). The MDM network is
time-independent (no time embedding), as allowed for masked diffusion with the time-agnostic
parameterisation (Ou et al., RADD, arXiv 2406.03736; Zheng et al., arXiv 2409.02908).

Initialisation draws from an explicit ``torch.Generator`` (normal, std 0.02; zero biases; unit
LayerNorm), so a seed fully determines the initial network without touching global RNG state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from sims.validation import InvalidArgumentError, check_positive_int


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture of :class:`TransformerNet`."""

    vocab_size: int
    max_length: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    causal: bool = False

    def __post_init__(self):
        for name in ("vocab_size", "max_length", "d_model", "n_layers", "n_heads", "d_ff"):
            check_positive_int(getattr(self, name), name)
        if self.d_model % self.n_heads:
            raise InvalidArgumentError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.causal = cfg.causal
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.fc2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, L, D = h.shape
        H = self.n_heads
        q, k, v = self.qkv(self.ln1(h)).split(D, dim=-1)
        q, k, v = (z.reshape(B, L, H, D // H).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // H)
        if self.causal:
            future = torch.ones(L, L, dtype=torch.bool, device=h.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        att = torch.softmax(scores, dim=-1) @ v
        h = h + self.proj(att.transpose(1, 2).reshape(B, L, D))
        return h + self.fc2(nn.functional.gelu(self.fc1(self.ln2(h))))


class TransformerNet(nn.Module):
    """Token + learned position embeddings, ``n_layers`` blocks, final LayerNorm, V-way head."""

    def __init__(self, cfg: TransformerConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(cfg.max_length, cfg.d_model))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln" in name or name.startswith("ln_"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` ids in 0..V -> ``(B, L, V)`` float32 logits."""
        L = tokens.shape[-1]
        if L > self.cfg.max_length:
            raise InvalidArgumentError(f"length {L} exceeds the model's max_length {self.cfg.max_length}")
        h = self.tok_emb(tokens) + self.pos_emb[:L]
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.ln_f(h))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
