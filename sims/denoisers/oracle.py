r"""The exact (oracle) denoiser: true posterior marginals of every masked position.

For a language q and a partially revealed sequence with revealed set R,

.. math::
    p^\star(x_i = v \mid x_R) = \frac{\sum_{x: x_R \text{ fixed},\, x_i = v} q(x)}{\sum_{x: x_R \text{ fixed}} q(x)},

computed by forward-backward over the language's lifted chain (masked positions carry evidence 1,
revealed ones hard evidence), batched, on the language's device. The engine (:func:`sims.inference.
forward_backward`: reference log-space recursion, certified scaled recursion, or log-depth parallel
scan) is chosen automatically by size and device unless ``method`` is given; in float64 all engines
agree to rounding (see docs/oracle_performance.md). ``precision="float32"``/``"tf32"`` trade exactness
for speed on GPUs (measured accuracy in the docs); outputs are float64 either way.

Zero-probability evidence (an impossible partial sequence) has no posterior. By default this raises
:class:`~sims.validation.ImpossibleEvidenceError`. Two flagged fallbacks (``impossible=True`` in the
output, so callers know the trajectory already left the support):

* ``on_impossible="uniform"``: the uniform law at masked positions;
* ``on_impossible="min_violation"``: the exact :math:`\varepsilon \to 0` limit of the posterior under
  the language whose zero entries are replaced by :math:`\varepsilon` (the posterior of the closest valid
  language; :mod:`sims.inference.min_violation`). Only impossible rows pay for it.

Sequence error rates do not depend on the fallback; perplexity-type metrics of such samples are
infinite anyway, but per-token error rates of continued trajectories are only meaningful with
``"min_violation"``.
"""

from __future__ import annotations

from typing import Literal

import torch

from sims.denoisers.base import Denoiser, DenoiserOutput
from sims.inference import (
    METHODS,
    PRECISIONS,
    lex_chain,
    min_violation_posterior,
    supports_min_violation,
    token_posteriors,
)
from sims.inference.draft import DraftLogProb, draft_log_prob
from sims.inference.engine import check_engine_options
from sims.inference.incremental import ScheduledSession, position_layout
from sims.inference.leave_one_out import LeaveOneOutPosterior, leave_one_out_posteriors
from sims.inference.memory import keep_freed_memory
from sims.inference.min_violation_separable import separable_min_violation
from sims.inference.scheduled import incremental_pays, scheduled_session
from sims.languages.base import Language
from sims.validation import (
    ImpossibleEvidenceError,
    InvalidArgumentError,
    check_choice,
    check_positive_int,
    check_tokens,
    check_type,
)

OnImpossible = Literal["raise", "uniform", "min_violation"]


def sampling_fallback(language: Language) -> str:
    """The fallback samplers should use for ``language``: ``"min_violation"`` where it is defined (HMM and
    n-gram tables), else ``"uniform"``. SER does not depend on it; per-token error rates do."""
    return "min_violation" if supports_min_violation(language.chain()) else "uniform"


ON_IMPOSSIBLE = ("raise", "uniform", "min_violation")


