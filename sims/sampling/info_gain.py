r"""Info-Gain sampler ("Improving Sampling for Masked Diffusion Models via Information Gain"; official code
``yks23/Information-Gain-Sampler``, ``dllm/dllm/pipelines/info_gain/core.py`` and ``llada/sampler.py``, read
at commit 142a0ff; the arXiv id was not found in the readable material).

LLaDA's fixed-count schedule (K steps over semi-AR blocks, LLaDA counts k per step). At a step with k to
reveal among the masked positions M_b of the current block:

1. **Candidates.** N actions (``candidate_number``). Candidate 0: one draw :math:`\hat x^{(0)}` at every
   masked position (token temperature T) and the k most confident positions of M_b, confidence
   :math:`p_l(\hat x^{(0)}_l)`. Candidate c ≥ 1: a fresh draw :math:`\hat x^{(c)}` and k positions by Gumbel
   top-k on :math:`p_l(\hat x^{(c)}_l) / \tau_{pos}` (``position_temperature``), i.e. positions drawn without
   replacement with weights :math:`\exp(p_l(\hat x^{(c)}_l)/\tau_{pos})` (Plackett–Luce). Candidates with an
   already seen position set are dropped (the first one is kept).
2. **Lookahead.** The next state :math:`z^{(c)}` of every candidate (its k tokens filled) is evaluated in one
   batched call (the ``lookahead`` pass, :data:`sims.denoisers.passes.PASS_CONVENTIONS`).
3. **Choice.** The candidate maximising

   .. math::
       J(a) = \underbrace{\mathcal H(z) - \mathcal H(z^{(a)})}_{\text{information gain}}
              - \underbrace{\sum_{l \in a} H(p_l)}_{\text{immediate cost}}, \qquad
       \mathcal H(z) = \frac{1}{|M(z)|} \sum_{l \in M(z)} H(p_l(\cdot \mid z)),

   (the mean marginal entropy over the masked positions of the whole sequence; 0 when none is left;
   :math:`\mathcal H(z)` is the same for every candidate) is committed. Its lookahead output is the next
   step's marginals (the code's cache), so that step makes no marginal call.

Trivial steps take candidate 0 without lookahead: when k ≥ |M_b| (the code's last step of a block
fills every remaining position with one draw), N ≤ 1, or :math:`\tau_{pos} \le 0`.

Conventions: confidences and J are rounded to 40 fractional bits; candidate 0's top-k and the argmax of J
break ties towards the lowest position and the lowest candidate index (``torch.topk`` and ``argmax`` in
the code); entropies use the untempered output. Defaults (official code): N = 8, :math:`\tau_{pos} = 0.1`
(the dllm config; the repository's scripts use 0.2), token temperature 0 there (here the suite's 1,
unconfirmed as a paper setting), no high-confidence bypass (the config's ``threshold=None``; the scripts use
0.8; not implemented), ``steps = block = 128``.

Calls: one marginal call when the state has no cached lookahead output, plus one lookahead pass (1 call per
row) per non-trivial step. Exact law: :func:`exact_info_gain_law` (enumerates the candidates' joint
draws and position sets, and evaluates every possible next state with the denoiser; feasible for N ≤ 3 at
length 4); ``capabilities.exact_kernel`` is False because the kernel needs the lookahead outputs.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import torch

from sims.categorical import Precision, sample_from_log_probs
from sims.denoisers.base import Denoiser
from sims.denoisers.passes import pass_conventions
from sims.enumeration import law_of_final_states
from sims.sampling.base import NO_TIME, Capabilities, Conventions, Sampler, check_steps, check_temperature
from sims.sampling.draft_verify import draft_law
from sims.sampling.policy import llada_plan
from sims.sampling.ranking import quantize
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.sampling.scores import entropy_of_log_probs
from sims.validation import (
    SizeLimitError,
    check_int,
    check_optional_positive_int,
    check_positive_int,
    check_real,
    check_type,
)

#: Largest number of joint candidate outcomes :func:`exact_info_gain_law` enumerates for one state.
MAX_COMBINATIONS = 200_000


def info_gain_scores(
    lp: torch.Tensor, positions: torch.Tensor, next_lp: torch.Tensor, next_masked: torch.Tensor
):
    """``J`` per candidate: ``-sum_{l in a} H(p_l) - mean_{masked l of the next state} H(p'_l)`` (40-bit
    rounding). ``lp`` ``(..., L, V)``, ``positions`` bool ``(..., L)``, ``next_lp`` ``(..., L, V)``."""
    cost = torch.where(positions, entropy_of_log_probs(lp), 0.0).sum(-1)
    h = torch.where(next_masked, entropy_of_log_probs(next_lp), 0.0).sum(-1)
    mean = h / next_masked.sum(-1).clamp(min=1)
    return quantize(-cost - mean)


def top_k_lowest_index(scores: torch.Tensor, allowed: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of the k highest ``scores`` among ``allowed`` (ties to the lowest position)."""
    key = torch.where(allowed, quantize(scores), -math.inf)
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices[..., :k]
    return torch.zeros_like(allowed).scatter_(-1, order, True) & allowed


