"""Claims about Li & Cai's Theorem 2 (arXiv 2505.21400), the multi-scale lower bound, and Remark 1.

Provenance (``../shared/research/paper_statements.md`` §2 L7): the form and the constant 1/16 are stated in
two third-party paper notes ("secondary note"); the sizes and law of the random sets W_j are not known, so
every verdict here is conditional on our reading of W_j (``theory.li_cai.THEOREM2_LAWS``). The claims about
Theorem 1 and Corollary 1 belong to ``claims_li_cai.py``. Verdicts read ``li_cai_theorem2.json``.

Remark 1 (§2 L9, also from the notes only: reveal the lowest-conditional-entropy tokens first) is checked
exactly with the oracle on small languages (``li_cai_remark1.json``, :mod:`theory.li_cai_remark1`); its
comparisons carry their own round-off floor (``theory.li_cai_remark1.KL_TOL``) and, for the random-tie
variant, three standard errors of the mean over tie priorities.

Tolerance: both sides are exact sums of O(L^2) float64 terms of the dependence curve (area formula and
the closed-form sum over j), tested to 1e-9 relative against subset enumeration; comparisons use 1e-12
relative, far below every margin that decides a verdict.
"""

from __future__ import annotations

from paper_repro.ledger.model import Claim, Verdict

PAPER = "Li & Cai, arXiv 2505.21400"
T2 = "tests/theory/test_li_cai_theorem2.py"
R1 = "tests/theory/test_li_cai_remark1.py"
REL_TOL = 1e-12


def _bigram_rows(data):
    return [(int(L), r) for L, rows in data("li_cai_theorem2")["bigram"].items() for r in rows]


def _holds(r, law):
    return r["exact"] >= r["lower"][law] * (1 - REL_TOL)


def _in_step(data) -> Verdict:
    rows = [(L, r) for L, r in _bigram_rows(data) if r["balanced"]]
    fails = [(L, r) for L, r in rows if not _holds(r, "doubling_in_step")]
    ratios = [
        r["exact"] / r["lower"]["doubling_in_step"] for _, r in rows if r["lower"]["doubling_in_step"] > 0
    ]
    if fails:
        L, r = fails[0]
        return Verdict("contradicted", f"L = {L}, K = {r['steps']}", "exact KL below the bound")
    return Verdict(
        "holds",
        f"exact / bound >= {min(ratios):.2f} ({len(rows)} balanced schedules)",
        "our reading: W_j uniform of size min(2^j, s_max - 1); ngram2 at "
        + ", ".join(sorted({str(L) for L, _ in rows}, key=int)),
    )


def _vanishing(data) -> Verdict:
    rows = [(L, r) for L, r in _bigram_rows(data) if r["s_max"] == 1]
    bad = [
        (L, r) for L, r in rows if r["exact"] == 0.0 and r["lower"]["doubling"] > 0 and r["lower"]["all"] > 0
    ]
    if not bad:
        return Verdict("unverifiable", "—", "no one-token-per-step schedule in the data")
    L, r = bad[0]
    return Verdict(
        "holds",
        f"K = L: exact 0 < bound {r['lower']['doubling']:.3g} (doubling, L = {L})",
        "a reading whose sets do not vanish at s_max = 1 makes the bound positive where sampling is exact, so "
        "the W_j of the theorem must shrink with s_max (our inference)",
    )


def _envelope(data) -> Verdict:
    par = data("li_cai_theorem2")["parity"]
    bad = [r for r in par["rows"] if not _holds(r, "all")]
    if not bad:
        return Verdict(
            "holds", f"{len(par['rows'])} parity schedules", "even the largest law satisfies the bound"
        )
    r = bad[0]
    return Verdict(
        "qualified",
        f"parity L = {par['length']}, K = {r['steps']}: exact {r['exact']:.3f} < {r['lower']['all']:.3f}",
        "with W_j = all other positions (the largest value any law gives) the bound fails, so it cannot hold "
        "for every law of W_j; the theorem only asserts some schedules",
    )


def _remark_rows(data):
    return [
        (key, r)
        for key, d in data("li_cai_remark1")["languages"].items()
        for r in d["rows"]
        if r["s_max"] > 1
    ]


