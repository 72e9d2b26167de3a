r"""Exact error bounds for parallel (multi-token) unmasking: EB-sampler and Fast-dLLM.

Notation: a partially revealed state (visible tokens E), a set U of n masked positions decoded in one
step from the product of their marginals :math:`\prod_{l \in U} p(x^l \mid E)` instead of the joint
:math:`p(x^U \mid E)`. The error of that one step is the conditional **total correlation**

.. math::
    \mathrm{TC}(U \mid E) = \mathrm{KL}\Big(p(x^U \mid E) \,\Big\Vert\, \prod_{l\in U} p(x^l\mid E)\Big)
    = \sum_{l \in U} H(x^l \mid E) - H(x^U \mid E).

EB-sampler (Ben-Hamu et al., arXiv 2505.24857, Sec. 5 and App. A; paraphrased)
-----------------------------------------------------------------------------
For an unmasking policy :math:`\varphi` that picks the next set :math:`z_i` from what is visible,

.. math::
    \mathrm{KL}(q \Vert p_\varphi) \le E_{q_\varphi}\Big[\sum_i \sum_{l \in z_i}
      \mathrm{KL}(q(x^l\mid x^{z_{<i}}) \Vert p(x^l \mid x^{z_{<i}}))\Big]
    + E_{q_\varphi}\Big[\sum_i \mathrm{TC}_q(z_i \mid x^{z_{<i}})\Big],

with equality when :math:`\varphi` is deterministic (App. A.1: then :math:`z` is a function of x). Each TC
is at most :math:`\sum_{l} H_l - \max_l H_l` (the joint entropy is at least any marginal's), the quantity
the EB rule keeps :math:`\le \gamma` (Eq. 2). Hence, with an exact oracle (no model error) and a
deterministic rule,

.. math::
    \mathrm{KL}(q \Vert p_{EB,\gamma}) = E_q\Big[\sum_i \mathrm{TC}_i\Big]
      \le E_q\Big[\sum_i (\textstyle\sum H - \max H)_i\Big] \le \gamma\, E_q[\#\text{steps}],

where the expectation and the step count follow the path that the *data* x induces when the rule is
replayed on x (not the sampler's own trajectory). :func:`replay_deterministic` computes every term exactly
by enumeration.

Fast-dLLM Theorem 1 (Wu et al., arXiv 2505.22618, Sec. 3.3 and App. A; paraphrased)
-----------------------------------------------------------------------------------
If some :math:`x^*` has every marginal :math:`p_j(x^*_j) > 1 - \epsilon`:

1. if :math:`(n+1)\epsilon \le 1`, :math:`\arg\max p = \arg\max \prod_j p_j = x^*` (greedy parallel =
   greedy joint), and this is tight: for :math:`\epsilon > 1/(n+1)` a joint exists whose argmax differs
   (:func:`fast_dllm_tightness_joint`, the appendix construction);
2. for n > 1: :math:`D_p < ((n-1)^p + 2n)^{1/p}\epsilon`, :math:`TV < \tfrac{3n-1}{2}\epsilon` and
   :math:`\mathrm{KL}(p \Vert \prod p_j) < (n-1)(H_b(\epsilon) + \epsilon \ln(|V|-1))`.

Scope found by our checks: the KL bound's proof bounds each marginal entropy by
:math:`H_b(\epsilon'_k) + \epsilon'_k\ln(|V|-1)` and then uses that this is increasing up to
:math:`\epsilon`, which holds only for :math:`\epsilon \le (|V|-1)/|V|`. Beyond that the bound is false
(:func:`fast_dllm_kl_counterexample`: two perfectly correlated fair bits). The theorem says "for some
small :math:`\epsilon`"; we state and test it for :math:`\epsilon \le (|V|-1)/|V|`. The argmax and
:math:`L_p`/TV statements hold for every :math:`\epsilon` (their proofs need nothing else).

All functions work in float64 and nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from sims.denoisers.base import Denoiser
from sims.exact import all_sequences
from sims.validation import InvalidArgumentError

#: Relative tolerance for float64 identities over sums of a few hundred terms.
REL_TOL = 1e-10


# ---- elementary information quantities -------------------------------------------------------
def entropy(p) -> float:
    """Shannon entropy (nats) of a probability array (any shape), with 0 log 0 = 0."""
    p = np.asarray(p, dtype=np.float64).ravel()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def binary_entropy(eps: float) -> float:
    r""":math:`H_b(\epsilon) = -\epsilon\ln\epsilon - (1-\epsilon)\ln(1-\epsilon)` (nats)."""
    if not 0.0 <= eps <= 1.0:
        raise InvalidArgumentError(f"eps must lie in [0, 1], got {eps}")
    return entropy([eps, 1.0 - eps])


def _check_joint(joint) -> np.ndarray:
    j = np.asarray(joint, dtype=np.float64)
    if j.ndim < 1 or not np.all(np.isfinite(j)) or (j < 0).any():
        raise InvalidArgumentError("joint must be a finite non-negative array with one axis per position")
    s = j.sum()
    if abs(s - 1.0) > 1e-9:
        raise InvalidArgumentError(f"joint must sum to 1, got {s!r}")
    return j / s


def marginals(joint) -> list[np.ndarray]:
    """Per-axis marginal laws of a joint array of shape ``(V,)*n``."""
    j = _check_joint(joint)
    return [j.sum(axis=tuple(a for a in range(j.ndim) if a != i)) for i in range(j.ndim)]


def product_of_marginals(joint) -> np.ndarray:
    """:math:`\\prod_j p_j` as an array of the joint's shape (parallel decoding's law)."""
    out = np.ones(())
    for m in marginals(joint):
        out = np.multiply.outer(out, m)
    return out


def total_correlation(joint) -> float:
    r""":math:`\sum_j H(p_j) - H(p)`, computed as the KL divergence (non-negative, exact zeros kept)."""
    j = _check_joint(joint)
    q = product_of_marginals(j)
    mask = j > 0
    return float((j[mask] * (np.log(j[mask]) - np.log(q[mask]))).sum())


def eb_certificate(entropies) -> float:
    r"""EB's one-step bound :math:`\sum_l H_l - \max_l H_l` (0 for an empty or single set)."""
    h = np.asarray(entropies, dtype=np.float64).ravel()
    return float(h.sum() - h.max()) if h.size else 0.0