class InfoGainSampler(Sampler):
    """The Info-Gain sampler (module docstring).

    Args:
        steps: K (split over the blocks, LLaDA counts).
        candidate_number: N candidates per step (default 8, official config).
        position_temperature: :math:`\\tau_{pos}` (default 0.1, official config).
        block_length: semi-AR block length (None: one block).
        temperature: token temperature (0: argmax).
        categorical_precision: how tokens are drawn.
    """

    def __init__(
        self,
        steps: int,
        candidate_number: int = 8,
        position_temperature: float = 0.1,
        block_length: int | None = None,
        temperature: float = 1.0,
        categorical_precision: Precision = "float64",
    ):
        super().__init__(categorical_precision)
        self.steps = check_steps(steps)
        self.candidate_number = check_positive_int(candidate_number, "candidate_number")
        self.position_temperature = check_real(position_temperature, "position_temperature", minimum=0.0)
        self.block_length = check_optional_positive_int(block_length, "block_length")
        self.temperature = check_temperature(temperature)
        name = f"info_gain_n{self.candidate_number}_pt{self.position_temperature:g}"
        if self.block_length is not None:
            name += f"_b{self.block_length}"
        self.name = name + ("" if self.temperature == 1 else f"_T{self.temperature:g}")

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=False, exact_kernel=False, revisits=False, uses_steps=True
        )

    def num_steps(self, length: int) -> int:
        llada_plan(check_positive_int(length, "length"), self.steps, self.block_length)
        return self.steps

    def evaluates_every_masked_step(self, length: int) -> bool:
        return all(c > 0 for _, _, c in llada_plan(length, self.steps, self.block_length))

    def _trivial(self, count: int, available: int) -> bool:
        return count >= available or self.candidate_number <= 1 or self.position_temperature <= 0

    # ---- batched step -------------------------------------------------------------------------------
    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        L = x.shape[1]
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        a, b, count = llada_plan(L, self.steps, self.block_length)[k]
        block = torch.zeros(L, dtype=torch.bool, device=x.device)
        block[a:b] = True
        cand = masked & block
        rows = cand.any(1) if count > 0 else torch.zeros_like(cand[:, 0])
        if not bool(rows.any()):
            return
        lp = state.cache.get(x, rows)
        state.trace.record_step_entropy(k, rows, lp, masked)
        xr, cm = x[rows], cand[rows]
        N, n = self.candidate_number, xr.shape[0]
        values = torch.stack(
            [
                sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
                for _ in range(N)
            ]
        )  # (N, n, L)
        conf = lp.unsqueeze(0).expand(N, -1, -1, -1).gather(-1, values.unsqueeze(-1)).squeeze(-1).exp()
        sets = [top_k_lowest_index(conf[0], cm, count)]
        for c in range(1, N):
            u = torch.rand((n, L), generator=generator, dtype=torch.float64, device=x.device)
            gumbel = -torch.log(-torch.log(u.clamp(min=1e-300)))
            key = conf[c] / max(self.position_temperature, 1e-300) + gumbel
            sets.append(top_k_lowest_index(key, cm, count))
        sets = torch.stack(sets)  # (N, n, L)
        avail = cm.sum(1)
        look = ~torch.tensor([self._trivial(count, int(m)) for m in avail.tolist()], device=x.device)
        chosen = torch.zeros(n, dtype=torch.long, device=x.device)
        next_out = None
        if bool(look.any()):
            dup = torch.zeros((N, n), dtype=torch.bool, device=x.device)
            for c in range(1, N):
                dup[c] = torch.stack([(sets[c] == sets[d]).all(-1) for d in range(c)]).any(0)
            states = torch.where(sets, values, xr.unsqueeze(0)).transpose(0, 1)  # (n, N, L)
            out = state.cache.denoiser.lookahead(states[look])
            nlp = out.log_probs.to(lp.device, torch.float64).reshape(-1, N, L, V)
            sl = sets.transpose(0, 1)[look]
            J = info_gain_scores(lp[look].unsqueeze(1), sl, nlp, states[look] == V)
            J = torch.where(dup.T[look], -math.inf, J)
            chosen[look] = J.argmax(1)
            pick = chosen[look]
            ar = torch.arange(pick.numel(), device=x.device)
            next_out = (nlp[ar, pick], out.impossible.to(x.device).reshape(-1, N)[ar, pick])
            state.cache.nfe[rows.nonzero().flatten()[look]] += 1
        ar = torch.arange(n, device=x.device)
        commit = sets[chosen, ar]
        vals = values[chosen, ar]
        commit_reveals(x, rows, commit, vals, state.trace, k, tempered(lp, self.temperature), state.cache)
        if next_out is not None:  # the chosen candidate's lookahead output is the next step's marginals
            idx = rows.nonzero().flatten()[look]
            state.cache.log_probs[idx] = next_out[0]
            state.cache.valid[idx] = True
            state.cache.impossible[idx] |= next_out[1]

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps} (LLaDA counts per block)",
            time_direction=NO_TIME,
            schedule="LLaDA counts (floor(M/K) each, +1 on the first M mod K steps of a block)",
            step_rule=(
                f"N = {self.candidate_number} candidate (positions, tokens) actions; the one maximising "
                "IG - C (drop of the mean masked entropy minus the chosen tokens' entropies) by lookahead"
            ),
            position_rule=(
                f"candidate 0: top-k sampled-token confidence; others: Gumbel top-k of confidence / "
                f"{self.position_temperature:g}; semi-AR blocks"
            ),
            tie_break="lowest position (candidate 0's top-k), lowest candidate index (argmax of J)",
            last_step="a step with k >= the block's masked positions commits them all from one draw",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule=(
                "one marginal call when no lookahead output is cached + one lookahead pass (1 call per row) "
                "per non-trivial step"
            ),
            source=(
                "Info-Gain sampler, yks23/Information-Gain-Sampler dllm/dllm/pipelines/info_gain (commit "
                "142a0ff); paper text not read"
            ),
            extras={
                "candidate_number": self.candidate_number,
                "position_temperature": self.position_temperature,
                "block_length": self.block_length,
                "threshold_bypass": "not implemented (config default None; scripts 0.8)",
                "defaults": "N = 8, position temperature 0.1 from the dllm config; temperature 1 is the suite's",
                "passes": pass_conventions("marginals", "lookahead"),
            },
        )


