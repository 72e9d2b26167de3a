"""Issue 13, phase 1: each silent-wrong and crash class found by the adversarial pass now gets a clear error
(or the right answer), held here by one test each."""

import math

import numpy as np
import pytest
import torch

from sims import (
    AncestralSampler,
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
from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.denoisers.point_mass import PointMassDenoiser
from sims.enumeration import all_sequences, sequence_index
from sims.inference.engine import resolve_method, scan_can_run
from sims.languages.formal import DFALanguage, dyck_language, mod_sum_language
from sims.languages.hard import sparse_successor_chain
from sims.languages.markov import stationary_distribution
from sims.languages.sparse_bigram import SparseBigramLanguage, random_sparse_bigram
from sims.stats import mean_estimate, proportion_estimate
from sims.validation import (
    InvalidArgumentError,
    InvalidDistributionError,
    InvalidTypeError,
    NumericalError,
    SizeLimitError,
)


class NaNNetwork(Denoiser):
    """A 'diverged network': NaN log-probabilities at masked positions of the rows in ``bad_rows``."""

    def __init__(self, vocab_size, bad_rows=(0,), value=math.nan):
        self.vocab_size, self.bad_rows, self.value = vocab_size, bad_rows, value

    def predict(self, tokens, t=None):
        B, L = tokens.shape
        lp = torch.full((B, L, self.vocab_size), -math.log(self.vocab_size), dtype=torch.float64)
        for b in self.bad_rows:
            if b < B:
                lp[b] = self.value
        return DenoiserOutput(carry_over(lp, tokens, self.vocab_size), torch.zeros(B, dtype=torch.bool))


# ---- NaN rows are never sampled ---------------------------------------------------------------------
def test_nan_probability_row_is_not_sampled_as_the_last_token():
    probs = torch.full((3, 4), 0.25, dtype=torch.float64)
    probs[1] = math.nan
    with pytest.raises(NumericalError, match=r"probs: row \(1,\) contains NaN"):
        sample_categorical(probs, make_generator(0))


@pytest.mark.parametrize(
    "row, msg", [([0.0, 0.0, 0.0], "all zero"), ([0.5, -0.5, 1.0], "negative"), ([0.2, 0.2, 0.2], "sums to")]
)
def test_other_non_laws_are_not_sampled(row, msg):
    with pytest.raises(NumericalError, match=msg):
        sample_categorical(torch.tensor([row], dtype=torch.float64), make_generator(0))


def test_valid_rows_consume_the_same_random_numbers():
    probs = torch.tensor([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]], dtype=torch.float64)
    g1, g2 = make_generator(5), make_generator(5)
    a = sample_categorical(probs, g1)
    u = torch.rand((2, 1), dtype=torch.float64, generator=g2)
    assert torch.equal(a, torch.searchsorted(probs.cumsum(-1), u, right=True).squeeze(-1))
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


@pytest.mark.parametrize("temperature", [math.inf, math.nan, -1.0, "1"])
def test_invalid_sampling_temperatures_are_refused(temperature):
    lp = torch.log(torch.full((2, 3), 1 / 3, dtype=torch.float64))
    with pytest.raises((InvalidArgumentError, InvalidTypeError), match="temperature"):
        sample_from_log_probs(lp, make_generator(0), temperature=temperature)


def test_temperature_underflow_raises_instead_of_sampling_nan():
    lp = torch.log(torch.tensor([[0.3, 0.7], [0.5, 0.5]], dtype=torch.float64))
    with pytest.raises(NumericalError, match="after temperature 1e-320"):
        sample_from_log_probs(lp, make_generator(0), temperature=1e-320)


def test_argmax_of_a_nan_row_raises():
    lp = torch.tensor([[0.0, -math.inf], [math.nan, math.nan]], dtype=torch.float64)
    with pytest.raises(NumericalError, match=r"log_probs: row \(1,\) contains NaN"):
        sample_from_log_probs(lp, make_generator(0), temperature=0.0)


# ---- denoiser outputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.5])
def test_diverged_network_output_raises_at_the_call(value):
    with pytest.raises(NumericalError, match=r"NaNNetwork: log_probs: row \(0, 0\)"):
        NaNNetwork(3, value=value)(torch.full((2, 4), 3))


