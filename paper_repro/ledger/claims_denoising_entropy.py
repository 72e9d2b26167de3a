"""Claims of Chen, Jiang, Sun, Lin, "Optimizing Decoding Paths in Masked Diffusion Models by Quantifying
Uncertainty" (arXiv 2512.21336): Propositions 1-2 on the denoising (state) entropy.

Provenance (``../shared/research/paper_statements.md`` §8 D1, D5): the state entropy h_DE is known from the
official function copied in third-party code; the propositions only from the OpenReview reviews ("h_DE
relates to an upper bound on the joint entropy of the masked tokens"; "a proxy for the instantaneous
training loss"; "both assume p_theta = q"), hence "secondary note". Our exact forms are in
``theory/denoising_entropy.py``. Verdicts read ``denoising_entropy_props.json``.

Tolerance: per state, sums of at most V^L = 243 terms of size <= log V in float64, so identities are
checked at 1e-12 absolute (errors measured <= 2e-15).
"""

from __future__ import annotations

from paper_repro.ledger.doc_tables import claims_table
from paper_repro.ledger.model import Claim, Verdict

PAPER = "Chen et al., arXiv 2512.21336"
T = "tests/theory/test_denoising_entropy_props.py"
ABS_TOL = 1e-12


def _models(data):
    return data("denoising_entropy_props")["models"]


def _prop1(data) -> Verdict:
    o = _models(data)["oracle"]
    ok = o["max_abs_gap_minus_tc"] <= ABS_TOL and o["min_gap"] >= -ABS_TOL
    tc = o["by_mask_size"]["total_correlation"][-1]
    return Verdict(
        "holds" if ok else "contradicted",
        f"|gap - TC| <= {o['max_abs_gap_minus_tc']:.0e} on {o['num_states']} states",
        f"|M| h_DE >= H(x^M | z) with gap = TC(x^M | z); E TC at full masking {tc:.3f} nats",
    )


def _prop2(data) -> Verdict:
    o = _models(data)["oracle"]
    err = max(o["max_abs_oracle_loss_minus_sum_entropy"], o["max_abs_model_loss_minus_model_sum_entropy"])
    return Verdict(
        "holds" if err <= ABS_TOL else "contradicted",
        f"max |loss - |M| h_DE| = {err:.0e}",
        "exact conditionals",
    )


def _prop2_model(data) -> Verdict:
    gaps = {
        k: m["max_abs_model_loss_minus_model_sum_entropy"] for k, m in _models(data).items() if k != "oracle"
    }
    bad = {k: v for k, v in gaps.items() if v > ABS_TOL}
    if not bad:
        return Verdict("holds", "—", "")
    return Verdict(
        "qualified",
        " / ".join(f"{k}: {v:.2f} nats" for k, v in bad.items()),
        "max over states of |expected masked loss - |M| h_DE| for the model: equal only if p_theta = q",
    )


def _prop1_model(data) -> Verdict:
    frac = {
        k: m["fraction_states_model_entropy_below_joint"] for k, m in _models(data).items() if k != "oracle"
    }
    bad = {k: v for k, v in frac.items() if v > 0}
    if not bad:
        return Verdict("holds", "—", "")
    return Verdict(
        "qualified",
        " / ".join(f"{k}: {v:.0%} of states" for k, v in bad.items()),
        "an over-confident model's |M| h_DE falls below H(x^M | z): the bound needs p_theta = q",
    )


def _c(cid, where, statement, tests, verdict, notes=""):
    return Claim(
        f"denoising_entropy.{cid}",
        PAPER,
        where,
        statement,
        "secondary note",
        "exact",
        tests,
        ("denoising_entropy_props",),
        verdict,
        notes,
    )


CLAIMS = [
    _c("prop1_subadditivity", "Prop. 1", "The state entropy bounds the joint entropy of the masked tokens: |M| h_DE(z) >= H(x^M | z) (exact denoiser).", (f"{T}::test_prop1_gap_is_the_conditional_total_correlation", f"{T}::test_forward_process_averages_at_full_masking"), _prop1, notes="Our exact form; the gap is the conditional total correlation."),
    _c("prop2_oracle_loss", "Prop. 2", "The state entropy is the instantaneous training loss: E_q[-sum_{l in M} log q(x^l|z)] = |M| h_DE(z) (exact denoiser).", (f"{T}::test_prop2_oracle_state_entropy_is_the_expected_masked_loss",), _prop2),
    _c("prop2_needs_oracle", "Prop. 2", "The state entropy of a trained model is a proxy for its training loss.", (f"{T}::test_prop2_fails_for_a_model_and_prop1_for_an_overconfident_one",), _prop2_model, notes="Reviewer 3: the proof assumes p_theta = q."),
    _c("prop1_needs_oracle", "Prop. 1", "A model's state entropy upper-bounds the joint entropy of the masked tokens.", (f"{T}::test_prop2_fails_for_a_model_and_prop1_for_an_overconfident_one",), _prop1_model),
]  # fmt: skip