def _candidate_outcomes(sampler: InfoGainSampler, lp: torch.Tensor, cm: list[int], count: int, c: int):
    """{(positions, their values): probability} of candidate c (plain enumeration of its draw and set)."""
    V = lp.shape[-1]
    q = draft_law(lp, sampler.temperature)
    support = [[v for v in range(V) if q[i, v] > -math.inf] for i in cm]
    work = math.prod(len(v) for v in support) * (math.perm(len(cm), count) if c else 1)
    if work > MAX_COMBINATIONS:
        raise SizeLimitError(
            f"exact_info_gain_law: {sampler.name} enumerates more than {MAX_COMBINATIONS} draws and position "
            "orders for one candidate; use a shorter length"
        )
    out: dict[tuple, float] = defaultdict(float)
    for d in itertools.product(*support):
        pd = math.exp(sum(float(q[i, v]) for i, v in zip(cm, d)))
        conf = {i: math.exp(float(lp[i, v])) for i, v in zip(cm, d)}
        val = dict(zip(cm, d))
        if c == 0:
            key = quantize(torch.tensor([conf[i] for i in cm])).tolist()
            top = sorted(sorted(range(len(cm)), key=lambda j: -key[j])[:count])
            sets = [(tuple(cm[j] for j in top), 1.0)]
        else:
            w = {i: math.exp(conf[i] / sampler.position_temperature) for i in cm}
            sets = defaultdict(float)
            for perm in itertools.permutations(cm, count):
                p, rest = 1.0, sum(w.values())
                for i in perm:
                    p *= w[i] / rest
                    rest -= w[i]
                sets[tuple(sorted(perm))] += p
            sets = list(sets.items())
        for s, ps in sets:
            out[(s, tuple(val[i] for i in s))] += pd * ps
    return out


