r"""The cells and summaries of the step-count figures (Feng et al. arXiv 2502.09622; Li & Cai arXiv
2505.21400): one function per figure cell, each returning the plain record the figure stores.

Every quantity is in nats; K is the number of steps (N in Feng et al., T in Li & Cai). Rules: ``"fixed"`` =
``FixedCountSampler(K, score="random")`` (LLaDA counts, uniformly random positions, one call per step) and
``"bernoulli"`` = ``AncestralSampler(K)`` (MDLM, linear schedule, uniform grid, t_min = 0; empty steps make
no call), both driven by the exact oracle. ``calls`` in a record is the expected number of denoiser calls
(:func:`theory.feng.expected_calls`).

* excess cross-entropy E_M KL(q || p_M)/L: exact by the area formula (:func:`ter_exact_records`), by paired
  Monte Carlo (:func:`ter_mc_record`), with the information sums the bounds need
  (:func:`information_record`), and the fitted rates (:func:`ter_summary`);
* both directions (:func:`direction_record`, :func:`tiny_direction_record`);
* a perturbed oracle: total = factorization + learning (:func:`learning_record`) and SER at one token per
  step (:func:`perturbed_ser_record`);
* sequence error on the stand-in hard languages (:func:`ser_record`, :func:`ser_summary`);
* steps needed for a target (:func:`steps_needed_record`, :func:`steps_needed_slopes`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_sampler_law
from sims.languages import NGramLanguage
from sims.metrics import evaluate_samples, exact_law_metrics, teacher_forcing_path
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from sims.validation import InvalidArgumentError
from theory.entropy_profile import EntropyProfile
from theory.factorization import expected_kl_for_sampler, monte_carlo_expected_kl, monte_carlo_learning_sweep
from theory.feng import expected_calls, expected_kl, loglog_slope, steps_for_per_token_kl
from theory.information import hmm_information_estimate, ngram_information
from theory.li_cai import theorem1_bound
from theory.sequence_error import (
    block_language_ser,
    monte_carlo_ser,
    oracle_sampled_ser,
    steps_for_pair_ser_bernoulli,
    steps_for_pair_ser_fixed,
)


def rule_sampler(rule: str, steps: int):
    """The sampler of a rule (see the module docstring)."""
    if rule == "fixed":
        return FixedCountSampler(int(steps), score="random")
    if rule == "bernoulli":
        return AncestralSampler(int(steps))
    raise InvalidArgumentError(f"rule must be 'fixed' or 'bernoulli', got {rule!r}")


# ---------------------------------------------------------------------------------------------------
# Excess cross-entropy versus steps


def ter_exact_records(profile: EntropyProfile, language: str, steps: Iterable[int]) -> list[dict]:
    """Exact per-token E_M KL(q || p_M)/L of both rules at each K (fixed counts also with Li & Cai's
    Theorem 1 bound per token)."""
    L, si = profile.length, profile.sum_mutual_information
    D = profile.dependence_curve()
    out = []
    for K in steps:
        base = {"kind": "exact", "language": language, "length": L, "steps": K}
        out.append(
            {
                **base,
                "rule": "fixed",
                "kl_per_token": expected_kl(profile, K, "fixed") / L,
                "theorem1_per_token": theorem1_bound(llada_counts(L, K), si) / L,
                "sum_mi": si,
                "calls": expected_calls("fixed", L, K),
            }
        )
        out.append(
            {
                **base,
                "rule": "bernoulli",
                "kl_per_token": expected_kl(profile, K, "bernoulli", D) / L,
                "sum_mi": si,
                "calls": expected_calls("bernoulli", L, K),
            }
        )
    return out


def ter_mc_record(
    language, name: str, rule: str, length: int, steps: int, samples: int, generator: torch.Generator
) -> dict:
    """Paired Monte Carlo E_M KL(q || p_M)/L (95% t-interval) of one rule at one K, with the oracle path of
    the teacher forcing (``"full"`` or ``"incremental:<engine>"``)."""
    sampler = rule_sampler(rule, steps)
    est = monte_carlo_expected_kl(language, sampler, length, samples, generator, batch_size=samples)
    return {
        "kind": "mc",
        "language": name,
        "rule": rule,
        "length": length,
        "steps": steps,
        "kl_per_token": est.total.mean / length,
        "ci_low": est.total.ci_low / length,
        "ci_high": est.total.ci_high / length,
        "n": est.total.n,
        "conventions": sampler.conventions(),
        "oracle_path": teacher_forcing_path(OracleDenoiser(language), length),
        "calls": expected_calls(rule, length, steps),
    }


def information_record(language, name: str, length: int, samples: int, generator: torch.Generator) -> dict:
    r""":math:`\sum_i I(X_i; X_{-i})`: exact for n-grams (window closed form), paired Monte Carlo for HMMs."""
    rec = {"kind": "info", "language": name, "length": length}
    if isinstance(language, NGramLanguage):
        info = ngram_information(language, length)
        return {**rec, "sum_mi": info.sum_mutual_information, "method": info.method}
    s = hmm_information_estimate(language, length, samples, generator).sum_mutual_information
    return {**rec, "sum_mi": s.mean, "sum_mi_ci": [s.ci_low, s.ci_high], "method": "Monte Carlo (paired)"}


#: Range of K over which the decay rate is fitted: K in [4, L/8] (far from K = 1 and from K ~ L).
RATE_FIT_RANGE = (4, 1 / 8)


def ter_summary(rows: Sequence[dict], lengths: Sequence[int], at_steps: Sequence[int] = (4, 16, 64)) -> dict:
    """Fitted slopes of log KL against log K (exact, K in :data:`RATE_FIT_RANGE`) per rule and length, the
    per-token KL at fixed K across lengths, and the Monte Carlo checks of the exact values (bigram)."""
    exact = [r for r in rows if r["kind"] == "exact"]
    fits = {}
    for rule in ("fixed", "bernoulli"):
        for L in lengths:
            sub = sorted(
                (
                    r
                    for r in exact
                    if r["rule"] == rule
                    and r["length"] == L
                    and RATE_FIT_RANGE[0] <= r["steps"] <= L * RATE_FIT_RANGE[1]
                ),
                key=lambda r: r["steps"],
            )
            if len(sub) >= 3:
                fits[f"slope|{rule}|L={L}"] = loglog_slope(
                    [r["steps"] for r in sub], [r["kl_per_token"] for r in sub]
                )
        for K in at_steps:
            vals = {r["length"]: r["kl_per_token"] for r in exact if r["rule"] == rule and r["steps"] == K}
            fits[f"kl_per_token_at_K={K}|{rule}"] = dict(sorted(vals.items()))
    by_key = {(r["rule"], r["length"], r["steps"]): r for r in exact}
    checks = {}
    for r in rows:
        if r["kind"] == "mc" and r["language"] == "ngram2":
            ex = by_key.get((r["rule"], r["length"], r["steps"]))
            if ex:
                checks[f"{r['rule']}|L={r['length']}|K={r['steps']}"] = {
                    "exact": ex["kl_per_token"],
                    "mc": r["kl_per_token"],
                    "ci": [r["ci_low"], r["ci_high"]],
                    "inside_ci": r["ci_low"] <= ex["kl_per_token"] <= r["ci_high"],
                }
    return {"fits": fits, "mc_vs_exact_bigram": checks}


# ---------------------------------------------------------------------------------------------------
# Both directions


def direction_record(
    language, profile: EntropyProfile, rule: str, steps: int, samples: int, generator: torch.Generator
) -> dict:
    """Exact data direction E_M KL(q || p_M)/L and sampled generative direction (E_p[-log q] - H)/L (+inf as
    soon as one sample leaves the support), with SER (Wilson), the number of in-support samples, the expected
    and the measured calls."""
    L = profile.length
    sampler = rule_sampler(rule, steps)
    res = sampler.sample(
        OracleDenoiser(language, on_impossible="uniform"), samples, L, generator, batch_size=samples
    )
    h = language.entropy(L) / L
    q = evaluate_samples(language, res.tokens, nfe=res.nfe, optimal_nll_per_token=h)
    gen, gin = q.gen_nll_per_token, q.gen_nll_per_token_in_support
    return {
        "rule": rule,
        "length": L,
        "steps": steps,
        "data_excess_exact": expected_kl_for_sampler(profile, sampler) / L,
        "gen_excess": gen.mean - h,
        "gen_excess_ci": [gen.ci_low - h, gen.ci_high - h],
        "gen_excess_in_support": (gin.mean - h) if gin else math.nan,
        "gen_excess_in_support_ci": [gin.ci_low - h, gin.ci_high - h] if gin else [math.nan] * 2,
        "in_support_samples": gin.n if gin else 0,
        "ser": q.sequence_error.p,
        "ser_ci": [q.sequence_error.ci_low, q.sequence_error.ci_high],
        "entropy_per_token": h,
        "calls": expected_calls(rule, L, steps),
        "mean_nfe": q.mean_nfe,
    }


def tiny_direction_record(
    language, log_q: torch.Tensor, profile: EntropyProfile, rule: str, steps: int
) -> dict:
    """Both KL directions, SER and the per-order E_M KL from the sampler's exact law (tiny L)."""
    L = profile.length
    sampler = rule_sampler(rule, steps)
    law = exact_sampler_law(sampler, OracleDenoiser(language, on_impossible="uniform"), L)
    m = exact_law_metrics(log_q, law, L)
    return {
        "rule": rule,
        "steps": steps,
        **m.to_dict(),
        "expected_kl_per_order": expected_kl_for_sampler(profile, sampler),
        "calls": expected_calls(rule, L, steps),
    }