def _variants(data) -> Verdict:
    models = data("denoising_entropy_variants")["models"]
    rows = [r for rr in models.values() for r in rr]
    diff = max(r["max_abs_law_difference_vs_sum"] for r in rows)
    key = f"max |law difference| = {diff:.0e} over {len(rows)} (model, variant, N) cells"
    if diff <= ABS_TOL:
        return Verdict(
            "holds",
            key,
            "sum, mean and trapezoid time integral select the same E-BoN law: no variant changes KL or SER",
        )
    return Verdict("contradicted", key, "the variants select different laws")


CLAIMS.append(
    Claim(
        "denoising_entropy.path_variants_same_selection",
        "suite",
        "",
        "For a sampler with a fixed number of steps on a uniform time grid, E-BoN's output law is the same "
        "whether the path entropy is the sum of the state entropies, their mean, or the trapezoid time "
        "integral of the public reimplementation (so no variant improves KL or sequence error).",
        "suite finding",
        "exact",
        (
            "tests/theory/test_path_entropy_variants.py::test_time_integral_selects_like_the_sum_on_a_uniform_grid",
            "tests/theory/test_path_entropy_variants.py::test_unit_weights_are_the_suites_sum_and_mean",
        ),
        ("denoising_entropy_variants",),
        _variants,
        notes="The time integral is labelled as a third-party alternative (paper_statements.md §10 item 6).",
    )
)


def _trained_variants(data) -> Verdict:
    block = data("denoising_entropy_variants")["trained"]
    name = next(n for n in block["models"] if n != "oracle")
    rows = block["models"][name]
    diff = max(r["max_abs_law_difference_vs_sum"] for r in rows)
    sums = sorted((r for r in rows if r["variant"] == "sum"), key=lambda r: r["N"])
    one, rest = sums[0], sums[1:]
    kl_better = [r["N"] for r in rest if r["kl_data_to_sampler"] < one["kl_data_to_sampler"]]
    ser_better = [r["N"] for r in rest if r["sequence_error"] < one["sequence_error"]]
    best_kl = min(sums, key=lambda r: r["kl_data_to_sampler"])
    key = (
        f"{name}, {block['language']} L = {block['length']}: KL {one['kl_data_to_sampler']:.3f} (N = 1) -> "
        f"{best_kl['kl_data_to_sampler']:.3f} (N = {best_kl['N']}), {sums[-1]['kl_data_to_sampler']:.3f} "
        f"(N = {sums[-1]['N']}); SER {one['sequence_error']:.3g} -> {sums[-1]['sequence_error']:.3g}; "
        f"variants differ by {diff:.0e}"
    )
    if diff > ABS_TOL:
        return Verdict("contradicted", key, "the variants select different laws under the trained model")
    if len(kl_better) == len(rest) and len(ser_better) == len(rest):
        return Verdict(
            "holds", key, "every variant (all three select the same law) improves KL and SER at every N > 1"
        )
    if kl_better or ser_better:
        return Verdict(
            "qualified",
            key,
            f"KL lower than at N = 1 for N in {kl_better}, SER lower for N in {ser_better}; the three variants "
            "select the same law, so none improves on another",
        )
    return Verdict("contradicted", key, "no N > 1 improves KL or SER")


CLAIMS.append(
    Claim(
        "denoising_entropy.variants_trained_model",
        PAPER,
        "E-BoN (reviews, secondary)",
        "Under a trained MDM, E-BoN selection by low path entropy (sum, mean or time-integral statistic) "
        "lowers KL(q || p_N) and the sequence error below a single run.",
        "secondary note",
        "exact",
        (
            "tests/theory/test_path_entropy_variants.py::test_time_integral_selects_like_the_sum_on_a_uniform_grid",
            "tests/sims/test_prefix_denoiser.py::test_prefix_of_the_oracle_is_the_oracle_at_the_shorter_length",
        ),
        ("denoising_entropy_variants",),
        _trained_variants,
        notes="One small cached model (quick training suite, standard estimator, seed 0), evaluated at a "
        "shorter length than it was trained at through the prefix denoiser; exact given the model.",
    )
)


def _variants_block(data) -> str:
    ids = ("denoising_entropy.path_variants_same_selection", "denoising_entropy.variants_trained_model")
    return claims_table([c for c in CLAIMS if c.id in ids], data)


DOC_BLOCKS = {"denoising_entropy.variants_claims": _variants_block}
