"""The incremental oracle path (scheduled sessions) against the full pass.

* Session marginals = the full oracle's marginals at the scheduled positions (to float64 rounding), for
  every engine and chain type (bigram and i.i.d.: nearest neighbour; n-grams of order 3 and 4 and HMMs:
  evidence tree; the bigram through the tree as well), sparse languages with exact zeros, schedules with
  several reveals per step (rows that become impossible go to the full oracle), each ``on_impossible``.
* The certificate: tables with 1e-200 entries send rows to the full oracle, and the answers stay exact.
* Samplers: seeded runs on the incremental and the full path give the same tokens, reveal steps, calls,
  support flags and event times (bit for bit), and entropies/log-probs to rounding; the incremental path
  alone against the exact law (chi-square) on tiny cases; large-L marginals against the full pass.
* Automatic choice and records: the path that ran is in ``conventions["extras"]["oracle_path"]``.
"""

import math

import pytest
import torch

from sims import random_hmm, random_ngram
from sims.categorical import make_generator, sample_from_log_probs
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.perturbed import PerturbedDenoiser
from sims.exact import exact_sampler_law
from sims.inference import evidence_tree
from sims.inference.evidence_tree import DEFAULT_TREE_BYTES, EvidenceTreeSession, choose_block
from sims.inference.incremental import position_layout
from sims.inference.min_violation import lex_chain, min_violation_posterior
from sims.inference.min_violation_separable import separable_min_violation
from sims.inference.scheduled import incremental_pays, tree_step_flops
from sims.inference.separable import nearest_earlier, nearest_later
from sims.languages.eos import EOSLanguage
from sims.languages.formal import dyck_language, parity_language
from sims.languages.hmm import HMMLanguage
from sims.languages.ngram import NGramLanguage
from sims.metrics import teacher_forced_log_likelihood, teacher_forcing_path
from sims.registry import make_language
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.denoising_entropy import path_entropy
from sims.sampling.first_hitting import FirstHittingSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.validation import ImpossibleEvidenceError
from tests.conformance.cases import CYCLE, HMM
from tests.helpers import P_MIN, grouped_chi_square_pvalue, oracle_fallback, session_error

LANGS = {
    "bigram": (random_ngram(2, 5, support_size=3, seed=1), "nearest_neighbour"),
    "iid": (random_ngram(1, 4, support_size=3, seed=2), "nearest_neighbour"),
    "trigram": (random_ngram(3, 3, support_size=2, seed=1), "evidence_tree"),
    "4gram": (random_ngram(4, 2, support_size=2, seed=4), "evidence_tree"),
    "hmm": (random_hmm(4, 3, transition_support=2, emission_support=2, seed=0), "evidence_tree"),
}


def _run_session(lang, schedule, steps, on_impossible="uniform", engine="auto", seed=0):
    """Drive a session and the full oracle side by side; returns the max abs difference of marginals."""
    oracle = OracleDenoiser(lang, on_impossible=on_impossible)
    sess = oracle.scheduled_session(schedule, steps, engine=engine)
    err = session_error(sess, oracle, schedule.shape, steps, seed=seed, check_called=True)
    return err, sess


@pytest.mark.parametrize("name", sorted(LANGS))
@pytest.mark.parametrize("steps", [1, 5, 23])
def test_session_marginals_equal_the_full_oracle(name, steps):
    lang, engine = LANGS[name]
    schedule = torch.randint(0, steps, (7, 23), generator=make_generator(steps))
    err, sess = _run_session(lang, schedule, steps, engine="auto")
    assert sess.engine == engine
    assert err < 1e-13


@pytest.mark.parametrize("on_impossible", ["uniform", "min_violation"])
def test_impossible_rows_are_answered_as_in_the_full_path(on_impossible):
    """A near-deterministic cycle and a sparse HMM with several reveals per step: many rows become
    impossible. Uniform: answered by the session; min_violation: by the neighbour engine's own
    lexicographic tables (bigram) or by the full oracle (HMM)."""
    schedule = torch.randint(0, 3, (40, 12), generator=make_generator(1))
    for lang in (CYCLE, HMM):
        err, sess = _run_session(lang, schedule, 3, on_impossible)
        assert err < 1e-13 and bool(sess.impossible.any())
        full_oracle_needed = on_impossible == "min_violation" and lang is HMM
        assert (sess.fallback_rows > 0) == full_oracle_needed