# ---- Fast-dLLM Theorem 1 ------------------------------------------------------------------------
def fast_dllm_kl_bound(n: int, eps: float, vocab_size: int) -> float:
    r""":math:`(n-1)(H_b(\epsilon) + \epsilon\ln(|V|-1))` (Thm 1.2; needs :math:`\epsilon\le(|V|-1)/|V|`)."""
    if n < 1 or vocab_size < 2:
        raise InvalidArgumentError(f"need n >= 1 and V >= 2, got n={n}, V={vocab_size}")
    return (n - 1) * (binary_entropy(eps) + eps * math.log(vocab_size - 1))


def fast_dllm_kl_bound_applies(eps: float, vocab_size: int) -> bool:
    """Whether the KL bound's monotonicity step holds (``eps <= (V-1)/V``); see the module docstring."""
    return eps <= (vocab_size - 1) / vocab_size


def fast_dllm_tv_bound(n: int, eps: float) -> float:
    """:math:`(3n-1)\\epsilon/2` (Theorem 1, part 2)."""
    return (3 * n - 1) * eps / 2


def fast_dllm_lp_bound(n: int, eps: float, p: float) -> float:
    """:math:`((n-1)^p + 2n)^{1/p}\\epsilon` (Theorem 1, part 2)."""
    if p < 1:
        raise InvalidArgumentError(f"p must be >= 1, got {p}")
    return ((n - 1) ** p + 2 * n) ** (1.0 / p) * eps


@dataclass
class Theorem1Check:
    """Everything Theorem 1 talks about, for one joint ``p`` over n positions."""

    n: int
    vocab_size: int
    x_star: tuple  # argmax of every marginal (lowest index on ties)
    eps_min: float  # 1 - min_j p_j(x*_j): the smallest eps with p_j(x*_j) >= 1 - eps
    argmax_joint: tuple  # lowest-index argmax of the joint
    joint_argmax_unique: bool
    greedy_equal: bool  # argmax joint == argmax of product (= x*)
    kl: float  # KL(p || prod p_j) = TC
    tv: float
    l2: float

    def to_dict(self) -> dict:
        return asdict(self)


def theorem1_check(joint) -> Theorem1Check:
    """Compute the quantities of Fast-dLLM Theorem 1 for ``joint`` (shape ``(V,)*n``)."""
    j = _check_joint(joint)
    n, V = j.ndim, j.shape[0]
    margs = marginals(j)
    x_star = tuple(int(np.argmax(m)) for m in margs)
    eps_min = 1.0 - min(float(m[x]) for m, x in zip(margs, x_star))
    flat = j.ravel()
    top = float(flat.max())
    am = np.unravel_index(int(np.argmax(flat)), j.shape)
    unique = int((flat == top).sum()) == 1
    q = product_of_marginals(j)
    return Theorem1Check(
        n=n,
        vocab_size=V,
        x_star=x_star,
        eps_min=eps_min,
        argmax_joint=tuple(int(a) for a in am),
        joint_argmax_unique=unique,
        greedy_equal=tuple(int(a) for a in am) == x_star,
        kl=total_correlation(j),
        tv=float(0.5 * np.abs(j - q).sum()),
        l2=float(np.sqrt(((j - q) ** 2).sum())),
    )


