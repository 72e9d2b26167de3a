"""Claims shown by the quick training figures ``training_curves`` and ``training_quality_vs_steps``: small
transformer MDMs trained with standard sampling, P-POTS, MIRROR and both (Jia et al., arXiv 2511.18159),
an AR baseline, and the trained models' sample quality beside the oracle.

Provenance (``../shared/research/paper_statements.md`` §6): the paper's method and its claims of lower
variance, better final quality and smaller run-to-run spread are known from a detailed third-party
extraction and the README tables of the released code (J1-J9, J14), hence "secondary note"; the paper's
experiments are LLM fine-tuning, so these toy runs test the mechanism, not the reported numbers. The
scaled-training figures have their own claims (``claims_training``); ids here are ``training.quick_*``.

Seed statistics: 3 seeds per method in the quick preset. A difference between methods counts as
resolved only when it exceeds :data:`RESOLVE_SE` standard errors of the difference of the seed means;
spreads are compared by the ratio of seed standard deviations, resolved only outside
[:data:`SPREAD_RATIO_LOW`, :data:`SPREAD_RATIO_HIGH`] (the ratio of two 3-sample SDs is very noisy).
"""

from __future__ import annotations

import math
import statistics

from paper_repro.ledger.model import Claim, Verdict

PAPER = "Jia et al., arXiv 2511.18159"
TM = "tests/sims/test_models.py"
TSV = "tests/sims/test_sample_variance.py"
RESOLVE_SE = 2.0
SPREAD_RATIO_LOW, SPREAD_RATIO_HIGH = 0.5, 2.0
#: Monte Carlo and exact variances agree when within this many of the measurement's standard errors.
AGREE_SE = 3.0
#: Agreement is only "qualified" when even the best run's exact SE exceeds this fraction of the value.
WEAK_REL_SE = 0.5
METHODS = ("ppots", "mirror", "ppots_mirror")


def _runs(data) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in data("training_curves")["runs"]:
        out.setdefault(r["method"], []).append(r)
    return out


def _own_per_row(r: dict) -> float:
    d = r["history"]["exact"]["decomposition"]["own"]
    return (d["A"] + d["B"] + d["C"]) * d["rows_per_example"]


def _compare(values: dict[str, list[float]]) -> tuple[str, str, bool]:
    """Status and text for 'each method is below standard' from per-seed values."""
    base = values["standard"]
    parts, resolved_better, resolved_worse, all_lower = [], 0, 0, True
    for m in METHODS:
        v = values[m]
        diff = statistics.fmean(v) - statistics.fmean(base)
        se = math.sqrt(statistics.variance(v) / len(v) + statistics.variance(base) / len(base))
        parts.append(f"{m} {statistics.fmean(v) / statistics.fmean(base):.2f}")
        all_lower &= diff < 0
        if abs(diff) > RESOLVE_SE * se:
            resolved_better += diff < 0
            resolved_worse += diff > 0
    if resolved_better == len(METHODS):
        status = "holds"
    elif resolved_worse:
        status = "contradicted"
    else:
        status = "qualified"
    return status, "ratio to standard (seed means): " + ", ".join(parts), all_lower


def _loss_variance(data) -> Verdict:
    runs = _runs(data)
    vals = {m: [_own_per_row(r) for r in runs[m]] for m in ("standard", *METHODS)}
    status, key, all_lower = _compare(vals)
    if status == "qualified" and all_lower:
        detail = "lower for every method, but not resolved beyond the seed spread for all"
    else:
        detail = (
            "exact A + B + C of the estimator each run trained with, on its final network, x rows per example"
        )
    return Verdict(status, key, detail)


def _gradient_variance(data) -> Verdict:
    runs = _runs(data)
    vals = {m: [r["measured_grad_total_per_row"] for r in runs[m]] for m in ("standard", *METHODS)}
    status, key, _ = _compare(vals)
    spread = ", ".join(f"{m} {min(v):.0f}..{max(v):.0f}" for m, v in vals.items())
    return Verdict(status, key, f"measured at the last step (nested MC), x rows per example; seeds: {spread}")


