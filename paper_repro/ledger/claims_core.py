"""Claims shown by the core figure (``core_quality_vs_steps``): the oracle denoiser with the two standard
samplers on the registry n-gram and HMM at two lengths, by Monte Carlo. They corroborate Feng et al.'s
headline claims (arXiv 2502.09622, abstracts: "primary text") on sampled quality and record two findings of
the suite about one token per step.

Tolerances (declared): the per-token excess is "flat in L" when its ratio between the two lengths stays below
``FLAT_RATIO`` at every K <= the shorter length / 4 (if the steps needed grew linearly with L, a fourfold
longer sequence would need fourfold the steps, i.e. the excess at fixed K would grow by about that factor);
an exact zero of the Monte Carlo excess is ``EXACT_ZERO`` nats per token (float64 rounding of sums of
log-probabilities that cancel per sample).
"""

from __future__ import annotations

from paper_repro.ledger.doc_tables import claims_table
from paper_repro.ledger.model import Claim, Verdict

FENG = "Feng et al., arXiv 2502.09622"
FLAT_RATIO = 2.0
EXACT_ZERO = 1e-12


def _records(data):
    return list(data("core_quality_vs_steps")["records"].values())


def _cells(data):
    return {(r["language"], r["sampler"], r["length"], r["steps"]): r for r in _records(data)}


def _excess(r):
    return r["order_conditional_excess_nll_per_token"]["mean"]


def _flat(data) -> Verdict:
    cells = _cells(data)
    lengths = sorted({k[2] for k in cells})
    short, long = lengths[0], lengths[-1]
    ratios = {
        (lang, smp, K): _excess(cells[(lang, smp, long, K)]) / _excess(cells[(lang, smp, short, K)])
        for (lang, smp, L, K) in cells
        if L == short and K <= short // 4 and (lang, smp, long, K) in cells
    }
    worst = max(ratios, key=ratios.get)
    ok = ratios[worst] < FLAT_RATIO
    return Verdict(
        "holds" if ok else "contradicted",
        f"excess(L = {long}) / excess(L = {short}) <= {ratios[worst]:.2f} at K <= {short // 4} "
        f"({worst[0]}, {worst[1]}, K = {worst[2]})",
        f"{len(ratios)} (language, sampler, K) cells, 128 samples each (quick preset)",
    )


def _ser_grows(data) -> Verdict:
    cells = _cells(data)
    lengths = sorted({k[2] for k in cells})
    short, long = lengths[0], lengths[-1]
    pairs = [
        (k, cells[k], cells[(k[0], k[1], long, k[3])])
        for k in cells
        if k[2] == short and 2 <= k[3] < short and (k[0], k[1], long, k[3]) in cells
    ]
    lower = [
        k
        for k, a, b in pairs
        if b["quality"]["sequence_error"]["ci_high"] < a["quality"]["sequence_error"]["ci_low"]
    ]
    k, a, b = max(
        pairs, key=lambda p: p[2]["quality"]["sequence_error"]["p"] - p[1]["quality"]["sequence_error"]["p"]
    )
    return Verdict(
        "holds" if not lower else "contradicted",
        f"largest increase: {k[0]}, {k[1]}, K = {k[3]}: SER {a['quality']['sequence_error']['p']:.2f} (L = {short}) "
        f"-> {b['quality']['sequence_error']['p']:.2f} (L = {long})",
        f"no cell with 2 <= K < {short} has a lower SER at L = {long} (non-overlapping Wilson intervals)"
        if not lower
        else f"lower at {lower}",
    )


def _one_token(data) -> Verdict:
    rows = [r for r in _records(data) if r["sampler"] == "fixed_random" and r["steps"] == r["length"]]
    ser = max(r["quality"]["sequence_error"]["p"] for r in rows)
    ex = max(abs(_excess(r)) for r in rows)
    ok = ser == 0 and ex <= EXACT_ZERO
    return Verdict(
        "holds" if ok else "contradicted",
        f"SER 0 and |excess| <= {ex:.0e} nats/token in {len(rows)} cells",
        "random-order fixed counts with K = L: one token per step is exact sampling with the oracle",
    )


def _ancestral(data) -> Verdict:
    rows = [r for r in _records(data) if r["sampler"] == "ancestral" and r["steps"] == r["length"]]
    failing = [r for r in rows if r["quality"]["sequence_error"]["ci_low"] > 0]
    r = max(rows, key=lambda r: r["quality"]["sequence_error"]["p"])
    return Verdict(
        "holds" if failing else "contradicted",
        f"{r['language']}, L = {r['length']}: SER {r['quality']['sequence_error']['p']:.2f} at K = L with "
        f"{r['quality']['mean_nfe']:.1f} calls",
        f"SER > 0 (Wilson interval excludes 0) in {len(failing)} of {len(rows)} cells with K = L",
    )


CLAIMS = [
    Claim(
        "core.excess_flat_in_length",
        FENG,
        "abstract (v1, v2)",
        "At a fixed number of steps the per-token excess cross-entropy of the oracle sampler hardly changes when "
        "L grows fourfold (perplexity needs O(1) steps).",
        "primary text",
        "monte carlo",
        ("tests/theory/test_feng.py::test_per_token_kl_at_fixed_steps_converges_in_length",),
        ("core_quality_vs_steps",),
        _flat,
        "Sampled corroboration of the exact check in feng.ter_steps_independent_of_length.",
    ),
    Claim(
        "core.ser_grows_with_length",
        FENG,
        "abstract (v1, v2)",
        "At a fixed number of steps the sequence error rate grows with L (whole sequences need steps that grow "
        "with L).",
        "primary text",
        "monte carlo",
        ("tests/theory/test_feng.py::test_ser_collapses_on_steps_over_length",),
        ("core_quality_vs_steps",),
        _ser_grows,
    ),
    Claim(
        "core.one_token_per_step_exact",
        "suite",
        "",
        "With the oracle, random-order fixed counts at K = L (one token per step) sample the language exactly: "
        "SER 0 and zero excess.",
        "suite finding",
        "monte carlo",
        (
            "tests/theory/test_sequence_error.py::test_one_token_per_step_is_exact_but_bernoulli_at_n_equal_l_is_not",
        ),
        ("core_quality_vs_steps",),
        _one_token,
    ),
    Claim(
        "core.ancestral_not_exact_at_k_eq_l",
        "suite",
        "",
        "The MDLM ancestral (Bernoulli) sampler is not exact at K = L: some steps reveal several tokens (and "
        "others none), so SER > 0 on languages with zeros, with fewer than L model calls.",
        "suite finding",
        "monte carlo",
        (
            "tests/theory/test_sequence_error.py::test_one_token_per_step_is_exact_but_bernoulli_at_n_equal_l_is_not",
        ),
        ("core_quality_vs_steps",),
        _ancestral,
    ),
]


def _claims_block(data) -> str:
    return claims_table(CLAIMS, data)


DOC_BLOCKS = {"core.claims": _claims_block}