def test_min_violation_marginals_of_the_neighbour_engine_over_long_gaps():
    """Sparse bigram, L = 60, few steps: impossible rows with gaps of many positions and several
    violations; the lexicographic tables against the oracle's min-violation pass."""
    lang = random_ngram(2, 4, support_size=2, seed=3)
    schedule = torch.randint(0, 4, (30, 60), generator=make_generator(9))
    err, sess = _run_session(lang, schedule, 4, "min_violation")
    assert sess.engine == "nearest_neighbour" and sess.fallback_rows == 0
    assert bool(sess.impossible.any()) and err < 1e-12


def test_the_bigram_through_the_tree_and_the_neighbour_engine_agree():
    lang = LANGS["bigram"][0]
    schedule = torch.randint(0, 9, (5, 30), generator=make_generator(3))
    err_tree, tree = _run_session(lang, schedule, 9, engine="evidence_tree")
    err_nn, nn = _run_session(lang, schedule, 9, engine="nearest_neighbour")
    assert tree.engine == "evidence_tree" and nn.engine == "nearest_neighbour"
    assert err_tree < 1e-13 and err_nn < 1e-13


def test_raise_on_impossible_raises_at_the_same_step_as_the_full_path():
    oracle = OracleDenoiser(CYCLE)  # on_impossible="raise"
    sampler = lambda p: FixedCountSampler(4, oracle_path=p)  # noqa: E731
    errors = []
    for path in ("full", "incremental"):
        with pytest.raises(ImpossibleEvidenceError):
            sampler(path).sample(oracle, 64, 16, make_generator(0))
        errors.append(path)
    assert errors == ["full", "incremental"]


def test_underflowing_tables_go_to_the_full_oracle_and_stay_exact():
    """Transition entries of 1e-200: products of a few of them leave the certified range."""
    tiny = 1e-200
    trans = torch.tensor(
        [[1 - tiny, tiny, 0.0], [0.0, 1 - tiny, tiny], [tiny, 0.0, 1 - tiny]], dtype=torch.float64
    )
    emis = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]], dtype=torch.float64)
    hmm = HMMLanguage(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), trans, emis)
    bigram = NGramLanguage(2, 3, [1.0, 0.0, 0.0], trans)
    for lang in (hmm, bigram):  # the bigram's powers underflow: the neighbour engine declines
        schedule = torch.randint(0, 6, (4, 12), generator=make_generator(2))
        err, sess = _run_session(lang, schedule, 6)
        assert err < 1e-12 and sess.engine == "evidence_tree" and sess.fallback_rows > 0


@pytest.mark.parametrize("strict", [True, False])
def test_nearest_neighbours_from_the_schedule(strict):
    schedule = torch.randint(0, 5, (6, 33), generator=make_generator(5))
    left, right = nearest_earlier(schedule, strict), nearest_later(schedule, strict)
    for b in range(6):
        for i in range(33):
            here = int(schedule[b, i])
            ok = [int(v) < here if strict else int(v) <= here for v in schedule[b]]
            lefts = [j for j in range(i) if ok[j]]
            rights = [j for j in range(i + 1, 33) if ok[j]]
            assert int(left[b, i]) == (lefts[-1] if lefts else -1)
            assert int(right[b, i]) == (rights[0] if rights else 33)