# ---------------------------------------------------------------------------------------------------
# Learning error (perturbed oracle)


def learning_record(
    language,
    profile: EntropyProfile,
    steps: int,
    samples: int,
    generator: torch.Generator,
    models: dict,
    oracle,
) -> dict:
    """Per-token total, factorization and learning parts (paired Monte Carlo over shared (x ~ q, M)) of each
    ``PerturbedDenoiser(oracle, **params)`` in ``models``, fixed counts; the exact factorization part."""
    L = profile.length
    s = rule_sampler("fixed", steps)
    wrappers = {n: (lambda d, p=p: PerturbedDenoiser(d, **p)) for n, p in models.items()}
    res = monte_carlo_learning_sweep(
        language, s, L, samples, generator, wrappers, oracle=oracle, batch_size=samples
    )
    rec = {
        "kind": "kl",
        "length": L,
        "steps": steps,
        "factorization_exact": expected_kl_for_sampler(profile, s) / L,
    }
    for name, est in res.items():
        rec[name] = {
            part: (
                None
                if getattr(est, part) is None
                else {
                    "mean": getattr(est, part).mean / L,
                    "ci": [getattr(est, part).ci_low / L, getattr(est, part).ci_high / L],
                }
            )
            for part in ("total", "factorization", "learning")
        }
        rec[name]["infinite_fraction"] = est.infinite_fraction
    return rec