def exact_info_gain_law(sampler: InfoGainSampler, denoiser: Denoiser, length: int) -> torch.Tensor:
    """Exact output law ``(V**L,)`` of the Info-Gain sampler (module docstring), by enumeration."""
    check_type(sampler, InfoGainSampler, "sampler", "an InfoGainSampler")
    check_type(denoiser, Denoiser, "denoiser", "a sims Denoiser (subclass sims.denoisers.base.Denoiser)")
    length = check_int(length, "length", minimum=1, maximum=8)
    V, N = denoiser.vocab_size, sampler.candidate_number
    states = {tuple([V] * length): 1.0}
    for a, b, count in llada_plan(length, sampler.num_steps(length), sampler.block_length):
        keys = sorted(states)
        outs = denoiser(torch.tensor(keys, dtype=torch.long)).log_probs.cpu().to(torch.float64)
        nxt: dict[tuple, float] = defaultdict(float)
        for s, lp in zip(keys, outs):
            cm = [i for i in range(a, b) if s[i] == V]
            if count == 0 or not cm:
                nxt[s] += states[s]
                continue
            per = [_candidate_outcomes(sampler, lp, cm, count, c) for c in range(N)]
            if sampler._trivial(count, len(cm)):
                win = per[0]
            else:
                if math.prod(len(d) for d in per) > MAX_COMBINATIONS:
                    raise SizeLimitError(
                        f"exact_info_gain_law: {sampler.name} has more than {MAX_COMBINATIONS} joint candidate "
                        "outcomes per state; use fewer candidates or a shorter length"
                    )
                nexts = sorted({o for d in per for o in d})
                filled = [_fill(s, o) for o in nexts]
                nlp = denoiser(torch.tensor(filled, dtype=torch.long)).log_probs.cpu().to(torch.float64)
                pos = torch.tensor([[i in o[0] for i in range(length)] for o in nexts])
                J = info_gain_scores(lp.expand(len(nexts), -1, -1), pos, nlp, torch.tensor(filled) == V)
                score = dict(zip(nexts, J.tolist()))
                win = defaultdict(float)
                for combo in itertools.product(*[list(d.items()) for d in per]):
                    seen, best, p = set(), None, 1.0
                    for o, po in combo:
                        p *= po
                        if o[0] in seen:
                            continue
                        seen.add(o[0])
                        if best is None or score[o] > score[best]:
                            best = o
                    win[best] += p
            for o, p in win.items():
                nxt[_fill(s, o)] += states[s] * p
        states = dict(nxt)
    return law_of_final_states(states.items(), V, length, sampler.name)


def _fill(s: tuple, outcome: tuple) -> tuple:
    new = list(s)
    for i, v in zip(*outcome):
        new[i] = v
    return tuple(new)
