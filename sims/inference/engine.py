r"""The front door of the inference engines: pick an engine, run it, return posteriors.

Four engines compute the same posterior of a :class:`~sims.inference.chain.LiftedChain`:

* ``"log"``: the reference log-space recursion (:mod:`sims.inference.log_engine`);
* ``"scaled"``: a certified scaled recursion in linear space (:mod:`sims.inference.scaled`);
* ``"scan"``: a log-depth parallel scan (:mod:`sims.inference.scan`);
* ``"sparse"``: for token chains with top-K sparse transitions plus a rank-1 teleport
  (:meth:`~sims.inference.chain.LiftedChain.sparse_token_transition`), the gap-decomposed sparse
  engine (:mod:`sims.inference.sparse`), :math:`O(\mathrm{nnz})` per message instead of :math:`O(V^2)`.

``"auto"`` takes the sparse engine whenever the chain offers it, otherwise chooses by size and device
from a measured cost model (:mod:`sims.inference.select`). In
float64 all engines agree to rounding: the fast ones certify every step against underflow and recompute
uncertified rows with the log engine. ``precision="float32"``/``"tf32"`` trade exactness for speed
(certified against float32 underflow; outputs are float64 either way).

``precision="tf32"`` is supported by the scan only. ``"auto"`` with ``"tf32"`` therefore resolves to the
scan whenever the scan can run on the chain (at most :data:`~sims.inference.linear.DENSE_MAX_STATES`
states and one sequence within the scan's memory budget), for every batch size; on chains where it
cannot, to the scaled engine in float32 (TF32 is an allowance, not a requirement: that engine does not
use TF32 matmuls and is at least as accurate). Explicit engine/precision combinations that cannot run are
refused by :func:`check_engine_options` before any work (the oracle calls it when it is built).
"""

from __future__ import annotations

import torch

from sims.inference.chain import ChainPosterior, LiftedChain
from sims.inference.linear import (
    DENSE_MAX_STATES,
    TokenPosterior,
    fast_engines_apply,
    token_posterior_from_chain_posterior,
)
from sims.inference.log_engine import forward_backward_log, forward_log_evidence_log
from sims.inference.scaled import (
    forward_backward_scaled,
    forward_log_evidence_scaled,
    token_posteriors_scaled,
)
from sims.inference.scan import (
    DEFAULT_MAX_BYTES,
    forward_backward_scan,
    scan_bytes_per_sequence,
    token_posteriors_scan,
)
from sims.inference.select import select_method
from sims.inference.sparse import (
    forward_backward_sparse,
    forward_log_evidence_sparse,
    sparse_engine_applies,
    token_posteriors_sparse,
)
from sims.validation import InvalidArgumentError, check_choice

#: With fewer chain steps than this, ``"auto"`` uses the log engine (the fast engines' fixed cost of
#: ~30 vectorised operations is not repaid; measured on the development CPU).
MIN_FAST_STEPS = 3

#: Engines accepted by :func:`forward_backward`.
METHODS = ("auto", "log", "scaled", "scan", "sparse")
#: Arithmetic precisions accepted by :func:`forward_backward`.
PRECISIONS = ("float64", "float32", "tf32")


