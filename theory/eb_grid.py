r"""EB-sampler (Ben-Hamu et al., arXiv 2505.24857) on its own γ grid at temperature 0, against Top-k, with
exact oracles of small structured languages (4x4 Sudoku, 3x3 DFS mazes).

The paper (``paper_statements.md`` §3 E8, primary text) sweeps
:data:`EB_GAMMAS` = {0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 1, 1.5} nats and Top-k with k in
:data:`TOPK_KS` = {1, 2, 4, 8}, all at temperature 0 (argmax; E7). On its logic puzzles (§6.2, 10x10 DFS
mazes and 9x9 Sudoku with a 6M-parameter model) EB keeps accuracy down to far fewer calls than Top-k. Here
the model is the exact oracle and the puzzles are small, so everything is exact:

* the output law of a sampler is propagated over partial states by its exact kernel
  (:meth:`~sims.sampling.base.Sampler.exact_transitions`; at temperature 0 the tokens are the argmax,
  lowest token on ties, and the law is over the random tie orders of the positions);
  :func:`sparse_output_law` keeps only reachable states (a dictionary, not a V^L vector), so L = 16 works;
* ``valid`` = P(output in the support) (a solved grid, a DFS maze), the accuracy of the paper's puzzles
  without a prompt (unconditional generation);
* ``nfe`` = E[number of denoiser calls] exactly: one call per step while masks remain (the samplers'
  convention), i.e. the sum over steps of P(the state still has a mask).

Top-k: :class:`~sims.sampling.fixed_count.FixedCountSampler` with ``score="max_prob"`` (confidence) and
counts k, k, ..., remainder (ceil(L/k) calls). The studies use ``tie_break="lowest_index"`` (one
deterministic trajectory per sampler at temperature 0, so ``valid`` is 0 or 1): with random ties the
kernel enumerates every order within a tie group, which explodes on the puzzles' symmetric first steps
(16! orders at the first step of Sudoku). :func:`eb_grid_monte_carlo` therefore covers random ties (the
samplers' default) by Monte Carlo with the samplers' own ``sample``: validity with a Wilson interval and
calls with a t-interval; on a language small enough for the exact kernel the tests compare the two.

Edge case of the paper's rule (E3 says γ = 0 unmasks one token per step): the listing keeps the prefix
with ``cumsum(H) - cummax(H) <= γ`` over entropies sorted ascending, so at γ = 0 it reveals *every*
zero-entropy token plus the first positive one; with an exact oracle on a constraint language many
tokens become determined, and γ = 0 needs fewer than L calls (still exact: determined tokens are
independent given the state). Oracle fallback on impossible evidence: ``"uniform"`` (a
parallel argmax step can leave the support; the state is then already invalid and only its length of run
matters).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from sims.denoisers.base import Denoiser
from sims.denoisers.oracle import OracleDenoiser
from sims.sampling.base import Sampler
from sims.sampling.eb import EBSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.stats import mean_estimate, proportion_estimate
from sims.validation import InvalidArgumentError, check_positive_int

#: The paper's γ grid (nats) and Top-k grid (App. C; paper_statements.md §3 E8, primary text).
EB_GAMMAS = (0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5)
TOPK_KS = (1, 2, 4, 8)
#: Validity within this of 1 counts as lossless (float64 sums of at most a few thousand path weights).
PROB_TOL = 1e-12


def sparse_output_law(sampler: Sampler, denoiser: Denoiser, length: int) -> tuple[dict, float]:
    """``({output tuple: probability}, expected calls)`` of ``sampler`` by its exact kernel, reachable
    states only (one batched denoiser call per step over the states that still have a mask)."""
    if not sampler.capabilities.exact_kernel:
        raise InvalidArgumentError(
            f"{sampler.name}: no exact transition kernel (capabilities.exact_kernel is False)"
        )
    V = denoiser.vocab_size
    states: dict[tuple, float] = {tuple([V] * length): 1.0}
    done: dict[tuple, float] = defaultdict(float)
    nfe = 0.0
    for step in range(sampler.num_steps(length)):
        live = [s for s in states if V in s]
        for s in states:
            if V not in s:
                done[s] += states[s]
        if not live:
            states = {}
            break
        nfe += sum(states[s] for s in live)
        outs = denoiser(torch.tensor(live, dtype=torch.long)).log_probs.cpu()
        nxt: dict[tuple, float] = defaultdict(float)
        for key, lp in zip(live, outs):
            for new, q in sampler.exact_transitions(key, step, lp, length):
                if q > 0:
                    nxt[new] += states[key] * q
        states = dict(nxt)
    for s, p in states.items():
        if V in s:
            raise AssertionError(f"{sampler.name}: trajectory ended with masked positions: {s}")
        done[s] += p
    return dict(done), nfe


def topk_counts(length: int, k: int) -> list[int]:
    """k tokens per step, the remainder last: ``[k] * (L // k) + [L % k]`` (without a zero)."""
    L, k = int(length), int(k)
    if not 1 <= k <= L:
        raise InvalidArgumentError(f"k must be in 1..length = {L}, got {k!r}")
    return [k] * (L // k) + ([L % k] if L % k else [])


def grid_samplers(length: int, tie_break: str = "random") -> dict[str, Sampler]:
    """The paper's EB γ grid (entropy proxy) and Top-k grid (confidence), all at temperature 0."""
    out: dict[str, Sampler] = {}
    for g in EB_GAMMAS:
        out[f"eb g={g:g}"] = EBSampler(g, score="entropy", temperature=0.0, tie_break=tie_break)
    for k in TOPK_KS:
        if k <= length:
            counts = topk_counts(length, k)
            out[f"top-k k={k}"] = FixedCountSampler(
                len(counts), score="max_prob", count_rule=counts, temperature=0.0, tie_break=tie_break
            )
    return out


def grid_row(sampler: Sampler, denoiser: Denoiser, length: int, support: set) -> dict:
    """Exact validity and mean calls of one sampler (``support``: the set of valid outputs)."""
    law, nfe = sparse_output_law(sampler, denoiser, length)
    valid = sum(p for x, p in law.items() if x in support)
    return {"valid": valid, "nfe": nfe, "num_outputs": len(law), "total": sum(law.values())}


def eb_grid_study(language, tie_break: str = "lowest_index") -> dict:
    """Every sampler of :func:`grid_samplers` on an explicit-support language at its word length, and the
    comparisons of the paper's claims: which Top-k points some EB point weakly dominates (no more calls, no
    less validity) and the fewest calls of a lossless EB point (speed-up over one token per step)."""
    L = language.word_length
    support = {tuple(int(v) for v in w) for w in language.words.tolist()}
    oracle = OracleDenoiser(language, on_impossible="uniform")
    rows = {name: grid_row(s, oracle, L, support) for name, s in grid_samplers(L, tie_break).items()}
    eb = {n: r for n, r in rows.items() if n.startswith("eb")}
    topk = {n: r for n, r in rows.items() if n.startswith("top-k")}
    tol = PROB_TOL
    dominated = {
        n: [e for e, re in eb.items() if re["nfe"] <= r["nfe"] + tol and re["valid"] >= r["valid"] - tol]
        for n, r in topk.items()
    }
    lossless = [r["nfe"] for r in eb.values() if r["valid"] >= 1 - tol]
    lossless_topk = [r["nfe"] for r in topk.values() if r["valid"] >= 1 - tol]
    return {
        "length": L,
        "num_support": len(support),
        "tie_break": tie_break,
        "rows": rows,
        "topk_dominated_by": dominated,
        "min_lossless_eb_nfe": min(lossless) if lossless else math.nan,
        "speedup_lossless": L / min(lossless) if lossless else math.nan,
        "min_lossless_topk_nfe": min(lossless_topk) if lossless_topk else math.nan,
        "gamma0_nfe": rows[f"eb g={EB_GAMMAS[0]:g}"]["nfe"],
    }


def eb_grid_monte_carlo(language, num_samples: int, seed: int, tie_break: str = "random") -> dict:
    """Every sampler of :func:`grid_samplers` with ``tie_break`` (default random), ``num_samples`` draws
    each: validity (Wilson 95 %) and denoiser calls (t 95 %), plus the same comparisons as
    :func:`eb_grid_study` on the point estimates. Sampler i draws from ``torch.Generator(seed * 1000 + i)``."""
    n = check_positive_int(num_samples, "num_samples")
    L = language.word_length
    support = {tuple(int(v) for v in w) for w in language.words.tolist()}
    oracle = OracleDenoiser(language, on_impossible="uniform")
    rows = {}
    for i, (name, sampler) in enumerate(grid_samplers(L, tie_break).items()):
        res = sampler.sample(oracle, n, L, torch.Generator().manual_seed(int(seed) * 1000 + i))
        ok = sum(tuple(x) in support for x in res.tokens.tolist())
        rows[name] = {
            "valid": proportion_estimate(ok, n).to_dict(),
            "nfe": mean_estimate(res.nfe.double()).to_dict(),
        }
    return {"length": L, "num_samples": n, "seed": int(seed), "tie_break": tie_break, "rows": rows}
