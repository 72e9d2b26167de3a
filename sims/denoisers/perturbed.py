r"""Perturbed oracle: a denoiser with a controlled, exactly known learning error.

At every masked position the oracle law :math:`p^\star` is replaced by

.. math::
    \tilde p(v) = (1 - \lambda)\, \frac{p^\star(v)^{1/\tau}}{\sum_u p^\star(u)^{1/\tau}} + \frac{\lambda}{V},

a temperature :math:`\tau` (``temperature``; < 1 sharpens, > 1 flattens) followed by mixing with the
uniform law (``uniform_mix`` = :math:`\lambda`). Revealed positions stay one-hot. Mixing with the uniform
law puts mass on tokens outside the support, so it produces sequence errors even when one token is
revealed per step. The per-position learning error :math:`KL(p^\star \Vert \tilde p)` is exact and can be
read off with :func:`sims.metrics.position_kl`.
"""

from __future__ import annotations

import math

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.validation import InvalidTypeError, check_prob_rows, check_probability, check_temperature


class PerturbedDenoiser(Denoiser):
    """Wrap any denoiser with temperature and uniform mixing (see the module docstring).

    ``temperature`` must be finite and > 0 (0, inf and NaN are rejected here); a temperature so extreme
    that a row over/underflows to NaN at run time raises :class:`~sims.validation.NumericalError` naming
    the row instead of passing it on.
    """

    def __init__(self, base: Denoiser, temperature: float = 1.0, uniform_mix: float = 0.0):
        if not isinstance(base, Denoiser) and not (
            callable(getattr(base, "predict", None)) and isinstance(getattr(base, "vocab_size", None), int)
        ):
            raise InvalidTypeError(
                f"base must be a sims Denoiser (or have predict(tokens, t) and an int vocab_size), got "
                f"{type(base).__name__}"
            )
        check_temperature(temperature, allow_zero=False)
        check_probability(uniform_mix, "uniform_mix")
        self.base = base
        self.vocab_size = base.vocab_size
        self.time_conditioned = base.time_conditioned
        self.temperature = float(temperature)
        self.uniform_mix = float(uniform_mix)

    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        out = self.base.predict(tokens, t)
        lp = out.log_probs
        if self.temperature != 1.0:
            lp = torch.log_softmax(lp / self.temperature, dim=-1)
            check_prob_rows(
                lp,
                "PerturbedDenoiser log_probs",
                log=True,
                hint=f" after temperature {self.temperature!r} (it over/underflows this row)",
            )
        if self.uniform_mix > 0.0:
            lam = self.uniform_mix
            uniform = math.log(lam / self.vocab_size)
            lp = (
                torch.logaddexp(lp + math.log1p(-lam), torch.full_like(lp, uniform))
                if lam < 1
                else torch.full_like(lp, uniform)
            )
        tokens = tokens.to(lp.device)
        return DenoiserOutput(carry_over(lp, tokens, self.vocab_size), out.impossible)

    def eos_token(self) -> int | None:
        return self.base.eos_token() if isinstance(self.base, Denoiser) else None

    def describe(self) -> dict:
        return {
            "type": "PerturbedDenoiser",
            "temperature": self.temperature,
            "uniform_mix": self.uniform_mix,
            "base": self.base.describe(),
        }
