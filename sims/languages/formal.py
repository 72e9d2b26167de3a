r"""Formal languages with exact distributions: strings accepted by a finite automaton, weighted by tokens.

A :class:`DFALanguage` is the law

.. math::
    q_L(x) = \frac{1}{Z_L} \prod_{t=1}^{L} w(x_t)\; \mathbf 1[\delta^*(s_0, x) \in F], \qquad
    Z_L = \sum_{x \in \{0..V-1\}^L} \prod_t w(x_t)\, \mathbf 1[\delta^*(s_0, x) \in F],

over strings of length L: i.i.d. tokens with law ``token_weights`` :math:`w` *conditioned* on the
deterministic automaton :math:`(S, \delta, s_0, F)` accepting the string. With uniform weights this is the
uniform law on the accepted strings of length L. Zeros are exact: :math:`q_L(x) = 0` iff the automaton
rejects x, so sequence error (SER) is the rejection rate.

Exact oracle: the language is a lifted first-order chain whose node t is the pair
(automaton state after token t, token t); the acceptance condition is extra evidence on the last node
(:meth:`DFAChain.evidence` zeroes non-accepting final states). The generic log-space forward-backward
of :mod:`sims.inference` then gives exact posterior marginals, so :class:`~sims.denoisers.oracle.OracleDenoiser`
works unchanged. Because the chain's weights sum to :math:`Z_L \le 1` over the strings, :meth:`log_prob`
subtracts :math:`\log Z_L` (computed by the same forward pass on the all-masked string).

Entropy (exact): :math:`H(q_L) = \log Z_L - \sum_t E_q[\log w(x_t)]`, with the token marginals from
forward-backward.

Instances (all over explicitly named token ids):

* :func:`parity_language`: binary strings with an even number of ones (V = 2), the task of the
  any-process paper (Yang et al., arXiv 2510.06190, parity experiment). Every proper subset of positions
  is independent and uniform; all the dependence sits in the full string (total correlation
  :math:`\log 2`), so any parallel step that reveals the last two bits together errs with probability 1/2.
* :func:`mod_sum_language`: tokens 0..V-1 whose sum is :math:`\equiv r \pmod m`.
* :func:`dyck_language`: balanced bracket strings (Dyck-1, token 0 = "(", 1 = ")") of maximal depth D.
  Odd lengths have no accepted string (:meth:`check_length` raises).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sims.categorical import sample_categorical
from sims.inference.chain import DenseTransitionChain, log_matmul_exp
from sims.inference.engine import forward_backward
from sims.languages.base import NormalisedChainLanguage
from sims.validation import (
    InvalidArgumentError,
    InvalidTypeError,
    check_device,
    check_generator,
    check_int,
    check_positive_int,
    check_real,
    check_stochastic,
    check_tokens,
    check_type,
)


def _integer_table(delta) -> torch.Tensor:
    """``delta`` as a long tensor, refusing floats (``as_tensor(..., long)`` would truncate 0.5 to 0)."""
    if isinstance(delta, (str, bytes)) or delta is None:
        raise InvalidTypeError(f"delta must be an (S, V) integer table, got {type(delta).__name__}")
    try:
        arr = delta.detach().cpu().numpy() if isinstance(delta, torch.Tensor) else np.asarray(delta)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"delta: cannot read as an integer table ({exc})") from exc
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        raise InvalidTypeError(f"delta must hold integer automaton states, got dtype {arr.dtype}")
    return torch.as_tensor(arr.astype(np.int64))


class DFAChain(DenseTransitionChain):
    r"""Lifted chain of a :class:`DFALanguage`: state index ``s * V + x`` (automaton state s after token x).

    Transition :math:`(s, x) \to (\delta(s, x'), x')` with weight :math:`w(x')`; the initial law puts
    :math:`w(x)` on :math:`(\delta(s_0, x), x)`. Evidence: a revealed token v keeps only states with x = v;
    the last node additionally keeps only accepting s.
    """

    def __init__(self, delta: torch.Tensor, start: int, accept: torch.Tensor, weights: torch.Tensor):
        S, V = delta.shape
        self.vocab_size, self.num_automaton_states = V, S
        self.num_states = S * V
        dev = weights.device
        init = torch.zeros(S * V, dtype=torch.float64, device=dev)
        for x in range(V):
            init[int(delta[start, x]) * V + x] += weights[x]
        trans = torch.zeros((S * V, S * V), dtype=torch.float64, device=dev)
        for s in range(S):
            for x in range(V):
                for x2 in range(V):
                    trans[s * V + x, int(delta[s, x2]) * V + x2] += weights[x2]
        self.log_initial = torch.log(init)
        self.set_transition(trans)
        token_of_state = torch.arange(S * V, device=dev) % V
        table = torch.full((V + 1, S * V), -torch.inf, dtype=torch.float64, device=dev)
        for v in range(V):
            table[v, token_of_state == v] = 0.0
        table[V] = 0.0  # masked: no evidence
        self._evidence_table = table
        accept_state = accept[torch.arange(S * V, device=dev) // V]
        self._accept_log = torch.where(accept_state, 0.0, -torch.inf).to(torch.float64)
        # projection (S*V, V): one-hot of the token of each lifted state
        self._project = torch.nn.functional.one_hot(token_of_state, V).to(torch.float64)

    def evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ev = self._evidence_table[tokens].clone()  # (B, L, S*V)
        ev[:, -1] = ev[:, -1] + self._accept_log
        return ev[:, 0], ev[:, 1:]

    def token_log_marginals(self, log_gamma: torch.Tensor, length: int) -> torch.Tensor:
        B, T, S = log_gamma.shape
        out = log_matmul_exp(log_gamma.reshape(B * T, S), self._project, torch.log(self._project), 0.0)
        return out.reshape(B, T, self.vocab_size)

    # ---- optional engine capabilities (sims.inference.chain.LiftedChain) ----------------------------
    def token_evidence_probe_length(self) -> int:
        return 2  # node t's evidence is the indicator of token t (plus acceptance on the last node)

    def final_log_weights(self) -> torch.Tensor:
        """0 on the lifted states of accepting automaton states, ``-inf`` elsewhere."""
        return self._accept_log

    def loo_node_evidence(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token i sits on node i; with it masked, only the acceptance condition of the last node remains."""
        L = tokens.shape[1]
        log_ev = torch.zeros((1, L, self.num_states), dtype=torch.float64, device=tokens.device)
        log_ev[0, -1] = self._accept_log
        return torch.arange(L, device=tokens.device), log_ev