class OracleDenoiser(Denoiser):
    """Exact posterior marginals for ``language``.

    Args:
        language: any :class:`~sims.languages.base.Language`.
        on_impossible: ``"raise"`` (default), ``"uniform"`` or ``"min_violation"`` (documented
            fallbacks, flagged per row; see the module docstring).
        chunk_size: maximum rows per forward-backward call (bounds memory: ~3 * B * T * S doubles).
        method: forward-backward engine, ``"auto"`` (default), ``"log"``, ``"scaled"`` or ``"scan"``
            (:func:`sims.inference.forward_backward`).
        precision: ``"float64"`` (default, exact), ``"float32"`` or ``"tf32"`` (GPU speed; approximate).
    """

    time_conditioned = False

    def __init__(
        self,
        language: Language,
        on_impossible: OnImpossible = "raise",
        chunk_size: int = 4096,
        method: str = "auto",
        precision: str = "float64",
    ):
        check_type(language, Language, "language", "a sims Language")
        check_choice(on_impossible, ON_IMPOSSIBLE, "on_impossible")
        check_choice(method, METHODS, "method")
        check_choice(precision, PRECISIONS, "precision")
        check_engine_options(method, precision)  # e.g. method="log" needs float64: refused now, not mid-run
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        if on_impossible == "min_violation" and not supports_min_violation(language.chain()):
            raise InvalidArgumentError(
                f"on_impossible='min_violation' is defined for HMM and n-gram languages (zero "
                f"table entries to smooth), not for {type(language).__name__}"
            )
        keep_freed_memory()  # allocator setting: no page faults on the large per-call buffers
        self.language = language
        self.vocab_size = language.vocab_size
        self.on_impossible = on_impossible
        self.chunk_size = chunk_size
        self.method = method
        self.precision = precision
        self._lex = None

    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True).to(self.language.device)
        self.language.check_length(tokens.shape[1])
        outs = [self._predict_chunk(c) for c in tokens.split(self.chunk_size)]
        return DenoiserOutput(torch.cat([o.log_probs for o in outs]), torch.cat([o.impossible for o in outs]))

    def _predict_chunk(self, tokens: torch.Tensor) -> DenoiserOutput:
        chain = self.language.chain()
        post = token_posteriors(chain, tokens, method=self.method, precision=self.precision)
        impossible = post.impossible
        log_probs = post.log_probs  # impossible rows hold the uniform placeholder
        if bool(impossible.any()):
            if self.on_impossible == "raise":
                rows = impossible.nonzero().flatten().tolist()
                raise ImpossibleEvidenceError(
                    f"revealed tokens have probability zero under the language in batch rows {rows[:10]}"
                    f"{' ...' if len(rows) > 10 else ''}; pass on_impossible='uniform' or 'min_violation' "
                    "to get a flagged fallback instead"
                )
            if self.on_impossible == "min_violation":
                log_probs[impossible] = min_violation_log_marginals(self, tokens[impossible])
        _carry_over_inplace(log_probs, tokens, self.vocab_size)
        return DenoiserOutput(log_probs, impossible)

    def offers_scheduled_session(self, length: int) -> bool:
        """True in float64 for chains with a position layout (HMM and n-gram chains; see
        :mod:`sims.inference.incremental`); the float32/TF32 oracle is approximate, so it declines."""
        return self.precision == "float64" and position_layout(self.language.chain(), length) is not None

    def prefers_scheduled_session(self, batch: int, length: int, num_steps: int) -> bool:
        """Offered, and cheaper than full passes by the cost model of :func:`sims.inference.scheduled.incremental_pays`."""
        return self.offers_scheduled_session(length) and incremental_pays(
            self.language.chain(), batch, length, num_steps
        )

    def scheduled_session(
        self, schedule: torch.Tensor, num_steps: int, engine: str = "auto"
    ) -> ScheduledSession:
        """Exact marginals of the positions ``schedule`` reveals, step by step (:mod:`sims.inference.incremental`).

        Rows whose revealed tokens become impossible are answered by :meth:`predict` (so ``on_impossible``
        behaves exactly as in the full pass), as are rows whose float64 certificate fails.
        """
        schedule = schedule.to(self.language.device)
        self.language.check_length(schedule.shape[1])

        def fallback(tokens):
            out = self.predict(tokens)
            return out.log_probs, out.impossible

        session = scheduled_session(
            self.language.chain(), schedule, num_steps, fallback, engine, on_impossible=self.on_impossible
        )
        if session is None or self.precision != "float64":
            raise InvalidArgumentError(
                f"{self.language!r}: no scheduled session (offers_scheduled_session is False)"
            )
        return session

    def eos_token(self) -> int | None:
        """The language's EOS padding token (:attr:`sims.languages.base.Language.eos_token`)."""
        return self.language.eos_token

    # ---- passes beyond the marginals (sims.denoisers.passes): exact, float64 -----------------------------
    def passes(self) -> tuple[str, ...]:
        return ("marginals", "leave_one_out", "draft_log_prob", "lookahead")

    def leave_one_out(self, tokens: torch.Tensor) -> LeaveOneOutPosterior:
        r"""Exact :math:`p(x_i \mid x_{R \setminus \{i\}})` at every position (the marginal where i is masked).

        One forward-backward pass with retained messages (:mod:`sims.inference.leave_one_out`; float64 log
        space whatever ``precision``); counts as one model call per row
        (:data:`sims.denoisers.passes.PASS_CONVENTIONS`). Impossible leave-one-out evidence follows
        ``on_impossible``: ``"raise"``, else the flagged uniform law (``"min_violation"`` has no
        leave-one-out form and also gives the flagged uniform law).
        """
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True).to(self.language.device)
        self.language.check_length(tokens.shape[1])
        chain = self.language.chain()
        method = "log" if self.method == "log" else "auto"
        parts = [leave_one_out_posteriors(chain, c, method) for c in tokens.split(self.chunk_size)]
        out = LeaveOneOutPosterior(
            torch.cat([p.log_probs for p in parts]),
            torch.cat([p.impossible for p in parts]),
            any(p.generic for p in parts),
        )
        if self.on_impossible == "raise" and bool(out.impossible.any()):
            rows = out.impossible.any(1).nonzero().flatten().tolist()
            raise ImpossibleEvidenceError(
                f"leave-one-out evidence has probability zero in batch rows {rows[:10]}; pass "
                "on_impossible='uniform' for a flagged fallback"
            )
        return out

    def draft_log_prob(
        self, tokens: torch.Tensor, draft: torch.Tensor, chain_rule: bool = False, laws: bool = False
    ) -> DraftLogProb:
        r"""Exact joint :math:`\log p(x_D = d \mid x_R)` of a draft (and, with ``chain_rule``, its
        left-to-right conditionals, with ``laws`` the conditional law at each drafted position):
        :mod:`sims.inference.draft`. One model call per row by the convention
        of :data:`sims.denoisers.passes.PASS_CONVENTIONS`. Rows whose revealed tokens are impossible raise
        under ``on_impossible="raise"``, else are flagged with NaN values."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=True).to(self.language.device)
        draft = check_tokens(draft, self.vocab_size, allow_mask=True).to(self.language.device)
        self.language.check_length(tokens.shape[1])
        method = "log" if self.method == "log" else "auto"
        out = draft_log_prob(self.language.chain(), tokens, draft, chain_rule, method, laws)
        if self.on_impossible == "raise" and bool(out.impossible.any()):
            rows = out.impossible.nonzero().flatten().tolist()
            raise ImpossibleEvidenceError(f"revealed tokens have probability zero in batch rows {rows[:10]}")
        return out

    def lex_chain(self):
        """The language's lexicographic chain (built once, on first use)."""
        if self._lex is None:
            self._lex = lex_chain(self.language.chain())
        return self._lex

    def describe(self) -> dict:
        return {
            "type": "OracleDenoiser",
            "on_impossible": self.on_impossible,
            "method": self.method,
            "precision": self.precision,
            "language": self.language.describe(),
        }


def min_violation_log_marginals(oracle: OracleDenoiser, tokens: torch.Tensor) -> torch.Tensor:
    """Log minimum-violation token marginals ``(n, L, V)`` of impossible rows: by separation at revealed
    positions for pinned-state chains (bigram; :mod:`sims.inference.min_violation_separable`), else by the
    sequential lexicographic pass (:mod:`sims.inference.min_violation`). Both exact to rounding."""
    chain = oracle.language.chain()
    out = separable_min_violation(chain, tokens)
    if out is not None:
        return out
    lex_gamma = min_violation_posterior(oracle.lex_chain(), tokens).log_gamma
    return chain.token_log_marginals(lex_gamma, tokens.shape[1])


def _carry_over_inplace(log_probs: torch.Tensor, tokens: torch.Tensor, vocab_size: int) -> None:
    """One-hot log laws at revealed positions (same result as :func:`sims.denoisers.base.carry_over`)."""
    revealed = tokens < vocab_size
    log_probs.masked_fill_(revealed.unsqueeze(-1), -torch.inf)
    b, i = revealed.nonzero(as_tuple=True)
    log_probs[b, i, tokens[b, i]] = 0.0
