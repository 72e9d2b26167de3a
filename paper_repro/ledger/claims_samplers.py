"""Claims about decoding policies, part 1: EB-sampler, Fast-dLLM, ReMDM, and the suite's own findings on
calls versus quality and LLaDA's sampled-token confidence. Part 2 (any-process generation and the remask
corrector, denoising-entropy selection, tie-breaking, float32 Gumbel-max, the oracle's fallback) is
:mod:`paper_repro.ledger.claims_samplers_conventions`; the provenance below covers both.

Provenance (``../shared/research/paper_statements.md`` and ``samplers_eb_entropy.md``): EB-sampler
(arXiv 2505.24857) full text read (§3, "primary text"); Fast-dLLM (arXiv 2505.22618) full text with
Theorem 1 and the official ``llada/generate.py``; ReMDM (arXiv 2503.00307) Sections 3-5 and the official
``diffusion.py``; AP-MDM (arXiv 2510.06190): the map g from the paper's ``method.tex`` quoted in the fork
cl-1-koi/AP-MDM, which also contains the official upstream code (commit 836b79b): its sampler agrees with
g and ``dataset/parity/parity_generator.py`` gives the parity rules (§7 A1-A4, "official code");
denoising entropy (arXiv 2512.21336): E-BoN/E-SMC known from reviews and third-party code only (§8,
"secondary note"); Zheng et al. (arXiv 2409.02908) on float32 categorical sampling: a review and our own
exact computation (``variance_and_anyprocess.md`` §3.3, "secondary note").

Verdicts read the figure data ``samplers_calls_quality``, ``samplers_exact``, ``samplers_bounds``,
``samplers_correction``, ``samplers_entropy_selection`` and ``samplers_conventions``. Tolerances:
:data:`ZERO` for exact zeros (float64 sums of at most 3^6 terms), Monte Carlo comparisons by Wilson
intervals of 256 sequences. The generated blocks of ``docs/adaptive_samplers.md`` and the README's
fallback sentence are in :mod:`paper_repro.ledger.blocks_samplers`.
"""

from __future__ import annotations

import math

from paper_repro.ledger.blocks_samplers import DOC_BLOCKS  # noqa: F401 (collected by the registry)
from paper_repro.ledger.model import Claim, Verdict

#: |value| below this is an exact zero up to float64 rounding.
ZERO = 1e-12
EB = "Ben-Hamu et al., arXiv 2505.24857"
FD = "Wu et al., arXiv 2505.22618"
REMDM = "Wang et al., arXiv 2503.00307"
AP = "Yang et al., arXiv 2510.06190"
DE = "Chen et al., arXiv 2512.21336"
ZHENG = "Zheng et al., arXiv 2409.02908"
CONFIDENCE = ("fixed-count max-prob", "EB entropy", "Fast-dLLM threshold", "Fast-dLLM factor")
RANDOM_ORDER = "fixed-count random"
TPB = "tests/theory/test_parallel_bounds.py"
TSS = "tests/theory/test_sampler_studies.py"


# ---- data access ----------------------------------------------------------------------------------
def records(data, name: str) -> list[dict]:
    return list(data(name)["records"].values())


def oracle_cells(data, language: str | None = None) -> list[dict]:
    return [
        r
        for r in records(data, "samplers_calls_quality")
        if r["denoiser"] == "oracle" and (language is None or r["language"] == language)
    ]


def ser(r: dict) -> dict:
    return r["quality"]["sequence_error"]


def dominance(cells: list[dict], families, reference: str = RANDOM_ORDER) -> tuple[list, list]:
    """Points of ``families`` that beat every reference point with at most their calls: (beaten by point
    estimate, beaten beyond the Wilson intervals)."""
    refs = [r for r in cells if r["family"] == reference]
    loose, strict = [], []
    for p in (r for r in cells if r["family"] in families):
        cheaper = [r for r in refs if r["nfe_mean"] <= p["nfe_mean"] * (1 + 1e-9)]
        if not cheaper:
            continue  # no reference point at or below these calls
        best = min(cheaper, key=lambda r: ser(r)["p"])
        if ser(p)["p"] < ser(best)["p"]:
            loose.append((p, best))
            if ser(p)["ci_high"] < ser(best)["ci_low"]:
                strict.append((p, best))
    return loose, strict


