"""Property-based robustness of every sampler class, its ``sample`` call and ``exact_sampler_law``.

* Random *valid* constructor arguments on tiny random languages: the exact output law (samplers with an
  exact kernel) is a law -- no NaN, non-negative, sums to 1 -- and a Monte Carlo run gives tokens of the
  vocabulary, finite call counts and finite token entropies.
* Random *invalid* arguments (wrong types, NaN, infinities, out-of-range numbers, unknown names) to every
  constructor argument, to ``sample`` and to ``exact_sampler_law`` always raise one of the suite's own
  error types (``sims.validation``), never an AttributeError, IndexError, TypeError or RuntimeError from
  deep inside, and are never accepted: construction, ``num_steps`` and a short run must refuse them.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from sims import (
    AncestralSampler,
    FirstHittingSampler,
    FixedCountSampler,
    OracleDenoiser,
    make_generator,
    random_ngram,
)
from sims.exact import exact_sampler_law
from sims.languages.eos import EOSLanguage
from sims.registry import SAMPLERS
from sims.sampling.apd import APD_HELPERS, APDSampler
from sims.sampling.credit import CREDIT_SCORES, CreditDecodingSampler
from sims.sampling.daedal import DAEDALSampler
from sims.sampling.dus import DUSSampler
from sims.sampling.eb import EBSampler
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sampling.eotp import EOTP_TRIGGERS, LLADA_SCORES, EoTPSampler
from sims.sampling.fast_dllm import FACTOR_VARIANTS, RULES, FastDLLMSampler
from sims.sampling.fixed_count import COUNT_RULES
from sims.sampling.frechet import FRECHET_SCORES, FrechetSampler
from sims.sampling.halton import HALTON_COUNT_RULES, HaltonSampler
from sims.sampling.info_gain import InfoGainSampler
from sims.sampling.informed_corrector import SELECTIONS, InformedCorrectorSampler
from sims.sampling.klass import KLASSSampler
from sims.sampling.learn2pd import Learn2PDOracleSampler
from sims.sampling.local_leap import LOCAL_LEAP_SCORES, LocalLeapSampler
from sims.sampling.loo_policy import LOO_SOURCES
from sims.sampling.p2 import P2Sampler
from sims.sampling.pc_sampler import PCSampler
from sims.sampling.policy import exact_policy_law
from sims.sampling.prophet import PROPHET_SCORES, ProphetSampler
from sims.sampling.ranking import TIE_BREAKS
from sims.sampling.rcr import RCR_MODES, RCR_SCORES, RCRSampler
from sims.sampling.remask import RESAMPLE_ORDERS, RemaskCorrector
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.saber import SaberSampler
from sims.sampling.scores import SCORES
from sims.sampling.sedd import NOISES, PREDICTORS, SEDDSampler
from sims.sampling.slowfast import SLOWFAST_SCORES, SlowFastSampler
from sims.sampling.ssd import SelfSpeculativeSampler
from sims.sampling.wino import WINO_SCORES, WINOSampler
from sims.validation import SizeLimitError
from tests.sims.test_robustness import must_raise_suite_error
from tests.strategies import tiny_languages

L = 4  # V <= 2: 16 sequences, 81 partial sequences
SCHEDULE_NAMES = ["linear", "cosine", "cosine_mdlm", "sin2", "poly2", "poly0.5"]
temperatures = st.sampled_from([0.0, 0.5, 1.0, 2.0])
precisions = st.sampled_from(["float64", "float32_gumbel"])
block_lengths = st.sampled_from([None, 2, 4])


def _fixed(d):
    steps = d["steps"] if d["block_length"] != 2 else 2 * d["half_steps"]
    return FixedCountSampler(
        steps,
        score=d["score"],
        count_rule=d["count_rule"],
        schedule=d["schedule"],
        block_length=d["block_length"],
        temperature=d["temperature"],
        tie_break=d["tie_break"],
    )


#: name -> (strategy of valid keyword arguments, factory)
VALID = {
    "ancestral": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, 5),
                "schedule": st.sampled_from(SCHEDULE_NAMES),
                "t_min": st.sampled_from([0.0, 1e-5, 0.3]),
                "final_fill": st.sampled_from(["argmax", "sample"]),
                "temperature": temperatures,
                "categorical_precision": precisions,
            }
        ),
        lambda d: AncestralSampler(**d),
    ),
    "fixed_count": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, L),
                "half_steps": st.integers(1, 2),
                "score": st.sampled_from(SCORES),
                "count_rule": st.sampled_from(COUNT_RULES),
                "schedule": st.sampled_from(SCHEDULE_NAMES),
                "block_length": block_lengths,
                "temperature": temperatures,
                "tie_break": st.sampled_from(TIE_BREAKS),
            }
        ),
        _fixed,
    ),
    "first_hitting": (
        st.fixed_dictionaries(
            {
                "schedule": st.sampled_from(SCHEDULE_NAMES),
                "temperature": temperatures,
                "categorical_precision": precisions,
            }
        ),
        lambda d: FirstHittingSampler(**d),
    ),
    "eb": (
        st.fixed_dictionaries(
            {
                "gamma": st.sampled_from([0.0, 0.05, 0.3, 1.0, 10.0]),
                "score": st.sampled_from(EBSampler.allowed_scores),
                "temperature": temperatures,
                "block_length": block_lengths,
                "tie_break": st.sampled_from(TIE_BREAKS),
            }
        ),
        lambda d: EBSampler(**d),
    ),
    "fast_dllm": (
        st.fixed_dictionaries(
            {
                "rule": st.sampled_from(RULES),
                "threshold": st.sampled_from([0.0, 0.5, 0.9, 1.0]),
                "factor": st.sampled_from([0.5, 1.0, 2.0]),
                "score": st.sampled_from(FastDLLMSampler.allowed_scores),
                "block_length": block_lengths,
                "temperature": temperatures,
                "factor_variant": st.sampled_from(FACTOR_VARIANTS),
            }
        ),
        lambda d: FastDLLMSampler(**d),
    ),
    "remdm": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(2, 6),
                "variant_eta": st.sampled_from(
                    [("cap", 0.04), ("cap", 1.0), ("rescale", 0.5), ("fb", None), ("conf", None)]
                    + [("mdlm", None), ("loop", 0.02), ("loop", None)]
                ),
                "t_min": st.sampled_from([0.0, 0.2]),
                "final_fill": st.sampled_from(["argmax", "sample"]),
                "temperature": temperatures,
            }
        ),
        lambda d: ReMDMSampler(
            d["steps"] * (10 if d["variant_eta"][0] == "loop" else 1),
            d["variant_eta"][0],
            eta=d["variant_eta"][1],
            t_min=d["t_min"],
            final_fill=d["final_fill"],
            temperature=d["temperature"],
        ),
    ),
    "remask": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, L),
                "rounds": st.integers(0, 2),
                "remask_count": st.integers(1, 2),
                "resample_order": st.sampled_from(RESAMPLE_ORDERS),
                "temperature": temperatures,
            }
        ),
        lambda d: RemaskCorrector(
            FixedCountSampler(d["steps"]),
            d["rounds"],
            d["remask_count"],
            d["resample_order"],
            d["temperature"],
        ),
    ),
    "esmc": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, L),
                "num_particles": st.integers(1, 3),
                "lam": st.sampled_from([0.0, 1.0, 5.0]),
                "resample_every": st.integers(1, 2),
                "state_reduce": st.sampled_from(["mean", "sum"]),
            }
        ),
        lambda d: EntropySMCSampler(
            FixedCountSampler(d.pop("steps"), score="entropy"),
            d["num_particles"],
            d["lam"],
            d["resample_every"],
            d["state_reduce"],
        ),
    ),
    # ---- the decoding policies (sims/registry_policies.py) ----
    "halton": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, L),
                "base": st.integers(2, 3),
                "count_rule": st.sampled_from(HALTON_COUNT_RULES),
                "randomize": st.booleans(),
                "temperature": temperatures,
                "categorical_precision": precisions,
            }
        ),
        lambda d: HaltonSampler(**d),
    ),
    "dus": (
        st.fixed_dictionaries(
            {
                "base": st.integers(2, 3),
                "skip": st.integers(1, 2),
                "block_length": block_lengths,
                "temperature": temperatures,
            }
        ),
        lambda d: DUSSampler(**d),
    ),
    "frechet": (
        st.fixed_dictionaries(
            {
                "margin": st.sampled_from([0.0, 0.1, 0.25, 2.0]),
                "score": st.sampled_from(FRECHET_SCORES),
                "block_length": block_lengths,
                "temperature": temperatures,
                "tie_break": st.sampled_from(TIE_BREAKS),
            }
        ),
        lambda d: FrechetSampler(**d),
    ),
    "local_leap": (
        st.fixed_dictionaries(
            {
                "threshold": st.sampled_from([0.0, 0.6, 0.9, 1.0]),
                "relaxed_fraction": st.sampled_from([0.0, 0.5, 1.0]),
                "radius": st.integers(0, 2),
                "score": st.sampled_from(LOCAL_LEAP_SCORES),
                "block_length": block_lengths,
                "temperature": temperatures,
            }
        ),
        lambda d: LocalLeapSampler(
            d["threshold"],
            d["threshold"] * d["relaxed_fraction"],
            d["radius"],
            score=d["score"],
            block_length=d["block_length"],
            temperature=d["temperature"],
        ),
    ),
    "prophet": (
        st.fixed_dictionaries(
            {
                "half_steps": st.integers(1, 2),
                "thresholds": st.sampled_from([(7.5, 5.0, 2.5), (1.0, 0.5, 0.2), (0.0, 0.0, 0.0)]),
                "phases": st.sampled_from([(0.33, 0.67), (0.0, 1.0), (0.5, 0.5)]),
                "answer_positions": st.sampled_from([None, (0,), (1, 3)]),
                "score": st.sampled_from(PROPHET_SCORES),
                "block_length": st.sampled_from([None, 2]),
                "temperature": temperatures,
            }
        ),
        lambda d: ProphetSampler(2 * d.pop("half_steps"), **d),
    ),
    "pc_sampler": (
        st.fixed_dictionaries(
            {
                "half_steps": st.integers(1, 2),
                "lam": st.sampled_from([0.0, 0.25, 3.0]),
                "alpha": st.sampled_from([0.5, 10.0]),
                "background": st.sampled_from(["all_masked", "uniform"]),
                "block_length": st.sampled_from([None, 2]),
                "temperature": temperatures,
            }
        ),
        lambda d: PCSampler(2 * d.pop("half_steps"), **d),
    ),
    "klass": (
        st.fixed_dictionaries(
            {
                "conf_threshold": st.sampled_from([0.0, 0.5, 0.9, 1.0]),
                "kl_threshold": st.sampled_from([1e-3, 0.01, 1.0]),
                "history": st.integers(1, 2),
                "block_length": block_lengths,
                "temperature": temperatures,
            }
        ),
        lambda d: KLASSSampler(**d),
    ),
    "credit": (
        st.fixed_dictionaries(
            {
                "threshold": st.sampled_from([0.0, 0.6, 0.9, 1.0]),
                "alpha": st.sampled_from([0.0, 0.7, 2.0]),
                "gamma": st.sampled_from([0.0, 0.2, 1.0]),
                "decay": st.sampled_from([0.0, 0.8, 1.0]),
                "score": st.sampled_from(CREDIT_SCORES),
                "block_length": block_lengths,
                "temperature": temperatures,
            }
        ),
        lambda d: CreditDecodingSampler(**d),
    ),
    "slowfast": (
        st.fixed_dictionaries(
            {
                "explore_steps": st.integers(1, 3),
                "cycle_threshold": st.sampled_from([0.0, 0.3, 1.0]),
                "window": st.integers(1, 2),
                "std_threshold": st.sampled_from([0.1, 1.0]),
                "threshold": st.sampled_from([0.0, 0.5, 0.9, 1.0]),
                "score": st.sampled_from(SLOWFAST_SCORES),
                "block_length": block_lengths,
                "temperature": temperatures,
            }
        ),
        lambda d: SlowFastSampler(**d),
    ),
    "rcr": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, L),
                "mode": st.sampled_from(RCR_MODES),
                "score": st.sampled_from(RCR_SCORES),
                "temperature": temperatures,
            }
        ),
        lambda d: RCRSampler(**d),
    ),
    "wino": (
        st.fixed_dictionaries(
            {
                "threshold": st.sampled_from([0.0, 0.5, 0.7, 1.0]),
                "threshold_back": st.sampled_from([0.0, 0.9, 1.0]),
                "block_length": block_lengths,
                "max_steps": st.sampled_from([None, L, 3 * L]),
                "score": st.sampled_from(WINO_SCORES),
                "temperature": temperatures,
                "loo_source": st.sampled_from(LOO_SOURCES),
            }
        ),
        lambda d: WINOSampler(**d),
    ),
    "p2": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, 5),
                "eta": st.sampled_from([0.0, 0.5, 1.0, 3.0]),
                "temperature": temperatures,
                "categorical_precision": precisions,
            }
        ),
        lambda d: P2Sampler(**d),
    ),
    "informed_corrector": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, L),
                "corrector_steps": st.integers(0, 2),
                "corrector_k": st.integers(1, 3),
                "selection": st.sampled_from(SELECTIONS),
                "temperature": temperatures,
                "tie_break": st.sampled_from(TIE_BREAKS),
            }
        ),
        lambda d: InformedCorrectorSampler(**d),
    ),
    "saber": (
        st.fixed_dictionaries(
            {
                "n": st.integers(1, 3),
                "block_length": block_lengths,
                "score": st.sampled_from(WINO_SCORES),
                "temperature": temperatures,
            }
        ),
        lambda d: SaberSampler(**d),
    ),
    "ssd": (
        st.fixed_dictionaries(
            {
                "draft_length": st.integers(1, 5),
                "draft_temperature": st.sampled_from([0.0, 0.5, 1.0, 3.0]),
                "categorical_precision": precisions,
            }
        ),
        lambda d: SelfSpeculativeSampler(**d),
    ),
    "apd": (
        st.fixed_dictionaries(
            {
                "mixture_weight": st.sampled_from([0.0, 0.5, 0.7, 1.0]),
                "max_lookahead": st.integers(1, 5),
                "helper": st.sampled_from(APD_HELPERS),
                "helper_temperature": st.sampled_from([0.5, 1.0, 2.0]),
                "helper_uniform_mix": st.sampled_from([0.0, 0.1]),
                "temperature": temperatures,
                "categorical_precision": precisions,
            }
        ),
        lambda d: APDSampler(**d),
    ),
    "info_gain": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, L),
                "candidate_number": st.integers(1, 3),
                "position_temperature": st.sampled_from([0.0, 0.1, 1.0]),
                "block_length": block_lengths,
                "temperature": temperatures,
                "categorical_precision": precisions,
            }
        ),
        lambda d: InfoGainSampler(**d),
    ),
    "sedd": (
        st.fixed_dictionaries(
            {
                "steps": st.integers(1, 5),
                "predictor": st.sampled_from(PREDICTORS),
                "noise": st.sampled_from(NOISES),
                "eps": st.sampled_from([1e-5, 0.1]),
                "temperature": temperatures,
                "categorical_precision": precisions,
            }
        ),
        lambda d: SEDDSampler(**d),
    ),
    # length policies (capabilities.needs_eos): run on the EOS-padded version of the drawn language
    "eotp": (
        st.fixed_dictionaries(
            {
                "steps": st.sampled_from([2, 4]),
                "trigger": st.sampled_from(EOTP_TRIGGERS),
                "score": st.sampled_from(LLADA_SCORES),
                "block_length": block_lengths,
                "temperature": temperatures,
                "tie_break": st.sampled_from(TIE_BREAKS),
            }
        ),
        lambda d: EoTPSampler(**d),
    ),
    "learn2pd": (
        st.fixed_dictionaries(
            {
                "steps": st.sampled_from([2, 4]),
                "score": st.sampled_from(LLADA_SCORES),
                "block_length": block_lengths,
                "end_of_text": st.booleans(),
                "temperature": temperatures,
                "tie_break": st.sampled_from(TIE_BREAKS),
            }
        ),
        lambda d: Learn2PDOracleSampler(**d),
    ),
    "daedal": (
        st.fixed_dictionaries(
            {
                "initial_length": st.integers(1, L),
                "expansion_factor": st.integers(2, 4),
                "eos_check_tokens": st.integers(2, 4),
                "initial_eos_threshold": st.sampled_from([0.0, 0.5, 1.0]),
                "expand_eos_threshold": st.sampled_from([0.0, 0.9, 1.0]),
                "high_conf_threshold": st.sampled_from([0.0, 0.9, 1.0]),
                "low_conf_threshold": st.sampled_from([0.0, 0.1, 1.0]),
                "block_length": st.sampled_from([1, 2, 32]),
                "score": st.sampled_from(LLADA_SCORES),
                "temperature": temperatures,
            }
        ),
        lambda d: DAEDALSampler(**d),
    ),
}


#: the class each strategy of :data:`VALID` makes
CLASSES = {
    "ancestral": AncestralSampler,
    "fixed_count": FixedCountSampler,
    "first_hitting": FirstHittingSampler,
    "eb": EBSampler,
    "fast_dllm": FastDLLMSampler,
    "remdm": ReMDMSampler,
    "remask": RemaskCorrector,
    "esmc": EntropySMCSampler,
    "halton": HaltonSampler,
    "dus": DUSSampler,
    "frechet": FrechetSampler,
    "local_leap": LocalLeapSampler,
    "prophet": ProphetSampler,
    "pc_sampler": PCSampler,
    "klass": KLASSSampler,
    "credit": CreditDecodingSampler,
    "slowfast": SlowFastSampler,
    "rcr": RCRSampler,
    "wino": WINOSampler,
    "p2": P2Sampler,
    "informed_corrector": InformedCorrectorSampler,
    "saber": SaberSampler,
    "ssd": SelfSpeculativeSampler,
    "apd": APDSampler,
    "info_gain": InfoGainSampler,
    "sedd": SEDDSampler,
    "eotp": EoTPSampler,
    "learn2pd": Learn2PDOracleSampler,
    "daedal": DAEDALSampler,
}


def test_the_property_tests_cover_every_registered_sampler_class():
    """A sampler class added to the registry without a strategy here fails this test."""
    assert set(CLASSES) == set(VALID)  # each strategy's class (checked on every example below)
    covered = set(CLASSES.values())
    registered = {type(entry.make(entry.test_steps)) for entry in SAMPLERS.values()}
    assert registered - covered == set()
    junk_covered = {type(factory(name)()) for name, _, _ in ARGUMENTS}
    assert registered - junk_covered == set()


@pytest.mark.parametrize("name", sorted(VALID))
@given(data=st.data(), lang=tiny_languages(max_vocab=2), seed=st.integers(0, 2**16))
def test_valid_arguments_give_laws_without_nan(name, data, lang, seed):
    assume(L >= lang.min_length())
    strategy, make = VALID[name]
    sampler = make(data.draw(strategy))
    assert type(sampler) is CLASSES[name]
    if sampler.capabilities.needs_eos:  # a length policy: the EOS-padded version of the language
        lang = EOSLanguage(lang, 1 / 4)
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    if sampler.capabilities.exact_kernel:
        law = exact_sampler_law(sampler, oracle, L)
        assert not torch.isnan(law).any() and bool((law >= 0).all())
        assert abs(float(law.sum()) - 1.0) < 1e-9
    res = sampler.sample(oracle, 6, L, make_generator(seed), batch_size=4)
    V = lang.vocab_size
    assert res.tokens.shape == (6, L) and bool(((res.tokens >= 0) & (res.tokens < V)).all())
    assert bool(torch.isfinite(res.nfe.double()).all()) and bool((res.nfe >= 0).all())
    assert bool(torch.isfinite(res.token_entropy).all()) and bool((res.token_entropy >= -1e-12).all())


# ---- invalid arguments: the suite's own errors, never accepted --------------------------------------------
class Junk:
    def __repr__(self):
        return "Junk()"


ONE = [1]  # a valid list of answer positions
JUNK = [None, "x", math.nan, math.inf, -math.inf, -1, True, Junk(), ONE, {}]


def make_with(name: str, arg: str, value):
    """The sampler ``name`` with one argument replaced by ``value`` (others valid)."""
    return factory(name)(**{arg: value})


def factory(name: str):
    """The sampler ``name`` with valid defaults; keyword arguments replace them."""
    return {
        "ancestral": lambda **kw: AncestralSampler(**{"steps": 2, **kw}),
        "fixed_count": lambda **kw: FixedCountSampler(**{"steps": 2, **kw}),
        "first_hitting": lambda **kw: FirstHittingSampler(**kw),
        "eb": lambda **kw: EBSampler(**kw),
        "fast_dllm": lambda **kw: FastDLLMSampler(**kw),
        "fast_dllm_factor": lambda **kw: FastDLLMSampler(**{"rule": "factor", **kw}),
        "remdm": lambda **kw: ReMDMSampler(**{"steps": 4, **kw}),
        "remdm_loop": lambda **kw: ReMDMSampler(**{"steps": 20, "variant": "loop", **kw}),
        "remask": lambda **kw: RemaskCorrector(**{"base": FixedCountSampler(2), "rounds": 1, **kw}),
        "esmc": lambda **kw: EntropySMCSampler(**{"base": FixedCountSampler(2), **kw}),
        "halton": lambda **kw: HaltonSampler(**{"steps": 2, **kw}),
        "dus": lambda **kw: DUSSampler(**kw),
        "frechet": lambda **kw: FrechetSampler(**kw),
        "local_leap": lambda **kw: LocalLeapSampler(**kw),
        "prophet": lambda **kw: ProphetSampler(**{"steps": 2, **kw}),
        "pc_sampler": lambda **kw: PCSampler(**{"steps": 2, **kw}),
        "klass": lambda **kw: KLASSSampler(**kw),
        "credit": lambda **kw: CreditDecodingSampler(**kw),
        "slowfast": lambda **kw: SlowFastSampler(**kw),
        "rcr": lambda **kw: RCRSampler(**{"steps": 2, **kw}),
        "wino": lambda **kw: WINOSampler(**kw),
        "p2": lambda **kw: P2Sampler(**{"steps": 2, **kw}),
        "informed_corrector": lambda **kw: InformedCorrectorSampler(**{"steps": 2, **kw}),
        "saber": lambda **kw: SaberSampler(**kw),
        "ssd": lambda **kw: SelfSpeculativeSampler(**kw),
        "apd": lambda **kw: APDSampler(**kw),
        "info_gain": lambda **kw: InfoGainSampler(**{"steps": 2, **kw}),
        "sedd": lambda **kw: SEDDSampler(**{"steps": 2, **kw}),
        "eotp": lambda **kw: EoTPSampler(**{"steps": 2, **kw}),
        "learn2pd": lambda **kw: Learn2PDOracleSampler(**{"steps": 2, **kw}),
        "daedal": lambda **kw: DAEDALSampler(
            **{"initial_length": 1, "expansion_factor": 2, "eos_check_tokens": 2, **kw}
        ),
    }[name]


#: (sampler, argument, values that are valid for it although they look like junk)
ARGUMENTS = [
    *[
        ("ancestral", a, ())
        for a in ("steps", "schedule", "t_min", "final_fill", "temperature", "categorical_precision")
    ],
    *[("fixed_count", a, ()) for a in ("steps", "score", "schedule", "temperature", "tie_break")],
    ("fixed_count", "count_rule", ()),
    ("fixed_count", "block_length", (None,)),
    ("fixed_count", "categorical_precision", ()),
    *[("first_hitting", a, ()) for a in ("schedule", "temperature", "categorical_precision")],
    ("eb", "gamma", (math.inf,)),  # gamma = inf: everything in one step
    *[("eb", a, ()) for a in ("score", "temperature", "tie_break", "categorical_precision")],
    ("eb", "block_length", (None,)),
    *[("fast_dllm", a, ()) for a in ("rule", "threshold", "score", "temperature", "tie_break")],
    ("fast_dllm", "block_length", (None,)),
    *[("fast_dllm_factor", a, ()) for a in ("factor", "factor_variant")],
    *[("remdm", a, ()) for a in ("steps", "variant", "schedule", "t_min", "final_fill", "temperature")],
    *[("remdm", a, ()) for a in ("t_on", "t_off", "alpha_on", "categorical_precision")],
    ("remdm", "eta", (None,)),
    ("remdm_loop", "eta", (None,)),
    *[("remdm_loop", a, ()) for a in ("t_on", "t_off", "alpha_on")],
    *[("remask", a, ()) for a in ("base", "rounds", "remask_count", "resample_order", "temperature")],
    *[("esmc", a, ()) for a in ("base", "num_particles", "lam", "resample_every", "state_reduce")],
    *[("halton", a, ()) for a in ("steps", "base", "count_rule", "temperature", "categorical_precision")],
    ("halton", "randomize", (True,)),
    *[("dus", a, ()) for a in ("base", "skip", "temperature")],
    ("dus", "block_length", (None,)),
    *[("frechet", a, ()) for a in ("margin", "score", "temperature", "tie_break")],
    ("frechet", "block_length", (None,)),
    *[("local_leap", a, ()) for a in ("threshold", "relaxed_threshold", "radius", "score", "temperature")],
    ("local_leap", "block_length", (None,)),
    *[("prophet", a, ()) for a in ("steps", "thresholds", "phases", "score", "temperature", "tie_break")],
    ("prophet", "answer_positions", (None, ONE)),
    ("prophet", "block_length", (None,)),
    *[("pc_sampler", a, ()) for a in ("steps", "lam", "alpha", "background", "temperature")],
    ("pc_sampler", "block_length", (None,)),
    *[("klass", a, ()) for a in ("conf_threshold", "kl_threshold", "history", "temperature")],
    ("klass", "block_length", (None,)),
    *[("credit", a, ()) for a in ("threshold", "alpha", "gamma", "decay", "score", "temperature")],
    ("credit", "block_length", (None,)),
    *[("slowfast", a, ()) for a in ("explore_steps", "cycle_threshold", "window", "std_threshold")],
    *[("slowfast", a, ()) for a in ("threshold", "score", "temperature")],
    ("slowfast", "block_length", (None,)),
    *[("rcr", a, ()) for a in ("steps", "mode", "score", "temperature", "categorical_precision")],
    *[("sedd", a, ()) for a in ("steps", "predictor", "noise", "eps", "temperature")],
    *[("eotp", a, ()) for a in ("steps", "trigger", "score", "temperature", "tie_break")],
    ("eotp", "block_length", (None,)),
    *[("learn2pd", a, ()) for a in ("steps", "score", "temperature", "tie_break")],
    ("learn2pd", "block_length", (None,)),
    ("learn2pd", "end_of_text", (True,)),
    *[("daedal", a, ()) for a in ("initial_length", "expansion_factor", "eos_check_tokens", "block_length")],
    *[("daedal", a, ()) for a in ("initial_eos_threshold", "expand_eos_threshold", "high_conf_threshold")],
    *[("daedal", a, ()) for a in ("low_conf_threshold", "score", "temperature")],
    *[("wino", a, ()) for a in ("threshold", "threshold_back", "score", "temperature", "loo_source")],
    *[("wino", a, (None,)) for a in ("block_length", "max_steps")],
    *[("p2", a, ()) for a in ("steps", "eta", "temperature", "tie_break", "categorical_precision")],
    *[("informed_corrector", a, ()) for a in ("steps", "corrector_steps", "corrector_k", "selection")],
    ("informed_corrector", "temperature", ()),
    *[("saber", a, ()) for a in ("n", "score", "temperature", "loo_source")],
    ("saber", "block_length", (None,)),
    *[("ssd", a, ()) for a in ("draft_length", "draft_temperature", "categorical_precision")],
    *[("apd", a, ()) for a in ("mixture_weight", "max_lookahead", "helper", "helper_temperature")],
    *[("apd", a, ()) for a in ("helper_uniform_mix", "temperature", "categorical_precision")],
    *[("info_gain", a, ()) for a in ("steps", "candidate_number", "position_temperature", "temperature")],
    ("info_gain", "block_length", (None,)),
]
#: arguments where any finite number >= 1 is valid
UNBOUNDED = (
    "temperature",
    "gamma",
    "lam",
    "factor",
    "alpha",
    "margin",
    "kl_threshold",
    "std_threshold",
    "eta",
    "corrector_steps",
    "draft_temperature",
    "helper_temperature",
    "position_temperature",
)
#: a tiny language (V = 2) every run of a junk argument samples from (its EOS-padded version for the length
#: policies, which declare capabilities.needs_eos)
ORACLE = OracleDenoiser(random_ngram(2, 2, support_size=1, seed=0), on_impossible="uniform")
EOS_ORACLE = OracleDenoiser(EOSLanguage(ORACLE.language, 1 / 4), on_impossible="uniform")


def build_and_run(name: str, arg: str, value) -> None:
    sampler = make_with(name, arg, value)
    sampler.num_steps(L)
    sampler.sample(EOS_ORACLE if sampler.capabilities.needs_eos else ORACLE, 2, L, make_generator(0))


@pytest.mark.parametrize("name, arg, allowed", ARGUMENTS, ids=[f"{n}-{a}" for n, a, _ in ARGUMENTS])
@given(junk=st.sampled_from(JUNK) | st.floats(-1e6, -1e-9) | st.floats(1.5, 1e6))
def test_invalid_constructor_arguments_raise_suite_errors(name, arg, allowed, junk):
    assume(not any(junk is a for a in allowed))
    if isinstance(junk, float) and junk >= 1 and arg in UNBOUNDED:
        assume(False)  # large finite values are valid there
    must_raise_suite_error(lambda: build_and_run(name, arg, junk))


def sample_with(arg: str, value) -> None:
    kwargs = {"denoiser": ORACLE, "num_samples": 2, "length": L, "generator": make_generator(0)}
    kwargs[arg] = value
    FixedCountSampler(2).sample(**kwargs)


def exact_law_with(arg: str, value) -> None:
    kwargs = {"sampler": FixedCountSampler(2), "denoiser": ORACLE, "length": L}
    kwargs[arg] = value
    exact_sampler_law(**kwargs)


CALLS = [
    *[(sample_with, a, ()) for a in ("denoiser", "num_samples", "length", "generator", "batch_size")],
    (sample_with, "device", (None,)),
    (sample_with, "progress", (True,)),
    *[(exact_law_with, a, ()) for a in ("sampler", "denoiser", "length", "max_states")],
]


@pytest.mark.parametrize("call, arg, allowed", CALLS, ids=[f"{c.__name__}-{a}" for c, a, _ in CALLS])
@given(junk=st.sampled_from(JUNK) | st.floats(-1e6, 1e6))
def test_invalid_sample_and_exact_law_arguments_raise_suite_errors(call, arg, allowed, junk):
    assume(not any(junk is a for a in allowed))
    must_raise_suite_error(lambda: call(arg, junk))


# ---- exact laws refuse by size, before memory runs out ----------------------------------------------------
def test_exact_laws_refuse_problems_too_large_to_enumerate():
    """``V**L`` above :data:`sims.enumeration.MAX_STATES` is refused before any denoiser call, and the
    dictionary of partial sequences (up to ``(V+1)**L`` entries) is counted as it grows, for samplers with
    an exact kernel and for the policies with history (was: ran until the memory was gone)."""
    big = OracleDenoiser(random_ngram(2, 8, support_size=2, seed=0), on_impossible="uniform")  # 8**8 > 2**22
    full = OracleDenoiser(random_ngram(2, 2, seed=0))  # full support: 4 * 2**2 partial sequences after step 1
    for law, sampler in ((exact_sampler_law, FixedCountSampler(2)), (exact_policy_law, KLASSSampler())):
        with pytest.raises(SizeLimitError, match="8\\*\\*8"):
            law(sampler, big, 8)
        with pytest.raises(SizeLimitError, match="more than 3"):
            law(sampler, full, L, max_states=3)
        assert abs(float(law(sampler, full, L).sum()) - 1.0) < 1e-12  # the default limit: a law
        must_raise_suite_error(lambda: law(sampler, "oracle", L))  # noqa: B023
        must_raise_suite_error(lambda: law(sampler, ORACLE, 0))  # noqa: B023