def test_a_sampler_driven_by_a_diverged_network_raises():
    for sampler in (AncestralSampler(4), FixedCountSampler(4)):
        with pytest.raises(NumericalError, match="diverged network or corrupt cache"):
            sampler.sample(NaNNetwork(3, bad_rows=(0,)), 8, 4, make_generator(0))


def test_wrong_output_shape_and_type_are_named():
    class Short(NaNNetwork):
        def predict(self, tokens, t=None):
            out = super().predict(tokens, t)
            return DenoiserOutput(out.log_probs[:, :-1], out.impossible)

    with pytest.raises(InvalidArgumentError, match=r"Short: log_probs must have shape \(batch, length, V\)"):
        Short(3, bad_rows=())(torch.full((2, 4), 3))

    class NotAnOutput(NaNNetwork):
        def predict(self, tokens, t=None):
            return super().predict(tokens, t).log_probs

    with pytest.raises(InvalidTypeError, match="predict output must be a DenoiserOutput"):
        NotAnOutput(3)(torch.full((2, 4), 3))
    with pytest.raises(InvalidTypeError, match=r"impossible must have dtype torch.bool"):
        DenoiserOutput(torch.zeros((1, 2, 3), dtype=torch.float64), torch.zeros(1))
    with pytest.raises(InvalidArgumentError, match=r"t must be finite and lie in \[0, 1\]"):
        NaNNetwork(3, bad_rows=())(torch.full((2, 4), 3), torch.tensor([0.5, math.nan], dtype=torch.float64))


@pytest.mark.parametrize("temperature", [math.inf, 0.0, math.nan, -1.0])
def test_perturbed_denoiser_refuses_degenerate_temperatures(temperature):
    oracle = OracleDenoiser(random_ngram(2, 3, seed=0))
    with pytest.raises(InvalidArgumentError, match="temperature"):
        PerturbedDenoiser(oracle, temperature=temperature)
    with pytest.raises(InvalidArgumentError, match="uniform_mix"):
        PerturbedDenoiser(oracle, uniform_mix=math.nan)
    with pytest.raises(InvalidTypeError, match="base must be a sims Denoiser"):
        PerturbedDenoiser(random_ngram(2, 3, seed=0))


def test_perturbed_temperature_underflowing_to_a_zero_row_raises():
    lang = random_ngram(2, 3, seed=0)
    noisy = PerturbedDenoiser(OracleDenoiser(lang), temperature=1e-310)
    with pytest.raises(NumericalError, match="after temperature 1e-310"):
        noisy(torch.full((1, 4), lang.mask_id))


# ---- n-gram, HMM and automaton layouts ---------------------------------------------------------------
def test_flat_ngram_table_with_the_right_count_is_rejected():
    with pytest.raises(InvalidDistributionError, match=r"needs 2x2 entries laid out as shape \(2, 2\)"):
        NGramLanguage(2, 2, [0.5, 0.5], [0.25, 0.25, 0.25, 0.25])


def test_transposed_ngram_tables_are_rejected():
    V, rng = 2, np.random.default_rng(0)
    P = rng.dirichlet(np.ones(V), size=V * V)  # (V**2, V): order 3
    with pytest.raises(InvalidDistributionError, match=r"got shape \(2, 4\) \(transposed\?"):
        NGramLanguage(3, V, np.full(4, 0.25), P.T)
    with pytest.raises(InvalidDistributionError, match="transposed"):
        NGramLanguage(2, 2, [0.5, 0.5], [[0.9, 0.2], [0.1, 0.8]])  # column-stochastic bigram
    with pytest.raises(InvalidDistributionError, match=r"initial: .* got shape \(4, 1\)"):
        NGramLanguage(3, V, np.full((4, 1), 0.25), P)
    a = NGramLanguage(3, V, np.full((2, 2), 0.25), P.reshape(2, 2, 2))  # (V,)*n layout still accepted
    b = NGramLanguage(3, V, np.full(4, 0.25), P)
    assert torch.equal(a.transition, b.transition) and torch.equal(a.initial, b.initial)
    x = all_sequences(V, 5)
    assert math.isclose(float(torch.logsumexp(a.log_prob(x), 0)), 0.0, abs_tol=1e-12)


