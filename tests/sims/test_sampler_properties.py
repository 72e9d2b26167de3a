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
from sims.sampling.eb import EBSampler
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sampling.fast_dllm import FACTOR_VARIANTS, RULES, FastDLLMSampler
from sims.sampling.fixed_count import COUNT_RULES
from sims.sampling.ranking import TIE_BREAKS
from sims.sampling.remask import RESAMPLE_ORDERS, RemaskCorrector
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.scores import SCORES
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
}


@pytest.mark.parametrize("name", sorted(VALID))
@given(data=st.data(), lang=tiny_languages(max_vocab=2), seed=st.integers(0, 2**16))
def test_valid_arguments_give_laws_without_nan(name, data, lang, seed):
    assume(L >= lang.min_length())
    strategy, make = VALID[name]
    sampler = make(data.draw(strategy))
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


JUNK = [None, "x", math.nan, math.inf, -math.inf, -1, True, Junk(), [1], {}]


def make_with(name: str, arg: str, value):
    """The sampler ``name`` with one argument replaced by ``value`` (others valid)."""
    base = {
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
    }[name]
    return base(**{arg: value})


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
]
#: a tiny language (V = 2) every run of a junk argument samples from
ORACLE = OracleDenoiser(random_ngram(2, 2, support_size=1, seed=0), on_impossible="uniform")


def build_and_run(name: str, arg: str, value) -> None:
    sampler = make_with(name, arg, value)
    sampler.num_steps(L)
    sampler.sample(ORACLE, 2, L, make_generator(0))


@pytest.mark.parametrize("name, arg, allowed", ARGUMENTS, ids=[f"{n}-{a}" for n, a, _ in ARGUMENTS])
@given(junk=st.sampled_from(JUNK) | st.floats(-1e6, -1e-9) | st.floats(1.5, 1e6))
def test_invalid_constructor_arguments_raise_suite_errors(name, arg, allowed, junk):
    assume(not any(junk is a for a in allowed))
    if isinstance(junk, float) and junk >= 1 and arg in ("temperature", "gamma", "lam", "factor"):
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