class DFALanguage(NormalisedChainLanguage):
    """Token-weighted strings accepted by a deterministic finite automaton (see the module docstring).

    Args:
        delta: ``(S, V)`` integer table, next automaton state.
        start: start state s0.
        accept: accepting states (iterable of ints).
        token_weights: ``(V,)`` probability vector w (None = uniform).
        name: label used in :meth:`describe`.
    """

    empty_length_rule = "no string of length {length} is accepted"

    def __init__(
        self,
        delta,
        start: int,
        accept: Sequence[int],
        token_weights=None,
        name: str = "dfa",
        device: torch.device | str | None = None,
    ):
        delta = _integer_table(delta)
        if delta.ndim != 2 or delta.shape[0] == 0:
            raise InvalidArgumentError(f"delta must have shape (S, V) with S >= 1, got {tuple(delta.shape)}")
        S, V = delta.shape
        if V < 2:
            raise InvalidArgumentError(f"need at least 2 tokens, got V={V}")
        if int(delta.min()) < 0 or int(delta.max()) >= S:
            raise InvalidArgumentError(f"delta entries must lie in 0..{S - 1}")
        check_int(start, "start")
        if not 0 <= int(start) < S:
            raise InvalidArgumentError(f"start state {start} outside 0..{S - 1}")
        if isinstance(accept, (str, bytes)) or not hasattr(accept, "__iter__"):
            raise InvalidTypeError(f"accept must be a sequence of states, got {type(accept).__name__}")
        acc = torch.zeros(S, dtype=torch.bool)
        for a in accept:
            check_int(a, "accepting state")
            if not 0 <= int(a) < S:
                raise InvalidArgumentError(f"accepting state {a} outside 0..{S - 1}")
            acc[int(a)] = True
        if not bool(acc.any()):
            raise InvalidArgumentError("the automaton needs at least one accepting state")
        check_type(name, str, "name")
        if device is not None:
            device = check_device(device)
        w = torch.full((V,), 1.0 / V, dtype=torch.float64) if token_weights is None else token_weights
        self.token_weights = check_stochastic(w, "token_weights", shape=(V,), device=device)
        if bool((self.token_weights == 0).any()):
            raise InvalidArgumentError(
                "token_weights must be strictly positive (forbid tokens through the automaton)"
            )
        dev = self.token_weights.device
        self.delta, self.start, self.accept = delta.to(dev), int(start), acc.to(dev)
        self.vocab_size = V
        self.name = name
        self._chain: DFAChain | None = None

    @property
    def device(self) -> torch.device:
        return self.token_weights.device

    def to(self, device) -> DFALanguage:
        return DFALanguage(
            self.delta.cpu(),
            self.start,
            self.accept.nonzero().flatten().tolist(),
            self.token_weights,
            self.name,
            device=device,
        )

    def chain(self) -> DFAChain:
        if self._chain is None:
            self._chain = DFAChain(self.delta, self.start, self.accept, self.token_weights)
        return self._chain

    def min_length(self) -> int:
        return 1

    def accepts(self, tokens: torch.Tensor) -> torch.Tensor:
        """Run the automaton: boolean ``(B,)``, True where the string is accepted."""
        tokens = check_tokens(tokens, self.vocab_size, allow_mask=False).to(self.device)
        s = torch.full((tokens.shape[0],), self.start, dtype=torch.long, device=self.device)
        for t in range(tokens.shape[1]):
            s = self.delta[s, tokens[:, t]]
        return self.accept[s]

    def sample(self, num_samples: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """Exact samples by backward filtering, forward sampling on the automaton states (float64)."""
        n = check_positive_int(num_samples, "num_samples", minimum=0)
        L = self.check_length(length)
        check_generator(generator)
        _S, _V = self.delta.shape
        w = self.token_weights
        # beta[t][s] = P(accept | automaton state s after t tokens) (linear scale, values in [0, 1]).
        beta = [None] * (L + 1)
        beta[L] = self.accept.to(torch.float64)
        for t in range(L - 1, -1, -1):
            beta[t] = (w.unsqueeze(0) * beta[t + 1][self.delta]).sum(-1)  # (S,)
        out = torch.empty((n, L), dtype=torch.long, device=self.device)
        s = torch.full((n,), self.start, dtype=torch.long, device=self.device)
        for t in range(L):
            probs = w.unsqueeze(0) * beta[t + 1][self.delta[s]]  # (n, V)
            probs = probs / probs.sum(-1, keepdim=True)
            x = sample_categorical(probs, generator)
            out[:, t] = x
            s = self.delta[s, x]
        return out

    def entropy(self, length: int) -> float:
        L = self.check_length(length)
        masked = torch.full((1, L), self.vocab_size, dtype=torch.long, device=self.device)
        chain = self.chain()
        post = forward_backward(chain, masked)
        marg = torch.exp(chain.token_log_marginals(post.log_gamma, L))[0]  # (L, V)
        return float(self.log_normalizer(L) - (marg * torch.log(self.token_weights)).sum())

    def describe(self) -> dict:
        return {
            "type": "DFALanguage",
            "name": self.name,
            "vocab_size": self.vocab_size,
            "automaton_states": int(self.delta.shape[0]),
            "token_weights": [float(v) for v in self.token_weights],
        }

    def __repr__(self) -> str:
        return f"DFALanguage({self.name}, V={self.vocab_size}, S={self.delta.shape[0]})"


def mod_sum_language(
    vocab_size: int = 2,
    modulus: int = 2,
    residue: int = 0,
    token_weights=None,
    device: torch.device | str | None = None,
) -> DFALanguage:
    r"""Tokens 0..V-1 whose sum is :math:`\equiv` ``residue`` mod ``modulus`` (state = running sum)."""
    V = check_positive_int(vocab_size, "vocab_size", minimum=2)
    m = check_positive_int(modulus, "modulus", minimum=2)
    check_int(residue, "residue", minimum=0, maximum=m - 1)
    delta = [[(s + x) % m for x in range(V)] for s in range(m)]
    return DFALanguage(delta, 0, [residue], token_weights, name=f"modsum_V{V}_m{m}_r{residue}", device=device)


def parity_language(device: torch.device | str | None = None) -> DFALanguage:
    """Uniform law on binary strings with an even number of ones."""
    lang = mod_sum_language(2, 2, 0, device=device)
    lang.name = "parity"
    return lang


def dyck_language(
    max_depth: int = 4, open_weight: float = 0.5, device: torch.device | str | None = None
) -> DFALanguage:
    """Balanced brackets (token 0 = "(", 1 = ")") of depth at most ``max_depth`` (uniform if weight 1/2).

    Automaton states 0..D are depths; state D+1 is the dead state (closing at depth 0 or opening at D).
    """
    D = check_positive_int(max_depth, "max_depth")
    check_real(open_weight, "open_weight", minimum=0.0, maximum=1.0, open_min=True, open_max=True)
    dead = D + 1
    delta = [[(d + 1 if d < D else dead), (d - 1 if d > 0 else dead)] for d in range(D + 1)]
    delta.append([dead, dead])
    return DFALanguage(delta, 0, [0], [open_weight, 1 - open_weight], name=f"dyck_D{D}", device=device)


FORMAL_LANGUAGES = {
    "parity": parity_language,
    "modsum3": lambda device=None: mod_sum_language(3, 3, 0, device=device),
    "dyck4": lambda device=None: dyck_language(4, device=device),
}