def _fmt(v: float, spec: str = ".3f") -> str:
    """A number, with exact zeros (|v| <= ZERO) written as 0."""
    return "0" if abs(v) <= ZERO else format(v, spec)


def _where(p: dict) -> str:
    return f"{p['language']} {p['family']} {p['knob']}={p['value']:g} ({p['nfe_mean']:.1f} calls)"


# ---- calls versus quality (Monte Carlo) -------------------------------------------------------------
def _random_order_dominates(data) -> Verdict:
    cells = oracle_cells(data)
    others = sorted({r["family"] for r in cells} - {RANDOM_ORDER})
    loose, strict = dominance(cells, others)
    n = sum(1 for r in cells if r["family"] in others)
    if strict:
        return Verdict(
            "contradicted",
            f"{len(strict)} of {n} points beat it beyond the intervals",
            "; ".join(_where(p) for p, _ in strict[:4]),
        )
    status = "holds" if not loose else "qualified"
    detail = "no other family has a lower SER at equal or fewer calls"
    if loose:
        detail = (
            f"{len(loose)} points are lower by point estimate, all within the Wilson intervals: "
            + "; ".join(_where(p) for p, _ in loose[:3])
        )
    return Verdict(status, f"{n - len(loose)} of {n} points dominated", detail)


def _remdm_vs_random(data) -> Verdict:
    cells = oracle_cells(data)
    fams = sorted({r["family"] for r in cells if r["family"].startswith("ReMDM")})
    loose, strict = dominance(cells, fams)
    n = sum(1 for r in cells if r["family"] in fams)
    best = {}
    for lang in sorted({r["language"] for r in cells}):
        pts = [r for r in cells if r["language"] == lang and r["family"] in fams]
        b = min(pts, key=lambda r: ser(r)["p"])
        best[lang] = f"{lang}: best ReMDM SER {ser(b)['p']:.3f} at {b['nfe_mean']:.0f} calls"
    if strict:
        return Verdict(
            "contradicted", f"{len(strict)} of {n} ReMDM points beat random order", "; ".join(best.values())
        )
    return Verdict(
        "holds" if not loose else "qualified",
        f"{n - len(loose)} of {n} ReMDM points dominated",
        "; ".join(best.values()) + "; random order K = L is exact (SER 0) at L calls",
    )


def _trained_floor(data) -> Verdict:
    cells = records(data, "samplers_calls_quality")
    L = cells[0]["length"]
    parts, floor_ok = [], True
    for lang in sorted({r["language"] for r in cells}):
        for den in sorted({r["denoiser"] for r in cells}):
            pts = [
                r
                for r in cells
                if r["language"] == lang and r["denoiser"] == den and r["nfe_mean"] >= L - 1e-9
            ]
            if not pts:
                continue
            b = min(pts, key=lambda r: ser(r)["p"])
            parts.append(f"{lang} {den.split(' (')[0]}: {ser(b)['p']:.3f}")
            if den != "oracle" and ser(b)["ci_low"] <= 0:
                floor_ok = False
    return Verdict(
        "holds" if floor_ok else "qualified",
        "min SER at >= L calls: " + ", ".join(parts),
        "the oracle reaches SER 0 with one token per step; the trained transformer keeps errors",
    )


# ---- exact laws ------------------------------------------------------------------------------------
def _exact(data, language=None, family=None) -> list[dict]:
    return [
        r
        for r in records(data, "samplers_exact")
        if (language is None or r["language"] == language) and (family is None or r["family"] == family)
    ]


def _eb_extremes(data) -> Verdict:
    rows = _exact(data, family="EB entropy")
    zero = [r for r in rows if r["value"] == 0.0]
    inf = [r for r in rows if math.isinf(r["value"])]
    kl0 = max(abs(r["metrics"]["kl_data_to_sampler"]) for r in zero)
    calls_inf = max(r["nfe_mean"] for r in inf)
    ok = kl0 <= ZERO and calls_inf == 1.0
    return Verdict(
        "holds" if ok else "contradicted",
        f"gamma = 0: |KL| <= {kl0:.0e}; gamma = inf: {calls_inf:g} call",
        f"{len(zero)} languages; gamma = inf reveals everything in one step (product of the first marginals)",
    )