def test_block_size_fits_the_budget():
    assert choose_block(64, 4095, 64, 1 << 31) == 8
    assert choose_block(1, 100, 4, 1 << 31) == 2
    b = choose_block(256, 16383, 64, 1 << 30)
    blocks = -(-16383 // b)
    assert 256 * 2 * (1 << (blocks - 1).bit_length()) * 64**2 * 8 <= 1 << 30


# ---- samplers: the two paths -------------------------------------------------------------------------
SAMPLERS = {
    "ancestral": lambda p: AncestralSampler(6, oracle_path=p),
    "ancestral_fill_argmax": lambda p: AncestralSampler(6, t_min=0.1, oracle_path=p),
    "ancestral_fill_sample_T0.8": lambda p: AncestralSampler(
        5, t_min=0.1, final_fill="sample", temperature=0.8, oracle_path=p
    ),
    "fixed_random": lambda p: FixedCountSampler(7, oracle_path=p),
    "fixed_random_block": lambda p: FixedCountSampler(8, block_length=6, oracle_path=p),
    "fixed_random_dream": lambda p: FixedCountSampler(5, count_rule="dream", oracle_path=p),
    "fixed_random_gumbel": lambda p: FixedCountSampler(
        24, categorical_precision="float32_gumbel", oracle_path=p
    ),
    "first_hitting": lambda p: FirstHittingSampler(oracle_path=p),
}
EXACT = ("tokens", "nfe", "reveal_step", "step_num_masked", "left_support")


def _same_run(a, b):
    for f in EXACT:
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    for f in ("token_entropy", "token_logprob") + (("reveal_time",) if a.reveal_time is not None else ()):
        assert torch.allclose(getattr(a, f), getattr(b, f), atol=1e-12, rtol=0), f
    assert bool(torch.isnan(b.step_entropy_sum).all())


#: Chains with final weights on the last node (automaton acceptance; EOS languages): the evidence tree.
AUTOMATA = {"dyck": dyck_language(3), "hmm_eos": EOSLanguage(random_hmm(3, 2, seed=2), 1 / 4)}


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
@pytest.mark.parametrize("lang_name", ["bigram", "trigram", "hmm", "cycle", "dyck", "hmm_eos"])
def test_incremental_and_full_runs_are_identical_given_the_seed(sampler, lang_name):
    lang = (
        CYCLE
        if lang_name == "cycle"
        else AUTOMATA[lang_name]
        if lang_name in AUTOMATA
        else LANGS[lang_name][0]
    )
    smoothable = lang_name not in AUTOMATA  # automaton zeros have no minimum-violation fallback
    for on_impossible in ("uniform", "min_violation") if smoothable else ("uniform",):
        oracle = OracleDenoiser(lang, on_impossible=on_impossible)
        full = SAMPLERS[sampler]("full").sample(oracle, 60, 24, make_generator(7), batch_size=25)
        inc = SAMPLERS[sampler]("incremental").sample(oracle, 60, 24, make_generator(7), batch_size=25)
        _same_run(full, inc)
        assert full.conventions["extras"]["oracle_path"] == "full"
        assert inc.conventions["extras"]["oracle_path"].startswith("incremental:")


@pytest.mark.parametrize("sampler", ["ancestral", "fixed_random", "fixed_random_block", "first_hitting"])
def test_incremental_path_matches_the_exact_law(sampler):
    L = 4 if sampler != "fixed_random_block" else 6
    make = SAMPLERS[sampler]
    if sampler == "fixed_random_block":
        make = lambda p: FixedCountSampler(2, block_length=3, oracle_path=p)  # noqa: E731
    for lang in (CYCLE, HMM, AUTOMATA["dyck"], AUTOMATA["hmm_eos"]):
        oracle = OracleDenoiser(lang, on_impossible="uniform")
        law = exact_sampler_law(make("full"), oracle, L)
        res = make("incremental").sample(oracle, 20000, L, make_generator(11), batch_size=10000)
        assert res.conventions["extras"]["oracle_path"].startswith("incremental:")
        assert grouped_chi_square_pvalue(res.tokens, law, lang.vocab_size) > P_MIN


@pytest.mark.parametrize("lang_name", ["bigram", "hmm", "dyck"])
def test_large_length_marginals_equal_the_full_pass(lang_name):
    """L = 2048, one token per step: the session's marginals at steps spread over the run equal the full
    oracle's at the same state (seeded run)."""
    lang = AUTOMATA[lang_name] if lang_name in AUTOMATA else LANGS[lang_name][0]
    L, B = 2048, 3
    oracle = OracleDenoiser(lang, on_impossible="uniform" if lang_name in AUTOMATA else "min_violation")
    schedule = FixedCountSampler(L).reveal_schedule(B, L, make_generator(4))
    sess = oracle.scheduled_session(schedule, L)
    g = make_generator(5)
    x = torch.full((B, L), lang.vocab_size, dtype=torch.long)
    checked = 0
    for k in range(L):
        q = sess.query(k)
        if k in (0, 1, 7, 100, 1000, 2000, L - 1):
            ref = oracle(x).log_probs[q.rows, q.positions]
            assert torch.allclose(q.log_probs.exp(), ref.exp(), atol=1e-12, rtol=0)
            checked += 1
        v = sample_from_log_probs(q.log_probs, g)
        sess.reveal(v)
        x[q.rows, q.positions] = v
    assert checked == 7 and bool(torch.isfinite(lang.log_prob(x)).all())


# ---- automatic choice ---------------------------------------------------------------------------------
def test_the_path_is_chosen_automatically_and_recorded():
    lang = LANGS["bigram"][0]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    g = make_generator(0)
    long = FixedCountSampler(8).sample(oracle, 4, 64, g)
    short = FixedCountSampler(8).sample(oracle, 4, 32, g)
    assert long.conventions["extras"]["oracle_path"] == "incremental:nearest_neighbour"
    assert short.conventions["extras"]["oracle_path"] == "full"
    noisy = PerturbedDenoiser(oracle, temperature=1.3)
    assert FixedCountSampler(8).sample(noisy, 4, 64, g).conventions["extras"]["oracle_path"] == "full"
    f32 = OracleDenoiser(lang, on_impossible="uniform", precision="float32")
    assert not f32.offers_scheduled_session(64)
    parity = OracleDenoiser(parity_language(), on_impossible="uniform")  # acceptance on the last node
    assert FixedCountSampler(64).sample(parity, 4, 64, g).conventions["extras"]["oracle_path"] == (
        "incremental:evidence_tree"
    )
    assert not OracleDenoiser(make_language("sudoku4")).offers_scheduled_session(16)  # no token table
    with pytest.raises(ValueError, match="oracle_path"):
        FixedCountSampler(8, oracle_path="incremental").sample(noisy, 4, 64, g)
    with pytest.raises(ValueError, match="oracle_path"):
        FixedCountSampler(8, oracle_path="fast")
    with pytest.raises(ValueError, match="oracle_path='full'"):
        path_entropy(long)
    assert math.isfinite(
        float(path_entropy(FixedCountSampler(8, oracle_path="full").sample(oracle, 4, 64, g))[0])
    )
    ranked = FixedCountSampler(8, score="max_prob").sample(oracle, 4, 64, g)
    assert "oracle_path" not in ranked.conventions["extras"]


@pytest.mark.parametrize("lang_name", ["bigram", "trigram", "hmm", "dyck", "hmm_eos"])
def test_teacher_forcing_on_the_incremental_path(lang_name):
    """Same value as the full path (to rounding) for any schedule; with one token per step it is the chain
    rule, log q(x), exactly (the oracle's factorisation error vanishes)."""
    lang, engine = (AUTOMATA[lang_name], "evidence_tree") if lang_name in AUTOMATA else LANGS[lang_name]
    oracle = OracleDenoiser(lang)
    g = make_generator(8)
    x = lang.sample(6, 80, g)
    steps = AncestralSampler(5).reveal_schedule(6, 80, g) * 3  # sparse step ids
    full = teacher_forced_log_likelihood(oracle, x, steps, oracle_path="full")
    inc = teacher_forced_log_likelihood(oracle, x, steps, oracle_path="incremental")
    assert torch.allclose(full, inc, atol=1e-10, rtol=0)
    order = FixedCountSampler(80).reveal_schedule(6, 80, g)
    chain_rule = teacher_forced_log_likelihood(oracle, x, order)  # auto: incremental at L = 80
    assert torch.allclose(chain_rule, lang.log_prob(x), atol=1e-10, rtol=0)
    assert teacher_forcing_path(oracle, 80) == f"incremental:{engine}"  # what "auto" took above
    assert teacher_forcing_path(oracle, 80, "full") == teacher_forcing_path(oracle, 8) == "full"


def test_separable_min_violation_equals_the_sequential_lexicographic_pass():
    """Bigrams (pinned states): the gather-based fallback against the O(T) lexicographic pass, L = 40,
    random tokens (most rows impossible, several violations); other chains decline."""
    for seed in range(3):
        lang = random_ngram(2, 4, support_size=2, seed=seed)
        g = make_generator(seed)
        x = torch.randint(0, 4, (12, 40), generator=g)
        x[torch.rand(x.shape, generator=g) < 0.6] = 4
        chain = lang.chain()
        fast = separable_min_violation(chain, x)
        lex_gamma = min_violation_posterior(lex_chain(chain), x).log_gamma
        slow = chain.token_log_marginals(lex_gamma, 40)
        masked = x == 4
        assert torch.allclose(fast.exp()[masked], slow.exp()[masked], atol=1e-12, rtol=0)
    for name in ("trigram", "hmm", "iid"):
        assert separable_min_violation(LANGS[name][0].chain(), x[:, :20].clamp(max=2)) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sessions_on_cuda_match_cpu():
    """Both engines on a CUDA device: the same marginals as on the CPU, and a seeded sampler run on the
    incremental path gives the CPU tokens (generator on the CPU, as the samplers allow)."""
    for name in ("bigram", "hmm", "trigram"):
        lang = LANGS[name][0]
        schedule = torch.randint(0, 6, (5, 40), generator=make_generator(1))
        cpu = OracleDenoiser(lang, on_impossible="uniform").scheduled_session(schedule, 6)
        gpu = OracleDenoiser(lang.to("cuda"), on_impossible="uniform").scheduled_session(schedule.cuda(), 6)
        g = make_generator(2)
        for k in range(6):
            a, b = cpu.query(k), gpu.query(k)
            assert torch.allclose(a.log_probs.exp(), b.log_probs.exp().cpu(), atol=1e-13, rtol=0)
            v = sample_from_log_probs(a.log_probs, g)
            cpu.reveal(v)
            gpu.reveal(v.cuda())
        oracle = OracleDenoiser(lang.to("cuda"), on_impossible="uniform")
        res = FixedCountSampler(8, oracle_path="incremental").sample(
            oracle, 16, 64, make_generator(3), device="cuda"
        )
        ref = FixedCountSampler(8, oracle_path="incremental").sample(
            OracleDenoiser(lang, on_impossible="uniform"), 16, 64, make_generator(3)
        )
        assert torch.equal(res.tokens.cpu(), ref.tokens)


def test_auto_skips_the_tree_when_it_would_be_slower():
    lang = LANGS["trigram"][0]
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    g = make_generator(0)
    assert incremental_pays(lang.chain(), 4, 64, 64) and not incremental_pays(lang.chain(), 4, 64, 8)
    few = FixedCountSampler(8).sample(oracle, 4, 64, g)  # 8 reveals per row and step: full passes
    assert few.conventions["extras"]["oracle_path"] == "full"
    every = FixedCountSampler(64).sample(oracle, 4, 64, g)  # one reveal per row and step: the tree
    assert every.conventions["extras"]["oracle_path"] == "incremental:evidence_tree"
    forced = FixedCountSampler(8, oracle_path="incremental").sample(oracle, 4, 64, g)
    assert forced.conventions["extras"]["oracle_path"] == "incremental:evidence_tree"
    bigram = OracleDenoiser(LANGS["bigram"][0], on_impossible="uniform")
    assert bigram.prefers_scheduled_session(4, 64, 8)  # the neighbour engine always pays


def test_the_cost_model_counts_the_products_the_tree_makes(monkeypatch):
    """At one reveal per row and step the tree makes ceil(b/g) - 1 chunk-table products and h ancestor
    products per row, as :func:`tree_step_flops` counts them (S x S products counted by instrumenting
    the tree's matrix product)."""
    lang = random_hmm(5, 4, seed=3)
    B, L = 3, 200
    schedule = FixedCountSampler(L).reveal_schedule(B, L, make_generator(0))
    layout = position_layout(lang.chain(), L)
    oracle = OracleDenoiser(lang)
    sess = EvidenceTreeSession(layout, schedule, oracle_fallback(oracle), L)
    counted = []

    def counting(a, b):
        if a.shape[-2] == b.shape[-1] == sess.S:  # a matrix-matrix product (queries are vector-matrix)
            counted.append(a.reshape(-1, sess.S, sess.S).shape[0])
        return torch.matmul(a, b)

    monkeypatch.setattr(evidence_tree, "_matmul", counting)
    g = make_generator(1)
    for k in range(4):
        q = sess.query(k)
        counted.clear()
        sess.reveal(sample_from_log_probs(q.log_probs, g))
        expected = -(-sess.b // sess.g) - 1 + sess.height
        assert sum(counted) == B * expected
    flops = tree_step_flops(layout, B, L, L, DEFAULT_TREE_BYTES)
    S = sess.S
    assert flops == 2.0 * expected * S**3 + 2.0 * (sess.b + 2 * sess.height) * S**2


def test_the_cost_model_takes_the_tree_where_the_benchmark_measured_it_faster():
    """The benchmark's S = 16 HMM at (64, 4096, K = 64): the tree measured x3.0 against full passes
    (docs/sampler_performance.md); the trigram at the same size measured x0.3 and keeps full passes."""
    hmm = random_hmm(num_states=16, vocab_size=16, seed=0).chain()
    trigram = random_ngram(3, 8, concentration=0.5, support_size=4, seed=0).chain()
    assert incremental_pays(hmm, 64, 4096, 64)
    assert not incremental_pays(trigram, 64, 4096, 64)