def _final_gap(data) -> Verdict:
    runs = _runs(data)
    vals = {m: [r["exact_gap"] for r in runs[m]] for m in ("standard", *METHODS)}
    status, key, _ = _compare(vals)
    means = ", ".join(f"{m} {statistics.fmean(v):.4f}" for m, v in vals.items())
    return Verdict(status, key, f"final exact NELBO gap (nats/token), seed means: {means}")


def _spread(data) -> Verdict:
    runs = _runs(data)
    sd = {m: statistics.stdev(r["exact_gap"] for r in runs[m]) for m in ("standard", *METHODS, "ar")}
    ratios = {m: sd[m] / sd["standard"] for m in METHODS}
    if all(v < SPREAD_RATIO_LOW for v in ratios.values()):
        status = "holds"
    elif any(v > SPREAD_RATIO_HIGH for v in ratios.values()):
        status = "contradicted"
    else:
        status = "qualified"
    return Verdict(
        status,
        "s.d. ratio to standard: " + ", ".join(f"{m} {v:.2f}" for m, v in ratios.items()),
        f"s.d. of the final exact gap over {len(runs['standard'])} seeds: "
        + ", ".join(f"{m} {v:.4f}" for m, v in sd.items()),
    )


def _exact_vs_measured(data) -> Verdict:
    """Each run's last nested measurement in units of the EXACT standard error of a sample variance of
    that many examples (``measurement_law``: :func:`sims.estimators.sample_variance_law` on the run's own
    estimator); the plug-in SE the measurement reports is invalid near the floor (see
    :mod:`sims.models.measure`) and is shown for contrast only."""
    runs = _runs(data)
    z, z_plug, rel = {}, {}, {}
    for m in ("standard", *METHODS):
        for r in runs[m]:
            last, law = r["history"]["measure"][-1], r["measurement_law"]
            key = (m, r["seed"])
            z[key] = (last["loss_total"] - law["variance"]) / law["se"]
            z_plug[key] = (last["loss_total"] - law["variance"]) / last["loss_total_se"]
            rel[key] = law["se"] / law["variance"]
    worst = max(z, key=lambda k: abs(z[k]))
    off = sorted({m for (m, _), v in z.items() if abs(v) > AGREE_SE})
    weak = min(rel.values()) > WEAK_REL_SE
    status = "contradicted" if off else ("qualified" if weak else "holds")
    n = runs["standard"][0]["measurement_law"]["num_examples"]
    detail = (
        f"last-step measurement ({n} examples) against the exact A + B + C of the same estimator on the same "
        f"network, in exact standard errors of a {n}-example sample variance (fourth moment by enumeration); "
        f"exact SE / value {min(rel.values()):.1f}..{max(rel.values()):.1f}, so the check has "
        + ("little power" if weak else "power")
        + f"; the plug-in SE would give |z| up to {max(abs(v) for v in z_plug.values()):.1f} (heavy tail at the "
        "floor, not a bias)" + (f"; beyond {AGREE_SE:g} exact SE for {', '.join(off)}" if off else "")
    )
    return Verdict(
        status,
        f"largest |measured - exact| = {abs(z[worst]):.2f} exact SE ({worst[0]}, seed {worst[1]})",
        detail,
    )


def _ar_gap(data) -> Verdict:
    runs = _runs(data)
    ar = statistics.fmean(r["exact_gap"] for r in runs["ar"])
    best = min(statistics.fmean(r["exact_gap"] for r in runs[m]) for m in ("standard", *METHODS))
    return Verdict(
        "holds" if ar < best else "contradicted",
        f"AR {ar:.4f} vs best MDM {best:.4f} nats/token ({best / ar:.0f}x)",
        "final exact gap after the same number of training steps",
    )


def _quality_records(data) -> list[dict]:
    return list(data("training_quality_vs_steps")["records"].values())