def _eb_parity(data) -> Verdict:
    rows = sorted(_exact(data, "parity", "EB entropy"), key=lambda r: r["value"])
    kls = [(r["value"], r["metrics"]["kl_data_to_sampler"], r["nfe_mean"]) for r in rows]
    finite = [k for k in kls if math.isfinite(k[0])]
    paying = [g for g, kl, _ in finite if kl > ZERO]
    exact_after = [g for g, kl, _ in finite if kl <= ZERO and paying and g > min(paying)]
    ok = bool(paying) and bool(exact_after)
    text = ", ".join(f"{g:g}: {_fmt(kl)}" for g, kl, _ in kls)
    return Verdict(
        "holds" if ok else "contradicted",
        f"KL by gamma: {text}",
        "KL(q || p_EB) is not monotone in gamma on parity: exact again once all independent bits open together",
    )


def _sampled_confidence(data) -> Verdict:
    out, ok = [], True
    for lang in sorted({r["language"] for r in _exact(data)}):
        L = _exact(data, lang)[0]["length"]
        r = [x for x in _exact(data, lang, "fixed-count sampled-prob") if x["value"] == L]
        if not r:
            continue
        kl = r[0]["metrics"]["kl_data_to_sampler"]
        out.append(f"{lang.split('_seed')[0]} {_fmt(kl, '.3g')}")
        if lang != "parity" and kl <= 1e-3:
            ok = False
    return Verdict(
        "holds" if ok else "contradicted",
        "KL(q || p) at K = L: " + ", ".join(out) + " nats",
        "biased on the HMM and the sparse bigram; parity's marginals are uniform or deterministic, so no bias",
    )


def _context_only(data) -> Verdict:
    worst, n = 0.0, 0
    for lang in sorted({r["language"] for r in _exact(data)}):
        L = _exact(data, lang)[0]["length"]
        for fam in ("fixed-count random", "fixed-count max-prob"):
            for r in _exact(data, lang, fam):
                if r["value"] == L:
                    worst, n = max(worst, abs(r["metrics"]["kl_data_to_sampler"])), n + 1
    return Verdict(
        "holds" if worst <= ZERO else "contradicted",
        f"max |KL| = {worst:.0e} ({n} cases)",
        "random and max-prob orders, one token per step, oracle",
    )


# ---- bounds ------------------------------------------------------------------------------------------
def _bounds(data, sampler: str) -> list[dict]:
    return [r for r in data("samplers_bounds") if r["sampler"] == sampler]


def _ratio_range(rows, key) -> str:
    r = [x[key] for x in rows if x[key] is not None]
    return f"{min(r):.3g}..{max(r):.3g}" if r else "—"


def _eb_identity(data) -> Verdict:
    rows = _bounds(data, "EB entropy")
    gap = max(r["identity_gap"] for r in rows)
    return Verdict(
        "holds" if gap <= ZERO else "contradicted",
        f"max |KL - E sum TC - model error| = {gap:.0e}",
        f"{len(rows)} (language, gamma) cases, deterministic rule (lowest-index ties), oracle",
    )


def _eb_certificate(data) -> Verdict:
    rows = _bounds(data, "EB entropy")
    bad = [
        r
        for r in rows
        if r["kl"] > r["expected_eb_certificate_data"] + ZERO
        or r["expected_eb_certificate_data"] > r["knob"] * r["expected_steps"] + ZERO
        or r["max_step_tc_minus_eb_data"] > ZERO
    ]
    parts = [
        f"{lang.split('_seed')[0]} {_ratio_range([r for r in rows if r['language'] == lang], 'eb_certificate_ratio')}"
        for lang in sorted({r["language"] for r in rows})
    ]
    return Verdict(
        "holds" if not bad else "contradicted",
        "certificate / KL: " + ", ".join(parts),
        "KL <= E_q sum (sum H - max H) <= gamma E_q[steps] at every gamma, and per step TC <= certificate",
    )


