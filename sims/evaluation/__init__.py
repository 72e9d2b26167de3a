"""Evaluation of decoding policies beyond sample statistics: exact likelihood by replay (DUEL), exact
policy laws for enumerable lengths, data-direction excess NLL, and Tang et al.'s transition rates.

* :mod:`~sims.evaluation.replay` -- replay likelihood of any sampler on data; exact for deterministic
  position selection (DUEL, arXiv 2603.01367);
* :mod:`~sims.evaluation.policy_laws` -- exact output laws (kernel or replay) and the data-direction
  excess NLL with its kind (exact, upper bound);
* :mod:`~sims.evaluation.transitions` -- transition-level KL / TV rates (Tang et al., arXiv 2602.19619)
  against the language's exact pooled transition law.

Sample statistics with confidence intervals (SER, generative NLL, token error rate) stay in
:mod:`sims.metrics`; exact-law metrics in :func:`sims.metrics.exact_law_metrics`.
"""

from sims.evaluation.policy_laws import ExcessEstimate, PolicyLaw, data_direction_excess, exact_policy_law
from sims.evaluation.replay import ReplayLikelihood, check_replayable, replay_law, replay_log_likelihood
from sims.evaluation.transitions import (
    TransitionRates,
    TransitionReference,
    reference_transitions,
    transition_rates,
)

__all__ = [
    "ExcessEstimate",
    "PolicyLaw",
    "ReplayLikelihood",
    "TransitionRates",
    "TransitionReference",
    "check_replayable",
    "data_direction_excess",
    "exact_policy_law",
    "reference_transitions",
    "replay_law",
    "replay_log_likelihood",
    "transition_rates",
]