def _model_floor(data) -> Verdict:
    rows = _quality_records(data)
    L = data("training_quality_vs_steps")["meta"]["suite"]["length"]
    at_l = [r for r in rows if r["steps"] == L and r["sampler"] != "autoregressive"]
    oracle = [r for r in at_l if r["denoiser"] == "oracle" and r["sampler"] != "ancestral"]
    models = [r for r in at_l if r["denoiser"] != "oracle" and r["sampler"] != "ancestral"]
    o = max(r["quality"]["sequence_error"]["p"] for r in oracle)
    m = min(r["quality"]["sequence_error"]["ci_low"] for r in models)
    ok = o == 0.0 and m > 0
    return Verdict(
        "holds" if ok else "contradicted",
        f"K = L = {L}: oracle SER {o:.3f}; trained MDMs SER >= "
        f"{min(r['quality']['sequence_error']['p'] for r in models):.2f}",
        "fixed-count random and max-prob orders at one token per step; the models' learning error stays",
    )


def _c(cid, where, statement, provenance, kind, tests, figures, verdict, paper=PAPER, notes=""):
    return Claim(
        f"training.quick_{cid}", paper, where, statement, provenance, kind, tests, figures, verdict, notes
    )


TC, TQ = ("training_curves",), ("training_quality_vs_steps",)
CLAIMS = [
    _c("loss_variance", "Sec. 4", "P-POTS, MIRROR and both lower the training-loss variance of the estimator at equal compute (per network row).", "secondary note", "exact", (f"{TM}::test_training_estimators_are_unbiased", f"{TM}::test_mirror_and_pair_masks"), TC, _loss_variance, notes="Exact on the trained toy networks; the oracle-level effect is variance.mirror_equal_compute."),
    _c("gradient_variance", "Sec. 4", "The variance-reduction methods lower the per-example gradient variance during training (equal compute).", "secondary note", "monte carlo", (f"{TM}::test_per_example_gradients_match_autograd",), TC, _gradient_variance),
    _c("final_gap", "Sec. 5, README tables", "Training with P-POTS and MIRROR reaches a better final model than standard training.", "secondary note", "exact", (f"{TM}::test_mc_nelbo_unbiased_and_exact_nelbo",), TC, _final_gap, notes="The paper reports downstream accuracy of fine-tuned LLMs; here the final exact NELBO gap of toy models."),
    _c("run_spread", "Sec. 5, README tables", "The variance-reduction methods shrink the run-to-run spread of the final model quality.", "secondary note", "exact", (f"{TM}::test_mc_nelbo_unbiased_and_exact_nelbo",), TC, _spread),
    _c("exact_matches_measured", "", "The nested Monte Carlo measurement of the training-loss variance agrees with its exact value A + B + C (enumeration) on the trained networks, within the exact standard error of a sample variance of that many examples.", "suite finding", "monte carlo", (f"{TM}::test_measured_loss_variance_matches_exact", f"{TM}::test_small_measurement_near_the_floor_is_judged_by_its_exact_se", f"{TSV}::test_law_reproduces_the_exact_decomposition", f"{TSV}::test_conditional_power_sums_match_brute_force"), TC, _exact_vs_measured, paper="suite", notes="Every method is tested (MIRROR's pair = one averaged example, P-POTS weighted by 1/p(u), on both sides). An earlier verdict 'contradicted' (up to 11.8 SE, measured below exact) used the plug-in SE of the 128-example sample variance; with the eps = 1e-3 floor the loss has E[l^4] = O(1/eps^2), the plug-in SE is far too small and the sample variance is right-skewed (unbiased, median below the mean). The measurement itself was right: with many examples it matches A + B + C for every estimator (test_measured_loss_variance_matches_exact), and at the floor with 128 examples the plug-in SE puts a large share of seeded replicates beyond 3 SE while the exact SE does not (test_small_measurement_near_the_floor_is_judged_by_its_exact_se)."),
    _c("ar_gap", "", "With the same training budget, the AR baseline reaches a far smaller exact gap than every MDM estimator.", "suite finding", "exact", (f"{TM}::test_quick_preset_mdm_vs_ar_exact",), TC, _ar_gap, paper="suite"),
    _c("model_error_floor", "", "Trained MDMs keep a sequence-error floor at one token per step, where the oracle is exact.", "suite finding", "monte carlo", (f"{TM}::test_model_denoiser_works_with_every_sampler",), TQ, _model_floor, paper="suite"),
]  # fmt: skip