def perturbed_ser_record(
    language, oracle, perturbation: str, value: float, length: int, samples: int, generator: torch.Generator
) -> dict:
    """SER (Wilson 95%) of the fixed-count sampler with one token per step (K = L) driven by
    ``PerturbedDenoiser(oracle, **{perturbation: value})``."""
    est = monte_carlo_ser(
        language,
        rule_sampler("fixed", length),
        length,
        samples,
        generator,
        denoiser=PerturbedDenoiser(oracle, **{perturbation: value}),
        batch_size=samples,
    )
    return {
        "kind": "ser",
        "perturbation": perturbation,
        "value": value,
        "length": length,
        "steps": length,
        "ser": est.p,
        "ci": [est.ci_low, est.ci_high],
        "n": est.n,
    }


# ---------------------------------------------------------------------------------------------------
# Sequence error on the stand-in hard languages


def ser_record(
    language: str,
    rule: str,
    length: int,
    steps: int,
    generator: torch.Generator,
    blocks: dict,
    rb_samples: int,
    sampled_language=None,
    mc_samples: int = 0,
) -> dict:
    """SER of one (language, rule, L, K) cell: with ``sampled_language``, exact-law Monte Carlo by running the
    oracle sampler on it (:func:`theory.sequence_error.oracle_sampled_ser`: Wilson 95%, the oracle path that
    ran; ``kind="sampled"``); otherwise ``blocks[language] = (symbols, block)`` of a block-sum language: closed
    form / exact DP / Rao-Blackwellised MC (:func:`theory.sequence_error.block_language_ser`; ``kind="reference"``)."""
    rec = {"language": language, "rule": rule, "length": length, "steps": steps}
    if sampled_language is not None:
        s = rule_sampler(rule, steps)
        rec.update(
            kind="sampled", **oracle_sampled_ser(sampled_language, s, length, mc_samples, generator).to_dict()
        )
    else:
        V, b = blocks[language]
        rec.update(
            kind="reference", **block_language_ser(rule, length, steps, V, b, generator, rb_samples).to_dict()
        )
    rec["calls"] = expected_calls(rule, length, steps)
    return rec


