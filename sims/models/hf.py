r"""Any Hugging Face ``transformers`` masked LM or diffusion LM as a suite :class:`~sims.denoisers.base.Denoiser`.

The suite's tokens are ``0..V-1`` with mask id V; a real model has its own vocabulary and mask token.
:class:`HFDenoiser` maps one to the other and back, so every sampler, metric and the bench run on a real
network unchanged.

Model-call convention (stated, and recorded by :meth:`HFDenoiser.describe`)
-------------------------------------------------------------------------
1. Input: suite token v -> model id ``token_ids[v]``, the mask V -> ``mask_token_id``; ``prefix_ids`` are
   put before the L positions and ``suffix_ids`` after (e.g. BERT's ``[CLS]`` / ``[SEP]``, a BOS token or
   a fixed prompt). The model is called once per chunk of ``batch_size`` rows as
   ``model(input_ids=ids, attention_mask=ones).logits`` (``call`` replaces this, e.g. for a model that
   takes a time or noise level: ``call(model, ids, t)`` must return ``(B, len(ids[0]), vocab)`` logits).
2. Dream-style shift (``shift=True``): the logits at input position i predict the token at i + 1, so
   the prediction for position j is read at j - 1 (Dream's ``cat([logits[:, :1], logits[:, :-1]])``;
   the first position of the whole input reads its own logits). LLaDA, BERT-style MLMs and MDLM use no
   shift.
3. Output: the logits of the V columns ``token_ids`` only, in float64, renormalised by a log-softmax
   over those V columns: the model's law conditioned on emitting a token of the language. This drops
   the mask column, i.e. MDLM's SUBS zero-masking-probability rule, and any other vocabulary entry.
   Revealed positions are one-hot on their token (SUBS carry-over), whatever the model says there.
4. ``dtype`` casts the model (e.g. ``torch.bfloat16``); the logits are converted to float64 before the
   log-softmax. ``device`` moves the model; inputs go there and outputs come back to the caller's device.
5. Time: ``time_conditioned=False`` by default (LLaDA, Dream and BERT-style MLMs take no time input; so
   do the time-agnostic networks of this suite). With a ``call`` that uses ``t``, pass
   ``time_conditioned=True`` so that samplers do not reuse outputs across steps.

Presets for known conventions: :func:`llada_denoiser` (mask id 126336, no shift, no time input),
:func:`dream_denoiser` (shift, the model config's ``mask_token_id``), :func:`masked_lm_denoiser`
(BERT/RoBERTa-style). Loading a checkpoint needs ``transformers`` (an optional extra,
``pip install -e '.[hf]'``), imported lazily by :func:`load_pretrained` only; the adapter itself works
on any ``torch.nn.Module`` with a ``logits`` output. See ``docs/real_models.md``.

:meth:`HFDenoiser.logits` is the differentiable restricted-logit function ``(B, L) -> (B, L, V)``, so the
suite's training objectives (:func:`sims.models.objectives.example_losses`) train a ``transformers``
model directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.validation import InvalidArgumentError, check_positive_int, check_tokens

#: LLaDA's mask token id (LLaDA ``generate.py``, ``mask_id=126336``).
LLADA_MASK_ID = 126336


def _default_call(model, ids: torch.Tensor, t):
    return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


class HFDenoiser(Denoiser):
    """A masked / diffusion LM as a denoiser over the language's V tokens (see the module docstring).

    Args:
        model: a ``transformers`` model (or any module whose output has ``.logits``) in eval mode.
        token_ids: model vocabulary id of each suite token 0..V-1 (distinct, none equal to the mask id).
        mask_token_id: the model's mask token id.
        prefix_ids, suffix_ids: fixed model ids placed before / after the L positions.
        shift: Dream-style logit shift (logits at i predict token i + 1).
        dtype, device: cast / move the model (None: leave it as it is).
        batch_size: rows per model call.
        call: ``call(model, input_ids, t) -> logits``; default ``model(input_ids=, attention_mask=).logits``.
        time_conditioned: whether ``call`` uses ``t``.
        name: label in :meth:`describe`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        token_ids: Sequence[int],
        mask_token_id: int,
        *,
        prefix_ids: Sequence[int] = (),
        suffix_ids: Sequence[int] = (),
        shift: bool = False,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 256,
        call: Callable | None = None,
        time_conditioned: bool = False,
        name: str = "hf",
    ):
        ids = [int(i) for i in token_ids]
        if len(ids) < 2 or len(set(ids)) != len(ids):
            raise InvalidArgumentError(f"token_ids must be at least two distinct model ids, got {ids}")
        if int(mask_token_id) in ids:
            raise InvalidArgumentError(f"mask_token_id {mask_token_id} is also the id of a language token")
        if min(ids + [int(mask_token_id)]) < 0:
            raise InvalidArgumentError("model token ids must be >= 0")
        emb = getattr(model, "get_input_embeddings", lambda: None)()
        n_emb = getattr(emb, "num_embeddings", None)
        if n_emb is not None and max(ids + [int(mask_token_id)]) >= n_emb:
            raise InvalidArgumentError(
                f"model vocabulary {n_emb} does not contain token ids {ids} and mask id {mask_token_id}"
            )
        self.model = model
        if dtype is not None:
            self.model = self.model.to(dtype)
        if device is not None:
            self.model = self.model.to(device)
        self.model.eval()
        self.vocab_size = len(ids)
        self.token_ids = torch.tensor(ids, dtype=torch.long)
        self.mask_token_id = int(mask_token_id)
        self.prefix_ids = torch.tensor([int(i) for i in prefix_ids], dtype=torch.long)
        self.suffix_ids = torch.tensor([int(i) for i in suffix_ids], dtype=torch.long)
        self.shift = bool(shift)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.call = call or _default_call
        self.time_conditioned = bool(time_conditioned)
        self.name = name

    # ---- mapping ---------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def model_input(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` suite tokens (mask id V) -> ``(B, P + L + S)`` model ids."""
        table = torch.cat([self.token_ids, torch.tensor([self.mask_token_id])]).to(tokens.device)
        body = table[tokens]
        B = tokens.shape[0]
        pre = self.prefix_ids.to(tokens.device).expand(B, -1)
        suf = self.suffix_ids.to(tokens.device).expand(B, -1)
        return torch.cat([pre, body, suf], dim=1)

    def logits(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable ``(B, L, V)`` logits of the language's tokens at the L positions (model dtype)."""
        dev = self._device()
        ids = self.model_input(tokens.to(dev))
        full = self.call(self.model, ids, None if t is None else t.to(dev))
        if full.shape[:2] != ids.shape:
            raise InvalidArgumentError(
                f"model returned logits of shape {tuple(full.shape)} for input {tuple(ids.shape)}"
            )
        if full.shape[-1] <= int(self.token_ids.max()) or full.shape[-1] <= self.mask_token_id:
            raise InvalidArgumentError(
                f"model vocabulary {full.shape[-1]} does not contain token ids {self.token_ids.tolist()} "
                f"and mask id {self.mask_token_id}"
            )
        if self.shift:
            full = torch.cat([full[:, :1], full[:, :-1]], dim=1)
        P, L = self.prefix_ids.numel(), tokens.shape[1]
        return full[:, P : P + L].index_select(-1, self.token_ids.to(dev))

    # ---- Denoiser --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True)
        parts = []
        for s in range(0, tokens.shape[0], self.batch_size):
            tt = None if t is None else t[s : s + self.batch_size]
            lg = self.logits(tokens[s : s + self.batch_size], tt).to(torch.float64)
            parts.append(torch.log_softmax(lg, dim=-1).to(tokens.device))
        lp = (
            torch.cat(parts)
            if parts
            else torch.zeros((0, tokens.shape[1], self.vocab_size), dtype=torch.float64, device=tokens.device)
        )
        impossible = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        return DenoiserOutput(carry_over(lp, tokens, self.vocab_size), impossible)

    def describe(self) -> dict:
        cfg = getattr(self.model, "config", None)
        return {
            "type": "HFDenoiser",
            "name": self.name,
            "model_class": type(self.model).__name__,
            "model_type": getattr(cfg, "model_type", None),
            "token_ids": self.token_ids.tolist(),
            "mask_token_id": self.mask_token_id,
            "prefix_ids": self.prefix_ids.tolist(),
            "suffix_ids": self.suffix_ids.tolist(),
            "shift": self.shift,
            "dtype": str(next(self.model.parameters()).dtype)
            if any(True for _ in self.model.parameters())
            else None,
            "time_conditioned": self.time_conditioned,
            "output": "float64 log-softmax over the V language tokens; one-hot carry-over at revealed positions",
        }


def masked_lm_denoiser(model, token_ids: Sequence[int], mask_token_id: int, **kwargs) -> HFDenoiser:
    """BERT / RoBERTa-style masked LM: no shift, no time input (pass ``prefix_ids``/``suffix_ids`` for
    ``[CLS]``/``[SEP]`` or ``<s>``/``</s>`` when the model was trained with them)."""
    return HFDenoiser(model, token_ids, mask_token_id, name=kwargs.pop("name", "masked_lm"), **kwargs)


def llada_denoiser(
    model, token_ids: Sequence[int], mask_token_id: int = LLADA_MASK_ID, **kwargs
) -> HFDenoiser:
    """LLaDA conventions: mask id 126336, no logit shift, no time input, logits from ``model(input_ids)``."""
    kwargs.setdefault("call", lambda m, ids, t: m(ids).logits)
    return HFDenoiser(
        model, token_ids, mask_token_id, shift=False, name=kwargs.pop("name", "llada"), **kwargs
    )


def dream_denoiser(model, token_ids: Sequence[int], mask_token_id: int | None = None, **kwargs) -> HFDenoiser:
    """Dream conventions: logits shifted by one position; mask id from ``model.config.mask_token_id``."""
    if mask_token_id is None:
        mask_token_id = getattr(getattr(model, "config", None), "mask_token_id", None)
        if mask_token_id is None:
            raise InvalidArgumentError("the model config has no mask_token_id; pass mask_token_id")
    return HFDenoiser(model, token_ids, mask_token_id, shift=True, name=kwargs.pop("name", "dream"), **kwargs)


def load_pretrained(
    path: str, *, trust_remote_code: bool = False, dtype=None, auto_class: str = "AutoModelForMaskedLM"
):
    """Load a local checkpoint with ``transformers`` (optional dependency, imported here only).

    ``auto_class``: ``"AutoModelForMaskedLM"`` (BERT-style, MDLM) or ``"AutoModel"`` (LLaDA and Dream ship
    custom code: pass ``trust_remote_code=True`` only for code you have read). Nothing is downloaded by
    the suite; ``path`` is a local folder or a name the user's own cache resolves.
    """
    import transformers  # lazy: optional extra "hf"

    cls = getattr(transformers, auto_class)
    kwargs = {"trust_remote_code": trust_remote_code}
    if dtype is not None:  # renamed from torch_dtype to dtype in transformers 5
        kwargs["dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"] = dtype
    return cls.from_pretrained(path, **kwargs).eval()
