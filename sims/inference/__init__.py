"""Exact inference over lifted chains: forward-backward engines and the minimum-violation fallback.

Every language of the suite reduces to a first-order chain of hidden nodes (:class:`LiftedChain`);
these engines compute posteriors of that chain given revealed tokens, exactly to float64 rounding.
Front door::

    from sims.inference import token_posteriors
    post = token_posteriors(language.chain(), tokens)     # method="auto": log / scaled / scan
    post.log_probs, post.log_evidence, post.impossible

Modules: :mod:`~sims.inference.chain` (the chain interface and its optional capabilities),
:mod:`~sims.inference.log_engine` (reference), :mod:`~sims.inference.linear` (shared machinery of the
certified linear-space engines), :mod:`~sims.inference.scaled`, :mod:`~sims.inference.scan`,
:mod:`~sims.inference.select` (cost model), :mod:`~sims.inference.sparse` (sparse token chains: top-K
transitions plus a rank-1 teleport, by gap decomposition; operators in :mod:`~sims.inference.sparse_ops`),
:mod:`~sims.inference.engine` (dispatch) and :mod:`~sims.inference.min_violation` (the
lexicographic-semiring fallback for impossible evidence).
"""

from sims.inference.chain import (
    BlockTransition,
    ChainPosterior,
    LexTables,
    LiftedChain,
    SparseTokenTransition,
    log_matmul_exp,
    log_normalize,
    min_positive_log,
)
from sims.inference.engine import (
    METHODS,
    PRECISIONS,
    forward_backward,
    forward_log_evidence,
    resolve_method,
    token_posteriors,
)
from sims.inference.linear import TokenPosterior
from sims.inference.log_engine import forward_backward_log, forward_log_evidence_log
from sims.inference.min_violation import (
    LexChain,
    MinViolationPosterior,
    lex_chain,
    min_violation_posterior,
    supports_min_violation,
)
from sims.inference.sparse import (
    forward_backward_sparse,
    forward_log_evidence_sparse,
    sparse_engine_applies,
    token_posteriors_sparse,
)

__all__ = [
    "METHODS",
    "PRECISIONS",
    "BlockTransition",
    "ChainPosterior",
    "LexChain",
    "LexTables",
    "LiftedChain",
    "MinViolationPosterior",
    "SparseTokenTransition",
    "TokenPosterior",
    "forward_backward",
    "forward_backward_log",
    "forward_backward_sparse",
    "forward_log_evidence",
    "forward_log_evidence_log",
    "forward_log_evidence_sparse",
    "lex_chain",
    "log_matmul_exp",
    "log_normalize",
    "min_positive_log",
    "min_violation_posterior",
    "resolve_method",
    "sparse_engine_applies",
    "supports_min_violation",
    "token_posteriors",
    "token_posteriors_sparse",
]