def forward_log_evidence(chain: LiftedChain, tokens: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Forward pass only: ``log p(revealed tokens)`` for each row, ``-inf`` where impossible.

    ``method``: ``"log"`` (the reference log-space recursion), ``"scaled"`` (certified scaled recursion,
    uncertified rows recomputed by the log recursion), ``"sparse"`` (sparse token chains) or ``"auto"``
    (``"sparse"`` where the chain offers it, else ``"scaled"`` where the fast engines apply). All give
    the same values to float64 rounding.
    """
    if method == "log":
        return forward_log_evidence_log(chain, tokens)
    if method not in ("auto", "scaled", "sparse"):
        raise InvalidArgumentError(f"method must be 'auto', 'scaled', 'sparse' or 'log', got {method!r}")
    if method == "sparse" or (method == "auto" and sparse_engine_applies(chain)):
        _require_sparse(chain)
        return forward_log_evidence_sparse(chain, tokens)
    if method == "auto" and (
        chain.num_nodes(tokens.shape[1]) - 1 < MIN_FAST_STEPS or not fast_engines_apply(chain)
    ):
        return forward_log_evidence_log(chain, tokens)
    return forward_log_evidence_scaled(chain, tokens)


def _require_sparse(chain: LiftedChain) -> None:
    if not sparse_engine_applies(chain):
        raise InvalidArgumentError(
            f"method='sparse' needs a chain with a sparse token transition; {type(chain).__name__} has none"
        )


def forward_backward(
    chain: LiftedChain, tokens: torch.Tensor, method: str = "auto", precision: str = "float64"
) -> ChainPosterior:
    """Batched forward-backward posterior of the chain nodes given revealed tokens.

    Args:
        chain: the lifted chain.
        tokens: ``(B, L)`` token ids, mask id ``chain.vocab_size``.
        method: ``"log"``, ``"scaled"``, ``"scan"``, ``"sparse"`` or ``"auto"`` (module docstring).
        precision: ``"float64"`` (default, exact to rounding), ``"float32"`` (approximate, certified
            against float32 underflow; ``"scaled"``/``"scan"``/``"sparse"``) or ``"tf32"`` (float32 scan
            with TF32 CUDA matmuls allowed; on CPU identical to ``"float32"``; the sparse engine has no
            dense matmul, so there it equals ``"float32"``). Outputs are float64 either way.
    """
    method = resolve_method(chain, tokens, method, precision)
    if method == "log":
        return forward_backward_log(chain, tokens)
    dtype = torch.float64 if precision == "float64" else torch.float32
    if method == "sparse":
        return forward_backward_sparse(chain, tokens, dtype)
    if method == "scaled":
        return forward_backward_scaled(chain, tokens, dtype=dtype)
    return forward_backward_scan(chain, tokens, dtype=dtype, tf32=precision == "tf32")


def check_engine_options(method: str, precision: str) -> None:
    """Refuse an engine/precision pair that can never run (named values, one rule each)."""
    check_choice(method, METHODS, "method")
    check_choice(precision, PRECISIONS, "precision")
    if method == "log" and precision != "float64":
        raise InvalidArgumentError("the log engine runs in float64 only; use method='scaled' or 'scan'")
    if method == "scaled" and precision == "tf32":
        raise InvalidArgumentError("precision='tf32' needs method='scan' (or 'auto')")


def scan_can_run(chain: LiftedChain, length: int, dtype: torch.dtype = torch.float32) -> bool:
    """Whether the scan applies to ``chain`` at ``length`` whatever the batch size: it densifies the
    transition (at most :data:`DENSE_MAX_STATES` states) and one sequence must fit its memory budget."""
    n = chain.num_nodes(length) - 1
    S = chain.num_states
    return S <= DENSE_MAX_STATES and scan_bytes_per_sequence(n, S, dtype) <= DEFAULT_MAX_BYTES


def resolve_method(chain: LiftedChain, tokens: torch.Tensor, method: str, precision: str) -> str:
    """Validate ``method``/``precision`` and resolve ``"auto"`` to a concrete engine (module docstring)."""
    check_engine_options(method, precision)
    if method == "sparse":
        _require_sparse(chain)
        return method
    if method == "auto" and sparse_engine_applies(chain):
        return "sparse"
    if method == "auto":
        tiny = chain.num_nodes(tokens.shape[1]) - 1 < MIN_FAST_STEPS
        if precision == "float64" and (tiny or not fast_engines_apply(chain)):
            return "log"
        if precision == "tf32":  # only the scan supports tf32; decided independently of the batch size
            return "scan" if scan_can_run(chain, tokens.shape[1]) else "scaled"
        method = select_method(
            tokens.shape[0], chain.num_nodes(tokens.shape[1]), chain.num_states, tokens.device, precision
        )
    return method


def token_posteriors(
    chain: LiftedChain, tokens: torch.Tensor, method: str = "auto", precision: str = "float64"
) -> TokenPosterior:
    """Token posteriors of every position: a :class:`~sims.inference.linear.TokenPosterior`.

    Same engines and arguments as :func:`forward_backward`. The fast engines project the node posteriors
    to tokens in linear space with a certificate (:mod:`sims.inference.linear`); the log engine uses
    ``chain.token_log_marginals``. All agree to float64 rounding in float64.
    """
    method = resolve_method(chain, tokens, method, precision)
    dtype = torch.float64 if precision == "float64" else torch.float32
    if method == "log":
        return token_posterior_from_chain_posterior(
            chain, forward_backward_log(chain, tokens), tokens.shape[1]
        )
    if method == "sparse":
        return token_posteriors_sparse(chain, tokens, dtype)
    if method == "scaled":
        return token_posteriors_scaled(chain, tokens, dtype)
    return token_posteriors_scan(chain, tokens, dtype, tf32=precision == "tf32")
