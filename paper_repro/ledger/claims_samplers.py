"""Claims about decoding policies: EB-sampler, Fast-dLLM, ReMDM, any-process generation and the remask
corrector, denoising-entropy selection, and the suite's own findings (calls versus quality, tie-breaking,
LLaDA's sampled-token confidence, float32 Gumbel-max, the oracle's fallback).

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

import itertools
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


def _corrector_monotone(data) -> Verdict:
    corr = _correction(data)["corrector"]
    worst = 0.0
    for key in {(r["denoiser"], r["language"], r["r"]) for r in corr}:
        pts = sorted(
            (r for r in corr if (r["denoiser"], r["language"], r["r"]) == key), key=lambda r: r["rounds"]
        )
        for a, b in itertools.pairwise(pts):
            for m in ("tv", "kl_data_to_sampler", "sequence_error"):
                worst = max(worst, b[m] - a[m])
    big = [r for r in corr if r["language"].startswith("bigram") and r["r"] == 2]
    first, last = min(big, key=lambda r: r["rounds"]), max(big, key=lambda r: r["rounds"])
    return Verdict(
        "holds" if worst <= ZERO else "contradicted",
        f"sparse bigram, r = 2: TV {first['tv']:.3f} -> {last['tv']:.3f} after {last['rounds']} rounds",
        f"largest increase of TV, KL(q || p_n) or SER over any round: {worst:.0e}",
    )


def _corrector_full(data) -> Verdict:
    corr = _correction(data)["corrector"]
    parts, ok = [], True
    for lang in sorted({r["language"] for r in corr}):
        r_max = max(r["r"] for r in corr if r["language"] == lang)
        one = next(r for r in corr if r["language"] == lang and r["r"] == r_max and r["rounds"] == 1)
        ok &= one["tv"] <= ZERO
        parts.append(f"{lang.split('_seed')[0]} TV {one['tv']:.0e}")
    one = next(r for r in corr if r["language"] == "parity" and r["r"] == 1 and r["rounds"] == 1)
    ok &= one["sequence_error"] <= ZERO
    return Verdict(
        "holds" if ok else "contradicted",
        "r = L after one round: " + ", ".join(parts),
        f"parity, r = 1: SER {_fmt(one['sequence_error'])} after one round (every odd string repaired; TV "
        f"{_fmt(one['tv'], '.2g')})",
    )


def _parity_process(data) -> Verdict:
    c = _correction(data)["ap_mdm_parity"]
    return Verdict(
        "holds" if c["wrong"] == 0 else "contradicted",
        f"{c['strings'] - c['wrong']} of {c['strings']} strings (length <= {c['max_length']})",
        f"at most {c['max_g_steps_per_bit']:g} g-steps per input bit",
    )


def _dyck(data) -> Verdict:
    rows = _correction(data)["dyck"]
    exact = max(r["tv"] for r in rows if r["oracle"])
    slots = [r["tv"] for r in rows if not r["oracle"] and r["pairs"] >= 2]
    ok = exact <= ZERO and min(slots) > 1e-3
    return Verdict(
        "holds" if ok else "contradicted",
        f"Bayes kernel TV <= {exact:.0e}; random slots TV {min(slots):.2f}..{max(slots):.2f}",
        f"N = 1..{max(r['pairs'] for r in rows)} pairs",
    )


# ---- denoising-entropy selection ---------------------------------------------------------------------
def _selection(data, case_start: str, method: str = "E-BoN") -> list[dict]:
    return sorted(
        (
            r
            for r in data("samplers_entropy_selection")
            if r["case"].startswith(case_start) and r["method"].startswith(method)
        ),
        key=lambda r: r["N"],
    )


def _ebon_exact_base(data) -> Verdict:
    rows = _selection(data, "oracle: random order, 1 token/step")
    kls = [r["kl_data_to_sampler"] for r in rows]
    ok = abs(kls[0]) <= ZERO and all(b > a for a, b in itertools.pairwise(kls))
    return Verdict(
        "holds" if ok else "contradicted",
        f"KL(q || p_N): {kls[0]:.0e} (N = 1) -> {kls[-1]:.2f} (N = {rows[-1]['N']})",
        "increasing in N; the selected sequences are more probable than typical (lower output entropy)",
    )


def _ebon_parallel(data) -> Verdict:
    rows = _selection(data, "oracle: random order, K=2 steps")
    L = _selection(data, "oracle: random order, 1 token/step")[0][
        "calls"
    ]  # exact decoding: one call per token
    cheap = [r for r in rows if r["calls"] <= L + 1e-9]
    best = min(rows, key=lambda r: r["sequence_error"])
    ok = all(r["sequence_error"] > ZERO for r in cheap)
    return Verdict(
        "holds" if ok else "contradicted",
        f"SER {rows[0]['sequence_error']:.3f} -> {best['sequence_error']:.3f} at {best['calls']:g} calls",
        f"at <= {L:g} calls E-BoN keeps SER >= {min(r['sequence_error'] for r in cheap):.3f}; exact decoding has "
        f"SER 0 at {L:g} calls; KL is lowest at N = {min(rows, key=lambda r: r['kl_data_to_sampler'])['N']}",
    )


def _ebon_perturbed(data) -> Verdict:
    rows = _selection(data, "perturbed oracle")
    conv = data("samplers_conventions")["fallback_exact"]["rows"]
    (pair,) = [r for r in conv if "perturbed" in r["case"]]
    mv, un = pair["ser"]["min_violation"], pair["ser"]["uniform"]
    ok = rows[-1]["sequence_error"] >= rows[0]["sequence_error"] and un < mv
    return Verdict(
        "holds" if ok else "contradicted",
        f"SER {rows[0]['sequence_error']:.3f} -> {rows[-1]['sequence_error']:.3f} (N = {rows[-1]['N']}, min_violation)",
        f"at N = 8: SER {mv:.3f} with min_violation, {un:.3f} with the uniform fallback (whose uniform posteriors "
        "give off-support paths a high entropy, so selection avoids them)",
    )


def _selection_helps(data) -> Verdict:
    exact = _selection(data, "oracle: random order, 1 token/step")
    par = _selection(data, "oracle: random order, K=2 steps")
    pert = _selection(data, "perturbed oracle")
    return Verdict(
        "qualified",
        f"oracle, parallel base: SER {par[0]['sequence_error']:.2f} -> {min(r['sequence_error'] for r in par):.3f}",
        f"but an exact base moves away from q (KL {exact[-1]['kl_data_to_sampler']:.1f} at N = {exact[-1]['N']}), "
        f"exact decoding is cheaper at SER 0, and the perturbed oracle's SER goes {pert[0]['sequence_error']:.3f} -> "
        f"{pert[-1]['sequence_error']:.3f}; the paper's gains are on LLMs, not tested here",
    )


# ---- conventions -----------------------------------------------------------------------------------
def _conv(data):
    return data("samplers_conventions")


def _fallback_never(data) -> Verdict:
    c = _conv(data)
    ex = [r for r in c["fallback_exact"]["rows"] if r["kind"] == "never revisits"]
    mc = [r for r in c["fallback_monte_carlo"]["rows"] if r["kind"] == "never revisits"]
    worst = max(abs(r["difference"]) for r in ex)
    disc = sum(r["discordant"] for r in mc)
    total = sum(r["num_samples"] for r in mc)
    ok = worst <= ZERO
    outside = [
        r
        for r in mc
        if r["ser"]["uniform"]["ci_low"] > r["ser"]["min_violation"]["ci_high"]
        or r["ser"]["min_violation"]["ci_low"] > r["ser"]["uniform"]["ci_high"]
    ]
    moved = sorted({f"{r['language']} {r['case']}" for r in mc if r["discordant"]})
    return Verdict(
        "holds" if ok and not outside else "contradicted",
        f"exact max |dSER| = {worst:.0e} ({len(ex)} samplers)",
        f"paired Monte Carlo at L = {c['fallback_monte_carlo']['length']}: {disc} of {total} sequences change their "
        "error status, no SER outside the other's interval"
        + (
            f"; changes only in {', '.join(moved)} (an adaptive step size draws a different number of random "
            "numbers once a row left the support, so the pairing breaks; the exact laws agree)"
            if moved
            else ""
        ),
    )


def _fallback_revisiting(data) -> Verdict:
    c = _conv(data)
    ex = [r for r in c["fallback_exact"]["rows"] if r["kind"] != "never revisits"]
    mc = [r for r in c["fallback_monte_carlo"]["rows"] if r["kind"] != "never revisits"]
    worst_ex = max(ex, key=lambda r: abs(r["difference"]))
    worst_mc = max(mc, key=lambda r: abs(r["difference"]))
    ok = min(abs(r["difference"]) for r in ex) > ZERO
    return Verdict(
        "holds" if ok else "qualified",
        f"max |dSER|: exact {abs(worst_ex['difference']):.3f} ({worst_ex['case']}), Monte Carlo "
        f"{abs(worst_mc['difference']):.2f} ({worst_mc['language']} {worst_mc['case']})",
        f"every revisiting or selecting sampler's exact SER moves (smallest |dSER| "
        f"{min(abs(r['difference']) for r in ex):.1e})",
    )


def _tie_break(data) -> Verdict:
    rows = _conv(data)["tie_break"]["rows"]
    L = _conv(data)["tie_break"]["length"]
    higher, significant, n, examples = 0, 0, 0, []
    for key in sorted({(r["language"], r["score"], r["steps"]) for r in rows}):
        if key[2] >= L:
            continue
        a = next(
            r for r in rows if (r["language"], r["score"], r["steps"]) == key and r["tie_break"] == "random"
        )
        b = next(
            r
            for r in rows
            if (r["language"], r["score"], r["steps"]) == key and r["tie_break"] == "lowest_index"
        )
        n += 1
        higher += ser(b)["p"] >= ser(a)["p"]
        if ser(b)["ci_low"] > ser(a)["ci_high"]:
            significant += 1
            examples.append(f"{key[0]} {key[1]} K={key[2]}: {ser(a)['p']:.2f} -> {ser(b)['p']:.2f}")
    status = "holds" if higher == n and significant else ("qualified" if significant else "contradicted")
    return Verdict(
        status,
        f"lowest-index ties raise SER in {higher} of {n} cases ({significant} beyond the intervals)",
        "; ".join(examples[:3]),
    )


def _float32(data) -> Verdict:
    rows = _conv(data)["float32_race"]
    by = {r["weight"]: r["ratio"] for r in rows}
    ok = abs(by[max(by)] - 1) < 1e-2 and by[min(by)] < 0.05
    return Verdict(
        "holds" if ok else "contradicted",
        ", ".join(f"w = {w:g}: {v:.3f}" for w, v in sorted(by.items(), reverse=True) if w <= 1e-6),
        f"P_float32(win) / (w/(1+w)); {by[max(by)]:.4f} at w = {max(by):g}",
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
    # any-process generation and correction
    _c("ap_mdm_parity_process", AP, "Algorithm 1 (g); parity_generator.py", "Iterating AP-MDM's transition map g with the parity task's remask and delete rules (01 -> M1 -> 1, 10 -> 1M -> 1, 00/11 -> MM -> empty) reduces every bit string to [BOS] (even) or [BOS] 1 (odd).", "official code", "exact", ("tests/sims/test_any_process.py::test_g_on_the_papers_parity_example", "tests/sims/test_any_process.py::test_parity_reduction_is_correct_on_every_string_up_to_length_10", "tests/sims/test_any_process.py::test_fixed_length_g_matches_the_general_map"), CO, _parity_process, notes="g is the paper's method.tex quoted in cl-1-koi/AP-MDM and agrees with the official sampler; removing a lone final 0 is our completion."),
    _c("corrector_monotone", S, "", "Remask-and-resample rounds (AP-MDM remask + unmask steps with the oracle) never increase TV, KL(q || p_n) or the sequence error: the round kernel leaves q invariant.", SF, "exact", ("tests/sims/test_remask.py::test_corrector_is_a_q_invariant_kernel_and_every_distance_is_non_increasing", "tests/sims/test_remask.py::test_corrector_exact_law_composes_the_base_law_with_the_round_kernel"), CO, _corrector_monotone),
    _c("corrector_full_remask_exact", S, "", "One round that remasks all L positions is exact; on parity a single-site round already repairs every odd string (and then every string is a fixed point).", SF, "exact", ("tests/sims/test_remask.py::test_parity_single_site_correction_repairs_invalid_strings_then_freezes",), CO, _corrector_full),
    _c("dyck_insertion_exact", S, "", "Insertion-based generation (AP-MDM insert/remask/unmask) with the exact Bayes reverse kernel generates the uniform law on Dyck words exactly; inserting at uniformly random slots does not.", SF, "exact", ("tests/sims/test_any_process.py::test_insertion_with_the_exact_reverse_kernel_reproduces_the_target", "tests/sims/test_any_process.py::test_uniform_slot_insertion_is_not_uniform_and_monte_carlo_matches_exact"), CO, _dyck),
    # denoising-entropy selection
    _c("entropy_selection_helps", DE, "E-BoN / E-SMC (abstract; reviews)", "Selecting decoding paths of low denoising entropy (best-of-N, entropy-guided SMC) improves the generated samples.", "secondary note", "exact", ("tests/sims/test_denoising_entropy.py::test_best_of_one_is_the_base_law_and_selection_tilts_it", "tests/sims/test_denoising_entropy.py::test_best_of_n_monte_carlo_matches_the_exact_law"), ES, _selection_helps, notes="Path aggregation, N and all E-SMC details are unverified readings (paper_statements.md §8 D2-D4)."),
    _c("ebon_tilts_an_exact_base", S, "", "Under the exact oracle, E-BoN over an exact base sampler moves the output law away from q for every N > 1 (towards low-entropy sequences).", SF, "exact", ("tests/sims/test_denoising_entropy.py::test_best_of_one_is_the_base_law_and_selection_tilts_it",), ES, _ebon_exact_base),
    _c("ebon_parallel_base_dominated", S, "", "Over a parallel base (K = 2) E-BoN lowers the sequence error, but exact one-token-per-step decoding reaches zero error with fewer calls than E-BoN needs to get close.", SF, "exact", ("tests/sims/test_denoising_entropy.py::test_exact_path_law_marginal_is_the_sampler_law",), ES, _ebon_parallel),
    _c("ebon_perturbed_oracle", S, "", "With a perturbed oracle, whether E-BoN lowers the sequence error is decided by the oracle's fallback after a path left the support: it rises with N under min_violation and falls under uniform.", SF, "exact", (f"{TSS}::test_fallback_moves_only_revisiting_and_selecting_samplers_exactly",), ES + CV, _ebon_perturbed),
    # conventions
    _c("fallback_never_revisiting_invariant", S, "", "The sequence error of a sampler that never revisits a token does not depend on the oracle's fallback for impossible evidence (it made its error when it first left the support).", SF, "exact", (f"{TSS}::test_fallback_moves_only_revisiting_and_selecting_samplers_exactly", f"{TSS}::test_paired_monte_carlo_fallback_keeps_a_non_revisiting_sampler_unchanged"), CV, _fallback_never),
    _c("fallback_revisiting_depends", S, "", "The sequence error of samplers that remask (ReMDM, the remask corrector) or select runs by entropy (E-BoN) depends on the oracle's fallback.", SF, "exact", (f"{TSS}::test_fallback_moves_only_revisiting_and_selecting_samplers_exactly",), CV, _fallback_revisiting),
    _c("tie_break_artefact", S, "", "Breaking exact ties of the confidence score towards the lowest index (instead of at random) makes max-prob and entropy orders reveal adjacent, dependent positions together on stationary languages and raises their sequence error.", SF, "monte carlo", ("tests/sims/test_samplers.py::test_random_tie_break_is_uniform_and_lowest_index_is_not",), CV, _tie_break),
    _c("float32_gumbel_bias", ZHENG, "Sec. 5 (float32 categorical sampling)", "Gumbel-max categorical sampling in float32 (MDLM/SEDD) truncates the noise, so classes of small relative weight win less often than they should, and below about 1e-8 never.", "secondary note", "exact", ("tests/sims/test_categorical.py::test_float32_gumbel_truncation_bias_is_measured_exactly",), CV, _float32, notes="The exact law of the race enumerates all 2^24 float32 uniforms (CPU torch.rand)."),
]  # fmt: skip