def _fast_dllm_thm1(data) -> Verdict:
    rows = _bounds(data, "Fast-dLLM threshold")
    bad = [r for r in rows if r["max_step_tc_minus_fast_dllm"] > ZERO]
    applicable = [r for r in rows if math.isfinite(r["expected_fast_dllm_bound"])]
    parts = [
        f"{lang.split('_seed')[0]} {_ratio_range([r for r in applicable if r['language'] == lang], 'fast_dllm_bound_ratio')}"
        for lang in sorted({r["language"] for r in rows})
    ]
    return Verdict(
        "holds" if not bad else "contradicted",
        "certificate / KL: " + ", ".join(parts),
        f"every step's TC is below (n-1)(H_b(eps) + eps ln(V-1)); {len(applicable)} of {len(rows)} tau values "
        "have the certificate defined along the whole path",
    )


# ---- correction and ReMDM ----------------------------------------------------------------------------
def _correction(data):
    return data("samplers_correction")


def _remdm_rows(data, pred) -> list[dict]:
    return [r for r in _correction(data)["remdm"] if pred(r["variant"])]


def _remdm_thm31(data) -> Verdict:
    rows = _remdm_rows(data, lambda v: not v.startswith("conf") and not v.endswith("K=30"))
    worst = max(r["max_abs_deviation"] for r in rows)
    return Verdict(
        "holds" if worst <= ZERO else "contradicted",
        f"max |P(masked) - (1 - alpha)| = {worst:.1e}",
        ", ".join(r["variant"] for r in rows) + " (exact two-state recursion)",
    )


def _remdm_conf(data) -> Verdict:
    (row,) = _remdm_rows(data, lambda v: v.startswith("conf"))
    return Verdict(
        "holds" if row["max_abs_deviation"] > 1e-3 else "contradicted",
        f"max deviation {row['max_abs_deviation']:.3f}",
        "exact state law under the x-conditioned posterior, V = 3, L = 3",
    )


def _remdm_loop(data) -> Verdict:
    (row,) = _remdm_rows(data, lambda v: v.startswith("loop") and v.endswith("K=30"))
    (ok40,) = _remdm_rows(data, lambda v: v.startswith("loop") and v.endswith("K=40"))
    status = (
        "holds" if row["max_abs_deviation"] > 1e-3 and ok40["max_abs_deviation"] <= ZERO else "contradicted"
    )
    return Verdict(
        status,
        f"K = 30: {row['max_abs_deviation']:.3f}; K = 40: {ok40['max_abs_deviation']:.0e}",
        "a grid that misses t_on = 0.55 and t_off = 0.05 leaves the schedule; one that hits them does not",
    )


def _c(cid, paper, where, statement, provenance, kind, tests, figures, verdict, notes=""):
    return Claim(f"samplers.{cid}", paper, where, statement, provenance, kind, tests, figures, verdict, notes)