def fast_dllm_tightness_joint(n: int, eps: float) -> np.ndarray:
    r"""The appendix construction: binary joint with marginals :math:`> 1-\epsilon` at :math:`x^*=0` whose
    argmax is not :math:`x^*`, for :math:`1/(n+1) < \epsilon` (not too large: mass on x* stays >= 0).

    Mass :math:`1/(n+1) + \eta/n` on each one-hot vector :math:`e_j`, :math:`1/(n+1) - \eta` on
    :math:`x^*`, with :math:`\eta = (\epsilon - 1/(n+1))/(n+1)`.
    """
    if n < 1 or not eps > 1.0 / (n + 1):
        raise InvalidArgumentError(f"the construction needs n >= 1 and eps > 1/(n+1), got n={n}, eps={eps}")
    eta = (eps - 1.0 / (n + 1)) / (n + 1)
    if 1.0 / (n + 1) - eta < 0:
        raise InvalidArgumentError(f"eps={eps} too large for the construction (negative mass on x*)")
    j = np.zeros((2,) * n)
    j[(0,) * n] = 1.0 / (n + 1) - eta
    for k in range(n):
        idx = [0] * n
        idx[k] = 1
        j[tuple(idx)] = 1.0 / (n + 1) + eta / n
    return j


def fast_dllm_kl_counterexample() -> np.ndarray:
    r"""Two perfectly correlated fair bits: marginals 1/2 > 1-eps for every eps > 1/2, TC = ln 2, while
    the KL bound :math:`(n-1)H_b(\epsilon)` (V = 2) is below ln 2 for every eps in (1/2, 1)."""
    return np.array([[0.5, 0.0], [0.0, 0.5]])


# ---- conditional joints of an enumerable language ---------------------------------------------
class JointTable:
    """The exact law of an enumerable language as a ``(V,)*L`` array, with conditional joints.

    Args:
        log_joint: ``(V**L,)`` log-probabilities in :func:`sims.exact.all_sequences` order.
    """

    def __init__(self, log_joint: torch.Tensor, vocab_size: int, length: int):
        self.V, self.L = vocab_size, length
        self.p = torch.exp(log_joint.to(torch.float64)).cpu().numpy().reshape((vocab_size,) * length)

    def conditional(self, state: tuple, positions: tuple) -> np.ndarray | None:
        """Joint law of ``positions`` (axes in that order) given the revealed tokens of ``state``.

        Returns None when the revealed tokens have probability zero.
        """
        V = self.V
        idx = tuple(slice(None) if v == V else int(v) for v in state)
        sub = self.p[idx]  # axes: masked positions in increasing order
        masked = [i for i, v in enumerate(state) if v == V]
        for pos in positions:
            if pos not in masked:
                raise InvalidArgumentError(f"position {pos} is not masked in {state}")
        drop = tuple(a for a, i in enumerate(masked) if i not in positions)
        sub = sub.sum(axis=drop) if drop else sub
        total = sub.sum()
        if total <= 0:
            return None
        kept = [i for i in masked if i in positions]
        perm = [kept.index(p) for p in positions]
        return np.transpose(sub, perm) / total if perm else sub / total

    def token_conditional(self, state: tuple, position: int) -> np.ndarray | None:
        return self.conditional(state, (position,))


# ---- replaying a deterministic unmasking rule on the data --------------------------------------
Selector = Callable[[tuple, int, torch.Tensor], tuple]


@dataclass
class DeterministicDecomposition:
    r"""Exact EB decomposition of :math:`KL(q\Vert p_\varphi)` for a deterministic rule (module docstring).

    All expectations are over :math:`x \sim q` with the rule replayed on x; nats.
    """

    kl: float  # KL(q || p_phi), p_phi from the replay
    expected_tc: float  # E_q sum_i TC_q(z_i | past)
    expected_model_error: float  # E_q sum_i sum_{l in z_i} KL(q(x^l|past) || p(x^l|past))
    expected_eb_certificate: float  # E_q sum_i (sum H_p - max H_p) over z_i (the model's entropies)
    expected_eb_certificate_data: float  # same with q's conditional entropies
    expected_fast_dllm_bound: float  # E_q sum_i (n_i-1)(H_b(eps_i)+eps_i ln(V-1)); inf if not applicable
    expected_steps: float  # E_q number of steps of the replay
    max_step_eb_certificate: float  # max over (x in supp q, steps) of the model-entropy certificate
    max_step_tc_minus_eb_data: float  # max over steps of TC - (sum H_q - max H_q): must be <= 0
    max_step_tc_minus_fast_dllm: float  # max over steps of TC - Fast-dLLM KL bound: must be <= 0
    law: torch.Tensor = field(repr=False)  # (V**L,) p_phi(x) for every x (replayed product)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("law")
        return d


