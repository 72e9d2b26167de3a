"""Claims about decoding policies, part 2: any-process generation and the remask corrector,
denoising-entropy selection, and the suite's conventions (the oracle's fallback, tie-breaking, float32
Gumbel-max).

Provenance and tolerances as in :mod:`paper_repro.ledger.claims_samplers` (part 1: EB-sampler, Fast-dLLM,
ReMDM, calls versus quality, exact laws), whose data access helpers this module uses. Verdicts read the
figure data ``samplers_correction``, ``samplers_entropy_selection`` and ``samplers_conventions``.
"""

from __future__ import annotations

import itertools

from paper_repro.ledger.claims_samplers import (
    AP,
    CO,
    CV,
    DE,
    ES,
    SF,
    TSS,
    ZERO,
    ZHENG,
    S,
    _c,
    _correction,
    _fmt,
    ser,
)
from paper_repro.ledger.model import Verdict


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


CLAIMS = [
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