S = "suite"
SF = "suite finding"
CQ, EX, BD, CO, ES, CV = (
    ("samplers_calls_quality",),
    ("samplers_exact",),
    ("samplers_bounds",),
    ("samplers_correction",),
    ("samplers_entropy_selection",),
    ("samplers_conventions",),
)
CLAIMS = [
    # EB-sampler
    _c("eb_kl_identity", EB, "Eq. 7, App. A.1", "For a deterministic unmasking rule the error decomposes exactly: KL(q || p) = E sum of the joint-dependence errors (total correlation of each step's tokens) + the model error.", "primary text", "exact", (f"{TPB}::test_eb_kl_equals_expected_total_correlation_and_is_bounded", f"{TPB}::test_eb_decomposition_with_model_error_is_an_identity"), BD, _eb_identity),
    _c("eb_certificate_bound", EB, "Eq. 8", "The joint-dependence error of a step is at most sum H - max H of its tokens, so the EB rule keeps KL(q || p) <= E sum (sum H - max H) <= gamma E[steps].", "primary text", "bound", (f"{TPB}::test_eb_kl_equals_expected_total_correlation_and_is_bounded", f"{TPB}::test_eb_identity_on_parity_reports_a_strict_inequality_chain"), BD, _eb_certificate, notes="The second inequality (budget gamma per step) is our addition, valid with the oracle."),
    _c("eb_gamma_extremes", EB, "Sec. 4, Alg. 1", "gamma = 0 unmasks one token per step (exact with an exact denoiser); gamma = infinity unmasks everything at once.", "primary text", "exact", ("tests/sims/test_eb.py::test_gamma_zero_is_exact_and_gamma_infinite_is_one_shot",), EX, _eb_extremes),
    _c("eb_parity_not_monotone", S, "", "On the parity language the EB error is not monotone in gamma: intermediate gamma pays KL = ln 2, a large gamma that reveals all independent bits together is exact again.", SF, "exact", ("tests/sims/test_eb.py::test_larger_gamma_means_fewer_calls_and_more_error_on_parity", f"{TPB}::test_eb_identity_on_parity_reports_a_strict_inequality_chain"), EX, _eb_parity),
    _c("context_only_orders_exact", EB, "Sec. 3.1", "With a perfect denoiser every unmasking order gives the same joint law: one token per step with any context-only order reproduces the language exactly.", "primary text", "exact", ("tests/sims/test_samplers.py::test_one_token_per_step_with_context_only_order_reproduces_language",), EX, _context_only),
    # Fast-dLLM
    _c("fast_dllm_theorem1", FD, "Theorem 1", "If every marginal of n tokens exceeds 1 - eps, the product of marginals is within KL < (n - 1)(H_b(eps) + eps ln(V - 1)) of the joint; along the threshold sampler's path this bounds each step's error.", "primary text", "bound", (f"{TPB}::test_fast_dllm_theorem1_on_random_joints", f"{TPB}::test_fast_dllm_kl_identity_and_theorem1_certificate"), BD, _fast_dllm_thm1),
    # ReMDM
    _c("remdm_theorem_3_1", REMDM, "Thm 3.1", "For any valid remasking schedule sigma_t the marginal of every position stays MDLM's: P(masked at t) = 1 - alpha(t).", "primary text", "exact", ("tests/sims/test_remdm.py::test_theorem_3_1_per_position_masked_probability", "tests/sims/test_remdm.py::test_theorem_3_1_full_state_law_with_the_x_conditioned_posterior", "tests/sims/test_remdm.py::test_mask_pattern_law_equals_mdlm_with_the_oracle"), CO, _remdm_thm31),
    _c("remdm_conf_leaves_schedule", S, "", "The released conf variant (per-position sigma from the stored confidences) does not keep MDLM's marginal schedule: Theorem 3.1 needs a sigma that does not depend on the state.", SF, "exact", ("tests/sims/test_remdm.py::test_conf_variant_masks_more_than_the_schedule",), CO, _remdm_conf),
    _c("remdm_loop_grid", S, "", "The loop variant keeps the schedule only on a time grid that contains t_on and t_off; K = 30 misses them and leaves the schedule.", SF, "exact", ("tests/sims/test_remdm.py::test_loop_leaves_the_schedule_when_the_grid_misses_t_on",), CO, _remdm_loop),
    _c("remdm_vs_random_order", S, "", "With the exact oracle, ReMDM (cap, loop) never reaches a lower sequence error than random-order fixed-count decoding with at most the same calls.", SF, "monte carlo", ("tests/conformance/test_sampler_laws.py::test_monte_carlo_matches_exact_law",), CQ, _remdm_vs_random),
    # calls versus quality
    _c("random_order_dominates", S, "", "With the exact oracle on stationary languages, random-order fixed-count decoding has the lowest sequence error at every call budget; confidence-ordered rules (max-prob, EB, Fast-dLLM), ReMDM and remask rounds do not beat it.", SF, "monte carlo", ("tests/conformance/test_sampler_laws.py::test_monte_carlo_matches_exact_law",), CQ, _random_order_dominates, notes="Why confidence orders stay behind (they keep decoding next to revealed tokens) is an interpretation, not isolated by an experiment."),
    _c("trained_model_error_floor", S, "", "A trained transformer MDM keeps a sequence-error floor that more calls do not remove, where the oracle becomes exact at L calls.", SF, "monte carlo", ("tests/sims/test_models.py::test_model_denoiser_works_with_every_sampler",), CQ, _trained_floor),
    _c("sampled_confidence_bias", S, "", "Ordering by the sampled token's probability (LLaDA's low-confidence remasking at T > 0, generate.py) is biased even at one token per step with the exact oracle.", SF, "exact", ("tests/sims/test_samplers.py::test_sampled_token_confidence_is_biased_even_one_token_per_step", "tests/sims/test_fast_dllm.py::test_confidence_of_the_sampled_token_is_biased_at_one_token_per_step"), EX, _sampled_confidence),
]  # fmt: skip