def replay_deterministic(
    select: Selector,
    log_joint: torch.Tensor,
    denoiser: Denoiser,
    vocab_size: int,
    length: int,
    max_steps: int | None = None,
) -> DeterministicDecomposition:
    r"""Replay a deterministic rule on every sequence and decompose :math:`KL(q \Vert p_\varphi)` exactly.

    ``select(state, step, log_probs)`` returns the positions unmasked at ``step`` from the partial
    sequence ``state`` (mask = V) given the denoiser output ``log_probs`` ``(L, V)`` for that state; it must
    be a deterministic function of its arguments (tokens are drawn at temperature 1 from the same
    output, which is what :math:`p_\varphi(x) = \prod_i\prod_{l\in z_i} p(x^l\mid x^{z_{<i}})` assumes).
    """
    V, L = vocab_size, length
    table = JointTable(log_joint, V, L)
    q = torch.exp(log_joint.to(torch.float64)).cpu()
    seqs = all_sequences(V, L)
    N = seqs.shape[0]
    states = torch.full((N, L), V, dtype=torch.long)
    log_p = torch.zeros(N, dtype=torch.float64)
    tc = torch.zeros(N, dtype=torch.float64)
    model_err = torch.zeros(N, dtype=torch.float64)
    cert = torch.zeros(N, dtype=torch.float64)
    cert_q = torch.zeros(N, dtype=torch.float64)
    fd = torch.zeros(N, dtype=torch.float64)
    steps = torch.zeros(N, dtype=torch.float64)
    max_cert, max_gap_eb, max_gap_fd = 0.0, -math.inf, -math.inf
    max_steps = L if max_steps is None else max_steps
    for step in range(max_steps):
        active = (states == V).any(1)
        if not bool(active.any()):
            break
        rows = active.nonzero().flatten()
        lp_all = denoiser(states[rows]).log_probs.cpu()
        for r, lp in zip(rows.tolist(), lp_all):
            state = tuple(states[r].tolist())
            U = tuple(select(state, step, lp))
            if not U:
                raise InvalidArgumentError(f"rule selected no position at step {step} from {state}")
            x = seqs[r]
            log_p[r] += float(sum(lp[pos, int(x[pos])] for pos in U))
            steps[r] += 1
            if q[r] > 0:
                probs = torch.exp(lp[list(U)]).numpy()
                h_p = [entropy(pr) for pr in probs]
                c = eb_certificate(h_p)
                joint = table.conditional(state, U)
                t = total_correlation(joint)
                h_q = [entropy(m) for m in marginals(joint)]
                cq = eb_certificate(h_q)
                me = 0.0
                for pos, m in zip(U, marginals(joint)):
                    pl = torch.exp(lp[pos]).numpy()
                    mask = m > 0
                    me += float((m[mask] * (np.log(m[mask]) - np.log(pl[mask]))).sum())
                eps = 1.0 - min(float(mm.max()) for mm in marginals(joint))
                fdb = fast_dllm_kl_bound(len(U), eps, V) if fast_dllm_kl_bound_applies(eps, V) else math.inf
                tc[r] += t
                model_err[r] += me
                cert[r] += c
                cert_q[r] += cq
                fd[r] += fdb
                max_cert = max(max_cert, c)
                max_gap_eb = max(max_gap_eb, t - cq)
                if math.isfinite(fdb):
                    max_gap_fd = max(max_gap_fd, t - fdb)
            new = states[r].clone()
            new[list(U)] = x[list(U)]
            states[r] = new
    if bool((states == V).any()):
        raise AssertionError(f"replay did not finish within {max_steps} steps")
    law = torch.exp(log_p)
    mask = q > 0
    kl = (
        float((q[mask] * (torch.log(q[mask]) - log_p[mask])).sum())
        if bool((law[mask] > 0).all())
        else math.inf
    )

    def e(v):
        return float((q * v).sum())

    return DeterministicDecomposition(
        kl=kl,
        expected_tc=e(tc),
        expected_model_error=e(model_err),
        expected_eb_certificate=e(cert),
        expected_eb_certificate_data=e(cert_q),
        expected_fast_dllm_bound=e(fd),
        expected_steps=e(steps),
        max_step_eb_certificate=max_cert,
        max_step_tc_minus_eb_data=max_gap_eb,
        max_step_tc_minus_fast_dllm=max_gap_fd,
        law=law,
    )