def ser_summary(rows: Sequence[dict], lengths: Sequence[int], pair_symbols: int) -> dict:
    r"""Slope of :math:`-\log(1 - SER)` against L/K per language for the Bernoulli rule over K >= L/4 and
    0 < SER < 0.95 (theory: :math:`(1 - 1/V)/2` per unit L/K for pairs as K/L grows, 1/4 for binary parity
    blocks of 4); SER of both rules at K/L in {1/2, 1, 2, 4}. Fixed counts get no slope: their
    :math:`-\log(1 - SER)` vanishes at K = L, so it is not proportional to L/K."""
    fits = {}
    for lang in ("pair", "parity", "sparse"):
        for rule in ("bernoulli",):
            sub = [
                r
                for r in rows
                if r["language"] == lang
                and r["rule"] == rule
                and 0 < r["ser"] < 0.95
                and r["steps"] >= r["length"] / 4
            ]
            if len(sub) >= 3:
                x = np.array([r["length"] / r["steps"] for r in sub])
                y = np.array([-math.log1p(-r["ser"]) for r in sub])
                fits[f"{lang}|{rule}"] = {
                    "slope_vs_L_over_K": float(np.polyfit(x, y, 1)[0]),
                    "points": len(sub),
                }
    fits["pair|bernoulli|theory_slope_large_K"] = (1 - 1 / pair_symbols) / 2
    near = {}
    for lang in ("pair", "parity"):
        for L in lengths:
            for ratio in (0.5, 1, 2, 4):
                K = int(ratio * L)
                vals = {
                    r["rule"]: r["ser"]
                    for r in rows
                    if r["language"] == lang and r["length"] == L and r["steps"] == K
                }
                if vals:
                    near[f"{lang}|L={L}|K/L={ratio}"] = vals
    return {"fits": fits, "bernoulli_vs_fixed_near_K_eq_L": near}


# ---------------------------------------------------------------------------------------------------
# Steps needed


def steps_needed_record(
    side: str, rule: str, target: float, length: int, profile=None, symbols: int = 16
) -> dict:
    """Smallest K reaching a target, with its expected calls: ``side="ter"``: per-token E_M KL <= target on
    ``profile`` (None if not reached); ``side="ser"``: pair-copy SER <= target (Bernoulli: the closed form
    rounded up; fixed counts: the exact DP by bisection)."""
    L = int(length)
    if side == "ter":
        try:
            K = steps_for_per_token_kl(profile, target, rule)
        except ValueError:  # not reached within the search cap (64 L for Bernoulli, L for fixed counts)
            K = None
    elif side == "ser":
        if rule == "bernoulli":
            K = math.ceil(steps_for_pair_ser_bernoulli(target, L, symbols))
        else:
            K = steps_for_pair_ser_fixed(target, L, symbols)
    else:
        raise InvalidArgumentError(f"side must be 'ter' or 'ser', got {side!r}")
    calls = None if K is None else expected_calls(rule, L, K)
    return {"side": side, "rule": rule, "target": target, "length": L, "steps": K, "calls": calls}


def steps_needed_slopes(rows: Sequence[dict]) -> dict:
    """Slope of log K* against log L per (side, rule, target), over all lengths and over the three largest
    (the asymptotic regime), and the same for the expected calls at K* (suffix ``|calls``)."""
    out = {}
    groups = sorted({(r["side"], r["rule"], r["target"]) for r in rows if r["steps"] is not None})
    for side, rule, t in groups:
        sub = sorted(
            (r for r in rows if (r["side"], r["rule"], r["target"]) == (side, rule, t) and r["steps"]),
            key=lambda r: r["length"],
        )
        if len(sub) < 3:
            continue
        for field, suffix in (("steps", ""), ("calls", "|calls")):
            key = f"{side}|{rule}|{t}"
            out[key + suffix] = loglog_slope([r["length"] for r in sub], [r[field] for r in sub])
            tail = sub[-3:]
            out[key + "|largest3" + suffix] = loglog_slope(
                [r["length"] for r in tail], [r[field] for r in tail]
            )
    return out
