"""Property-based robustness of the public constructors, the oracle and the samplers' building blocks.

* Random *valid* inputs never give NaN or non-normalised laws (languages sum to 1 over all V**L
  sequences, oracle and perturbed outputs are log-probability rows, schedule step weights are a
  sub-probability law, exact sampler laws sum to 1).
* Random *invalid* inputs (wrong shapes, NaN, inf, negative, wrong types) always raise one of the suite's
  own error types (:class:`~sims.validation.SuiteError`), never an AttributeError, IndexError or
  RuntimeError from deep inside, and never pass silently.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from sims import (
    FixedCountSampler,
    HMMLanguage,
    NGramLanguage,
    OracleDenoiser,
    PerturbedDenoiser,
    make_generator,
    random_hmm,
    random_ngram,
)
from sims.categorical import sample_categorical, sample_from_log_probs
from sims.enumeration import all_sequences
from sims.exact import exact_sampler_law
from sims.languages.formal import DFALanguage
from sims.schedules import get_schedule, time_grid
from sims.validation import InvalidDistributionError, SuiteError
from tests.strategies import tiny_languages

JUNK = [
    None,
    "x",
    "1.0",
    b"\x00",
    {},
    set(),
    object(),
    [None],
    [[1.0], [1.0, 2.0]],
    math.nan,
    -math.inf,
    True,
]


def must_raise_suite_error(fn):
    """``fn()`` must raise a SuiteError: not another exception type, and not pass."""
    try:
        fn()
    except SuiteError:
        return
    except Exception as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"raised {type(exc).__name__} (not a suite error): {exc}")
    pytest.fail("invalid input was accepted")


def sums_to_one(log_probs: torch.Tensor, atol: float = 1e-9) -> bool:
    return (
        bool(torch.isfinite(torch.logsumexp(log_probs, 0)))
        and abs(float(torch.logsumexp(log_probs, 0))) < atol
    )


# ---- valid inputs: normalised laws, no NaN ----------------------------------------------------------------
concentrations = st.sampled_from([0.05, 0.3, 1.0, 4.0])


@given(
    order=st.integers(1, 3),
    V=st.integers(2, 3),
    conc=concentrations,
    sparse=st.booleans(),
    stationary=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_random_ngrams_are_normalised(order, V, conc, sparse, stationary, seed, data):
    k = data.draw(st.integers(1, V)) if sparse else None
    try:
        lang = random_ngram(order, V, concentration=conc, support_size=k, stationary=stationary, seed=seed)
    except InvalidDistributionError:
        assume(False)  # a sparse chain without a unique stationary law: refused with a suite error
    L = max(order, 4)
    lp = lang.log_prob(all_sequences(V, L))
    assert not torch.isnan(lp).any() and sums_to_one(lp)
    assert math.isfinite(lang.entropy(L)) and lang.entropy(L) >= -1e-12


@given(
    S=st.integers(1, 4),
    V=st.integers(2, 3),
    conc=concentrations,
    sparse=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_random_hmms_are_normalised(S, V, conc, sparse, seed, data):
    ts = data.draw(st.integers(1, S)) if sparse else None
    es = data.draw(st.integers(1, V)) if sparse else None
    lang = random_hmm(
        S, V, transition_concentration=conc, transition_support=ts, emission_support=es, seed=seed
    )
    lp = lang.log_prob(all_sequences(V, 4))
    assert not torch.isnan(lp).any() and sums_to_one(lp)


@given(
    lang=tiny_languages(),
    mask_p=st.floats(0.0, 1.0),
    temperature=st.floats(0.05, 20.0),
    mix=st.floats(0.0, 1.0),
    seed=st.integers(0, 1000),
)
def test_oracle_and_perturbed_outputs_are_laws(lang, mask_p, temperature, mix, seed):
    g = make_generator(seed)
    x = lang.sample(16, 5, g)
    x = torch.where(torch.rand(x.shape, generator=g) < mask_p, lang.mask_id, x)
    for den in (
        OracleDenoiser(lang, on_impossible="min_violation"),
        PerturbedDenoiser(
            OracleDenoiser(lang, on_impossible="uniform"), temperature=temperature, uniform_mix=mix
        ),
    ):
        out = den(x)  # __call__ checks every row
        assert torch.allclose(
            torch.logsumexp(out.log_probs, -1), torch.zeros((), dtype=torch.float64), atol=1e-9
        )
        v = sample_from_log_probs(out.log_probs, g, temperature=temperature)
        assert ((v >= 0) & (v < lang.vocab_size)).all()


@given(
    spec=st.one_of(
        st.sampled_from(["linear", "cosine", "cosine_mdlm", "sin2"]),
        st.floats(0.05, 20.0).map(lambda k: f"poly{k}"),
        st.tuples(st.floats(0.05, 5.0), st.floats(0.05, 5.0)).map(lambda ab: f"beta:{ab[0]},{ab[1]}"),
    ),
    K=st.integers(1, 64),
    t_min=st.sampled_from([0.0, 1e-5, 1e-3, 0.1]),
)
def test_schedules_give_probabilities_on_every_grid(spec, K, t_min):
    s = get_schedule(spec)
    grid = time_grid(K, t_min)
    w = s.step_weights(grid)
    assert torch.isfinite(w).all() and (w >= -1e-12).all() and float(w.sum()) <= 1 + 1e-12
    if t_min == 0:
        assert abs(float(w.sum()) - 1) < 1e-12
    for k in range(K):
        u = s.unmask_probability(float(grid[k]), float(grid[k + 1]))
        assert 0.0 <= u <= 1.0


@given(lang=tiny_languages(max_vocab=2), steps=st.integers(1, 3))
def test_exact_sampler_laws_are_laws(lang, steps):
    L = 3
    assume(L >= lang.min_length())
    law = exact_sampler_law(FixedCountSampler(steps), OracleDenoiser(lang, on_impossible="uniform"), L)
    assert not torch.isnan(law).any() and (law >= 0).all() and abs(float(law.sum()) - 1) < 1e-12


@given(V=st.integers(1, 6), rows=st.integers(1, 5), seed=st.integers(0, 1000))
def test_categorical_draws_stay_in_the_support(V, rows, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(V, 0.3), size=rows)
    p[rng.random(p.shape) < 0.3] = 0.0
    p[p.sum(1) == 0, 0] = 1.0
    p = torch.as_tensor(p / p.sum(1, keepdims=True))
    idx = sample_categorical(p, make_generator(seed))
    assert (p[torch.arange(rows), idx] > 0).all()


# ---- invalid inputs: the suite's own errors ----------------------------------------------------------------
def corrupt(table: np.ndarray, how: str, rng: np.random.Generator):
    t = table.copy()
    i = tuple(rng.integers(0, s) for s in t.shape)
    if how == "nan":
        t[i] = math.nan
    elif how == "inf":
        t[i] = math.inf
    elif how == "negative":
        t[i] = -0.5
    elif how == "scale":
        t = t * 1.5
    elif how == "flat":
        t = t.reshape(-1)
    elif how == "transpose":
        t = t.T if t.ndim == 2 and t.shape[0] != t.shape[1] else np.concatenate([t, t], -1) / 2
    elif how == "extra_axis":
        t = t[..., None]
    elif how == "list_of_str":
        return [str(v) for v in t.reshape(-1)]
    return t


HOW = ["nan", "inf", "negative", "scale", "flat", "transpose", "extra_axis", "list_of_str"]


@given(
    order=st.integers(2, 3),
    V=st.integers(2, 3),
    how=st.sampled_from(HOW),
    which=st.sampled_from(["initial", "transition"]),
    seed=st.integers(0, 1000),
)
def test_corrupt_ngram_tables_raise_suite_errors(order, V, how, which, seed):
    rng = np.random.default_rng(seed)
    init = rng.dirichlet(np.ones(V ** (order - 1)))
    trans = rng.dirichlet(np.ones(V), size=V ** (order - 1))
    if which == "initial":
        if how == "flat":
            how = "extra_axis"  # an initial law is already flat
        init = corrupt(init, how, rng)
    else:
        trans = corrupt(trans, how, rng)
    must_raise_suite_error(lambda: NGramLanguage(order, V, init, trans))


@given(
    S=st.integers(2, 3),
    V=st.integers(2, 3),
    how=st.sampled_from(HOW),
    which=st.sampled_from(["initial", "transition", "emission"]),
    seed=st.integers(0, 1000),
)
def test_corrupt_hmm_tables_raise_suite_errors(S, V, how, which, seed):
    assume(not (which == "initial" and how == "flat"))
    rng = np.random.default_rng(seed)
    tables = {
        "initial": rng.dirichlet(np.ones(S)),
        "transition": rng.dirichlet(np.ones(S), size=S),
        "emission": rng.dirichlet(np.ones(V), size=S),
    }
    assume(not (how == "transpose" and which == "emission" and S == V))
    tables[which] = corrupt(tables[which], how, rng)
    must_raise_suite_error(lambda: HMMLanguage(tables["initial"], tables["transition"], tables["emission"]))


@given(junk=st.sampled_from(JUNK), arg=st.sampled_from(["order", "vocab_size", "initial", "transition"]))
def test_junk_ngram_arguments_raise_suite_errors(junk, arg):
    kw = {"order": 2, "vocab_size": 2, "initial": [0.5, 0.5], "transition": [[0.5, 0.5], [0.5, 0.5]]}
    kw[arg] = junk
    must_raise_suite_error(lambda: NGramLanguage(**kw))


def _valid_factory_argument(arg, v) -> bool:
    is_int = isinstance(v, int) and not isinstance(v, bool)
    is_real = isinstance(v, (int, float)) and not isinstance(v, bool)
    if arg in ("order", "vocab_size"):
        return is_int and v >= 1
    if arg in ("concentration", "initial_concentration"):
        return (v is None and arg == "initial_concentration") or (is_real and 0 < v < math.inf)
    if arg == "support_size":
        return v is None or (is_int and 1 <= v <= 3)
    if arg == "seed":
        return is_int and v >= 0
    return v is None  # device: None means the default


@given(
    junk=st.sampled_from([*JUNK, 0, -1, 2.5, math.inf, 10**6]),
    arg=st.sampled_from(
        ["order", "vocab_size", "concentration", "support_size", "seed", "initial_concentration", "device"]
    ),
)
def test_junk_factory_arguments_raise_suite_errors(junk, arg):
    assume(not _valid_factory_argument(arg, junk))
    must_raise_suite_error(lambda: random_ngram(**{"order": 2, "vocab_size": 3, arg: junk}))


@given(
    delta=st.sampled_from(
        [[[0.5, 1.0], [1.0, 0.0]], [[0, 2], [1, 0]], [[0, -1], [1, 0]], [0, 1], "01", None]
    ),
    start=st.sampled_from([0, 5, -1, 0.0, "0"]),
    accept=st.sampled_from([[0], [], [7], 0, [0.5], "0"]),
)
def test_junk_automata_raise_suite_errors(delta, start, accept):
    must_raise_suite_error(lambda: DFALanguage(delta, start, accept))
    if start != 0 or accept != [0]:
        must_raise_suite_error(lambda: DFALanguage([[0, 1], [1, 0]], start, accept))


@given(
    row=st.lists(
        st.sampled_from([0.0, 0.25, 0.5, 1.0, -0.25, math.nan, math.inf, 2.0]), min_size=1, max_size=5
    )
)
def test_bad_probability_rows_are_never_sampled(row):
    p = torch.tensor([row], dtype=torch.float64)
    assume(not (all(math.isfinite(v) and v >= 0 for v in row) and abs(sum(row) - 1) <= 1e-4))
    must_raise_suite_error(lambda: sample_categorical(p, make_generator(0)))


@given(junk=st.sampled_from([*JUNK, [0.5, 0.5], np.array([0.5, 0.5]), torch.zeros(()), torch.zeros((2, 0))]))
def test_junk_probs_and_generators_raise_suite_errors(junk):
    must_raise_suite_error(lambda: sample_categorical(junk, make_generator(0)))
    must_raise_suite_error(lambda: sample_categorical(torch.tensor([[1.0]]), junk))


@given(
    spec=st.one_of(
        st.sampled_from([*JUNK, 3, "poly", "polyinf", "poly-2", "beta:", "beta:1", "beta:nan,1", "cosines"]),
        st.text(max_size=8).filter(lambda s: s not in ("linear", "cosine", "cosine_mdlm", "sin2")),
    )
)
def test_junk_schedules_raise_suite_errors(spec):
    if isinstance(spec, str) and spec.startswith("poly"):
        assume(not _is_positive_float(spec[4:]))
    if isinstance(spec, str) and spec.startswith("beta:"):
        assume(not all(_is_positive_float(v) for v in spec[5:].split(",")) or spec.count(",") != 1)
    must_raise_suite_error(lambda: get_schedule(spec))


def _is_positive_float(s: str) -> bool:
    try:
        return 0 < float(s) < math.inf
    except ValueError:
        return False


@given(
    temperature=st.sampled_from([0.0, -1.0, math.inf, math.nan, "1", None, True, 1e-320]),
    mix=st.sampled_from([0.0, 0.5, -0.1, 1.5, math.nan, "0", None]),
)
def test_junk_perturbations_raise_suite_errors(temperature, mix):
    lang = random_ngram(2, 3, seed=0)
    valid_t = isinstance(temperature, float) and 0 < temperature < math.inf
    valid_m = isinstance(mix, float) and 0 <= mix <= 1
    assume(not (valid_t and valid_m))

    def build_and_call():
        PerturbedDenoiser(OracleDenoiser(lang), temperature=temperature, uniform_mix=mix)(
            torch.full((2, 4), lang.mask_id)
        )

    must_raise_suite_error(build_and_call)


@given(
    tokens=st.sampled_from(
        [
            torch.zeros((2, 3)),
            torch.full((2, 3), 9),
            torch.zeros(3, dtype=torch.long),
            "012",
            None,
            [[0, 1, 4]],
        ]
    )
)
def test_junk_tokens_raise_suite_errors(tokens):
    lang = random_ngram(2, 3, seed=0)
    must_raise_suite_error(lambda: OracleDenoiser(lang)(tokens))
    must_raise_suite_error(lambda: lang.log_prob(tokens))