def test_hmm_layouts():
    with pytest.raises(InvalidDistributionError, match="transposed"):
        HMMLanguage([0.5, 0.5], [[0.9, 0.2], [0.1, 0.8]], [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(InvalidDistributionError, match=r"emission must be \(S, V\)"):
        HMMLanguage([1.0], [[1.0]], [0.5, 0.5])
    with pytest.raises(InvalidTypeError, match="emission: expected an array of numbers"):
        HMMLanguage([1.0], [[1.0]], "0.5 0.5")


def test_automaton_tables_are_integers():
    with pytest.raises(InvalidTypeError, match="delta must hold integer automaton states"):
        DFALanguage([[0.5, 1.0], [1.0, 0.0]], 0, [0])
    with pytest.raises(InvalidTypeError, match="accepting state must be an integer"):
        DFALanguage([[0, 1], [1, 0]], 0, [0.5])
    with pytest.raises(InvalidTypeError, match="accept must be a sequence"):
        DFALanguage([[0, 1], [1, 0]], 0, 0)
    with pytest.raises(InvalidTypeError, match="start must be an integer"):
        DFALanguage([[0, 1], [1, 0]], 0.0, [0])
    with pytest.raises(InvalidArgumentError, match="open_weight must be > 0"):
        dyck_language(2, open_weight=0.0)
    with pytest.raises(InvalidTypeError, match="residue must be an integer"):
        mod_sum_language(2, 2, 0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial_concentration": 0.0}, "initial_concentration must be > 0"),
        ({"concentration": math.inf}, "concentration must be a finite number"),
        ({"support_size": 9}, "support_size 9 exceeds"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"stationary": "yes"}, "stationary must be True or False"),
        ({"device": "gpu"}, "not a device name"),
    ],
)
def test_random_factories_check_every_argument(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        random_ngram(2, 8, **kwargs)


def test_random_hmm_and_hard_languages_check_arguments():
    with pytest.raises(InvalidArgumentError, match="emission_support 5 exceeds"):
        random_hmm(3, 4, emission_support=5)
    with pytest.raises(InvalidArgumentError, match=r"weights\[0\] must be a finite number"):
        sparse_successor_chain(8, offsets=(1, 2), weights=(math.nan, 1.0))
    with pytest.raises(InvalidTypeError, match=r"offsets\[0\] must be an integer"):
        sparse_successor_chain(8, offsets=(1.5, 2))
    with pytest.raises(InvalidDistributionError, match="square"):
        stationary_distribution(torch.ones((2, 3)) / 3)
    with pytest.raises(InvalidDistributionError, match="sums to"):
        stationary_distribution(torch.ones((2, 2)))


def test_languages_want_a_generator():
    for lang in (random_ngram(2, 3, seed=0), random_hmm(2, 3, seed=0), dyck_language(2)):
        with pytest.raises(InvalidTypeError, match=r"generator must be a torch.Generator"):
            lang.sample(2, 4, 0)


# ---- engines --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("B", [1, 7, 300])
@pytest.mark.parametrize("L", [2, 3, 40])
def test_tf32_auto_engine_works_for_every_batch_size(B, L):
    lang = random_hmm(8, 4, seed=0)
    x = torch.full((B, L), lang.mask_id)
    out = OracleDenoiser(lang, precision="tf32")(x)
    ref = OracleDenoiser(lang)(x[:1])
    assert torch.allclose(out.log_probs[0], ref.log_probs[0], atol=1e-5)
    assert resolve_method(lang.chain(), x, "auto", "tf32") == "scan"
    assert all(
        resolve_method(lang.chain(), torch.zeros((b, L), dtype=torch.long), "auto", "tf32") == "scan"
        for b in (1, 2, 64, 4096)
    )


def test_tf32_on_a_chain_the_scan_cannot_densify_uses_float32_scaled():
    lang = random_hmm(300, 3, seed=0)  # 300 > DENSE_MAX_STATES
    assert not scan_can_run(lang.chain(), 8)
    x = torch.full((3, 8), lang.mask_id)
    assert resolve_method(lang.chain(), x, "auto", "tf32") == "scaled"
    out = OracleDenoiser(lang, precision="tf32")(x)
    assert torch.allclose(out.log_probs, OracleDenoiser(lang)(x).log_probs, atol=1e-4)


def test_impossible_engine_combinations_are_refused_when_built():
    lang = random_ngram(2, 3, seed=0)
    with pytest.raises(InvalidArgumentError, match="float64 only"):
        OracleDenoiser(lang, method="log", precision="float32")
    with pytest.raises(InvalidArgumentError, match="needs method='scan'"):
        OracleDenoiser(lang, method="scaled", precision="tf32")
    with pytest.raises(InvalidArgumentError, match="chunk_size must be >= 1"):
        OracleDenoiser(lang, chunk_size=0)


# ---- enumeration and statistics ------------------------------------------------------------------------
def test_enumeration_guards():
    with pytest.raises(SizeLimitError, match="all_sequences enumerates"):
        all_sequences(4, 20)
    with pytest.raises(InvalidArgumentError, match="no mask ids"):
        sequence_index(torch.tensor([[0, 3]]), 3)


def test_statistics_arguments():
    with pytest.raises(InvalidTypeError, match="successes must be an integer"):
        proportion_estimate(2.5, 10)
    with pytest.raises(InvalidArgumentError, match="level must be < 1"):
        proportion_estimate(2, 10, level=1.0)
    with pytest.raises(InvalidArgumentError, match="NaN"):
        mean_estimate(torch.tensor([1.0, math.nan]))
    with pytest.raises(InvalidTypeError, match="values must be numbers"):
        mean_estimate("1 2 3")
    assert proportion_estimate(torch.tensor(3), 10).p == 0.3


def test_make_generator_seed_and_device():
    with pytest.raises(InvalidTypeError, match="seed must be an integer"):
        make_generator(1.5)
    with pytest.raises(InvalidArgumentError, match="not a device name"):
        make_generator(0, "gpu")


def test_denoiser_subclasses_cannot_skip_the_output_check():
    with pytest.raises(InvalidTypeError, match=r"overrides Denoiser.__call__"):

        class Unchecked(Denoiser):
            def __call__(self, tokens, t=None):
                return None


@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda: SparseBigramLanguage([0.5, 0.5], [[0], [5]], [[1.0], [1.0]]), InvalidArgumentError, "0..1"),
        (
            lambda: SparseBigramLanguage([0.5, 0.5], [[0.0], [1.0]], [[1.0], [1.0]]),
            InvalidArgumentError,
            "integer",
        ),
        (lambda: random_sparse_bigram("8", 2), InvalidTypeError, "vocab_size"),
        (lambda: random_sparse_bigram(8, 9), InvalidArgumentError, "top_k"),
        (lambda: random_sparse_bigram(8, 2, teleport=math.nan), InvalidArgumentError, "teleport"),
        (lambda: random_sparse_bigram(8, 2, concentration=0.0), InvalidArgumentError, "concentration"),
        (lambda: random_sparse_bigram(8, 2, zipf=math.inf), InvalidArgumentError, "zipf"),
        (lambda: random_sparse_bigram(8, 2, seed=1.5), InvalidTypeError, "seed"),
        (lambda: PointMassDenoiser((0, 7), 2), InvalidArgumentError, "x"),
        (lambda: PointMassDenoiser((0.5, 1), 2), InvalidTypeError, "x"),
        (lambda: PointMassDenoiser(((0, 1),), 2), InvalidArgumentError, "one sequence"),
        (lambda: PointMassDenoiser("ab", 2), InvalidTypeError, "x"),
        (lambda: PointMassDenoiser((0, 1), "2"), InvalidTypeError, "vocab_size"),
    ],
)
def test_sparse_bigrams_and_point_masses_check_their_arguments(make, err, match):
    """The sparse bigram family and the point-mass denoiser (added with the policies) name the argument
    (was: a bare ValueError, or a TypeError from a tensor comparison)."""
    with pytest.raises(err, match=match):
        make()