def _remark_better(data) -> Verdict:
    rows = _remark_rows(data)
    if not rows:
        return Verdict("unverifiable", "—", "no schedule with more than one token per step in the data")
    tally = {
        v: [k for k, r in rows if r["lowest_index_vs_random"] == v] for v in ("better", "equal", "worse")
    }
    ratios = [r["entropy_first"] / r["random_order"] for _, r in rows if r["random_order"] > 0]
    key = (
        f"better on {len(tally['better'])}, equal on {len(tally['equal'])}, worse on {len(tally['worse'])} of "
        f"{len(rows)} schedules; KL ratio to random order {min(ratios):.2f}-{max(ratios):.2f}"
    )
    rt = [r["random_ties_vs_random"] for _, r in rows]
    detail = (
        f"lowest-index ties; with random tie priorities better on {rt.count('better')}, worse on "
        f"{rt.count('worse')}; languages: " + ", ".join(sorted({k for k, _ in rows}))
    )
    if len(tally["better"]) == len(rows):
        return Verdict("holds", key, detail)
    if not tally["better"]:
        return Verdict("contradicted", key, detail)
    return Verdict("qualified", key, detail)


def _remark_within(data) -> Verdict:
    rows = _remark_rows(data)
    if not rows:
        return Verdict("unverifiable", "—", "no schedule with more than one token per step in the data")
    out = [(k, r) for k, r in rows if not r["within_theorem1"]]
    worst = max(r["entropy_first"] / r["theorem1"] for _, r in rows if r["theorem1"] > 0)
    if not out:
        return Verdict("holds", f"max KL / bound = {worst:.2f} ({len(rows)} schedules)", "lowest-index ties")
    k, r = out[0]
    return Verdict(
        "qualified",
        f"above the bound on {len(out)} of {len(rows)} schedules (max KL / bound = {worst:.2f})",
        f"e.g. {k}, K = {r['steps']}: {r['entropy_first']:.3f} > {r['theorem1']:.3f} nats (lowest-index ties); "
        "Theorem 1 is proved for uniformly random sets only",
    )


def _c(cid, statement, kind, tests, verdict, notes=""):
    return Claim(
        f"li_cai.theorem2_{cid}",
        PAPER,
        "Thm. 2",
        statement,
        "secondary note",
        kind,
        tests,
        ("li_cai_theorem2",),
        verdict,
        notes,
    )


CLAIMS = [
    _c(
        "in_step_holds",
        "For some schedules E_M KL >= s_max/(16L) sum_i sum_j 2^-j E I(X_i; X o W_j^(-i)) + eps_train (checked on "
        "balanced schedules with W_j of sizes min(2^j, s_max - 1)).",
        "bound",
        (
            f"{T2}::test_in_step_law_holds_for_balanced_schedules_of_a_bigram",
            f"{T2}::test_theorem2_values_against_brute_force_and_the_envelope",
        ),
        _in_step,
        notes="The law of W_j is our reading; the paper's is unknown.",
    ),
    _c(
        "needs_vanishing_sets",
        "The random sets W_j of Theorem 2 cannot be independent of s_max: at one token per step the KL is 0.",
        "bound",
        (f"{T2}::test_in_step_law_holds_for_balanced_schedules_of_a_bigram",),
        _vanishing,
        notes="A consistency check of readings, not a statement of the paper.",
    ),
    _c(
        "envelope_fails",
        "Theorem 2's bound holds whatever the (increasing) random sets W_j.",
        "bound",
        (
            f"{T2}::test_unbalanced_schedule_and_the_envelope_can_fail",
            f"{T2}::test_average_information_with_a_random_subset_is_the_dependence_curve",
        ),
        _envelope,
    ),
]

CLAIMS += [
    Claim(
        "li_cai.remark1_entropy_first_beats_random",
        PAPER,
        "Remark 1",
        "Revealing first the masked tokens with the lowest conditional entropy gives a smaller KL than "
        "Theorem 1's uniformly random sets (same schedule).",
        "secondary note",
        "exact",
        (
            f"{R1}::test_entropy_first_law_is_the_sampler_law",
            f"{R1}::test_sweep_rows_against_partitions_and_bounds",
            f"{R1}::test_random_priorities_match_the_recursion_and_the_tc_identity",
        ),
        ("li_cai_remark1",),
        _remark_better,
        notes="Our reading: entropies of the current oracle marginals recomputed every step, balanced "
        "(LLaDA-count) schedules; the remark's own wording was not read.",
    ),
    Claim(
        "li_cai.remark1_within_theorem1",
        "suite",
        "",
        "Theorem 1's bound (2^ceil(log2 s_max) - 1)/L sum_i I(X_i; X_-i) also bounds the KL of the "
        "entropy-first order.",
        "suite finding",
        "bound",
        (f"{R1}::test_sweep_rows_against_partitions_and_bounds",),
        ("li_cai_remark1",),
        _remark_within,
        notes="Theorem 1 is stated for random sets; this asks whether it transfers to the remark's order.",
    ),
]
