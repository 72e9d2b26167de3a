"""Every registered sampler against the contract of :mod:`sims.sampling.base`.

Per registry entry: the key equals the sampler's name, the declared use of K matches the capabilities
(and a sampler that ignores K gives identical runs for every K), bad arguments are rejected with an error
naming the argument (a ``SuiteError``), and a diverged network's NaN output is never sampled. Per case (entry and variants): calls are counted exactly (NFE = the number of calls
made on rows whose state changed since their last call, through a counting denoiser), conventions are
complete and plain JSON, runs are reproducible from the seed and use no other randomness, and the
declared capabilities hold (reveal schedule, no remasking, exact kernel, a state entropy at every step).
"""

import json
import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.passes import EOSUnavailableError
from sims.registry import SAMPLERS, make_sampler
from sims.sampling.base import Capabilities, Conventions
from sims.validation import NumericalError, SuiteError
from tests.conformance.cases import CYCLE, ENTRY_KEYS, case_language, same_result, sampler_cases
from tests.helpers import CountingDenoiser


def _oracle(sampler, name: str = "cycle"):
    """The oracle of the conformance language ``name`` in the version ``sampler`` runs on (its EOS-padded
    version for a sampler that declares ``capabilities.needs_eos``)."""
    return OracleDenoiser(case_language(sampler, name), on_impossible="uniform")


# ---- registry entries ----------------------------------------------------------------------------
@pytest.mark.parametrize("key", ENTRY_KEYS)
def test_registry_key_is_the_sampler_name(key):
    entry = SAMPLERS[key]
    assert entry.make(entry.test_steps).name == key
    assert make_sampler(key, entry.test_steps).name == key


@pytest.mark.parametrize("key", ENTRY_KEYS)
def test_declared_use_of_the_step_count(key):
    entry = SAMPLERS[key]
    a, b = entry.make(entry.test_steps), entry.make(entry.test_steps + 20)
    assert a.capabilities.uses_steps == entry.uses_steps == b.capabilities.uses_steps
    L = entry.test_length
    if entry.uses_steps:
        assert a.conventions() != b.conventions()
        with pytest.raises(ValueError, match="steps"):
            make_sampler(key, None)
        with pytest.raises(ValueError, match="steps"):
            entry.make(0)
    else:  # K is ignored: identical runs, and a sweep runs it once
        assert a.conventions() == b.conventions() == make_sampler(key, None).conventions()
        ra = a.sample(_oracle(a), 64, L, make_generator(0), batch_size=32)
        rb = b.sample(_oracle(b), 64, L, make_generator(0), batch_size=32)
        assert same_result(ra, rb)


@pytest.mark.parametrize("key", ENTRY_KEYS)
def test_bad_arguments_are_rejected_by_name(key):
    entry = SAMPLERS[key]
    sampler, L, g = entry.make(entry.test_steps), entry.test_length, make_generator(0)
    for argument, call in [
        ("num_samples", lambda: sampler.sample(_oracle(sampler), 0, L, g)),
        ("length", lambda: sampler.sample(_oracle(sampler), 4, 0, g)),
        ("batch_size", lambda: sampler.sample(_oracle(sampler), 4, L, g, batch_size=0)),
    ]:
        with pytest.raises(SuiteError, match=argument):
            call()
    for bad in entry.bad_arguments:  # the suite's own error type (sims.validation), naming the argument
        with pytest.raises(SuiteError, match=bad.argument):
            bad.make()


class DivergedNetwork(Denoiser):
    """A network whose output turned NaN for batch row 1 (uniform elsewhere), over the vocabulary of
    ``language`` (and its EOS padding token, if any)."""

    def __init__(self, language):
        self.vocab_size = language.vocab_size
        self._eos = language.eos_token

    def eos_token(self):
        return self._eos

    def predict(self, tokens, t=None):
        B, L = tokens.shape
        lp = torch.full((B, L, self.vocab_size), -math.log(self.vocab_size), dtype=torch.float64)
        lp[1:2] = math.nan
        return DenoiserOutput(carry_over(lp, tokens, self.vocab_size), torch.zeros(B, dtype=torch.bool))


@pytest.mark.parametrize("key", ENTRY_KEYS)
def test_a_diverged_network_is_never_sampled(key):
    """Every registered sampler raises NumericalError instead of sampling a NaN row (issue 13: such a row
    was drawn as the last token with entropy 0)."""
    entry = SAMPLERS[key]
    sampler = entry.make(entry.test_steps)
    with pytest.raises(NumericalError, match="NaN"):
        sampler.sample(DivergedNetwork(case_language(sampler)), 4, entry.test_length, make_generator(0))


@pytest.mark.parametrize("key", ENTRY_KEYS)
def test_a_length_policy_refuses_a_denoiser_without_eos(key):
    """A sampler that declares ``capabilities.needs_eos`` refuses, before any call, a denoiser that declares
    no EOS padding token, with an error naming the requirement; every other sampler runs on it."""
    entry = SAMPLERS[key]
    sampler = entry.make(entry.test_steps)
    den = CountingDenoiser(OracleDenoiser(CYCLE, on_impossible="uniform"))
    if sampler.capabilities.needs_eos:
        with pytest.raises(EOSUnavailableError, match="needs_eos"):
            sampler.sample(den, 4, entry.test_length, make_generator(0))
        assert den.calls == 0
    else:
        assert sampler.sample(den, 4, entry.test_length, make_generator(0)).tokens.shape[0] == 4


# ---- every case ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sampler_cases())
def test_conventions_are_complete_plain_and_recorded(case):
    sampler = case.make()
    conv = sampler.conventions()
    assert isinstance(conv, Conventions) and isinstance(sampler.capabilities, Capabilities)
    assert conv.missing() == [] and conv.sampler == sampler.name
    assert isinstance(conv.temperature, float) and conv.categorical_precision == sampler.categorical_precision
    d = conv.to_dict()

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (str, int, float, bool))

    assert plain(d) and json.loads(json.dumps(d)) == d
    res = sampler.sample(_oracle(sampler), 8, case.length, make_generator(0))
    if "oracle_path" in d["extras"]:  # requested path -> the path that ran (sims.sampling.scheduled)
        ran = res.conventions["extras"]["oracle_path"]
        assert ran == "full" or (d["extras"]["oracle_path"] != "full" and ran.startswith("incremental:"))
        d["extras"]["oracle_path"] = ran
    assert res.conventions == d


@pytest.mark.parametrize("case", sampler_cases())
def test_reproducible_from_the_seed_alone(case):
    sampler = case.make()
    state = torch.get_rng_state()
    a = sampler.sample(_oracle(sampler, "hmm"), 48, case.length, make_generator(case.seed), batch_size=16)
    b = sampler.sample(_oracle(sampler, "hmm"), 48, case.length, make_generator(case.seed), batch_size=16)
    assert same_result(a, b)
    assert torch.equal(torch.get_rng_state(), state)  # no draw from the global generator


@pytest.mark.parametrize("case", sampler_cases())
def test_nfe_counts_the_calls_on_changed_rows(case):
    """Driven step by step (public API, one sequence): a call happens only after the row's state changed
    since its previous call, and ``nfe`` equals the number of calls plus the passes beyond the marginals
    (draft or leave-one-out passes, one call per row each); whole runs: ``nfe`` sums to the rows the
    denoiser and its passes saw."""
    sampler, L = case.make(), case.length
    g = make_generator(case.seed)
    for _ in range(6):
        den = CountingDenoiser(_oracle(sampler, "hmm"))
        state = sampler.begin(den, 1, L, torch.device("cpu"))
        if state.batch != 1:  # several rows per output (particles): accounting only
            break
        changed, calls = True, 0
        for k in range(sampler.num_steps(L)):
            before, rows_before = state.x.clone(), den.rows
            sampler.step(state, k, g)
            made = den.rows - rows_before
            assert made in (0, 1)
            if made:
                assert changed, f"step {k}: call on a state unchanged since the previous call"
                changed, calls = False, calls + 1
            if not torch.equal(before, state.x):
                changed = True
                if not sampler.capabilities.revisits:  # revealed tokens never change
                    revealed = before != den.vocab_size
                    assert torch.equal(before[revealed], state.x[revealed])
        res = sampler.finish(state)
        assert res.nfe.tolist() == [calls + den.pass_rows] and calls == den.calls
    den = CountingDenoiser(_oracle(sampler, "hmm"))
    res = sampler.sample(den, 40, L, g, batch_size=16)
    assert int(res.nfe.sum()) == den.rows + den.pass_rows and bool((res.nfe >= 1).all())


@pytest.mark.parametrize("case", sampler_cases())
def test_declared_capabilities_hold(case):
    sampler, L = case.make(), case.length
    caps, g = sampler.capabilities, make_generator(case.seed)
    if caps.value_independent_schedule:
        steps = sampler.reveal_schedule(200, L, g)
        assert steps.shape == (200, L) and steps.dtype == torch.long
        assert int(steps.min()) >= 0 and int(steps.max()) < sampler.num_steps(L)
    else:
        with pytest.raises(ValueError, match="value_independent_schedule"):
            sampler.reveal_schedule(2, L, g)
    lang = case_language(sampler, "hmm")
    res = sampler.sample(_oracle(sampler, "hmm"), 100, L, g)
    assert bool((res.tokens < lang.vocab_size).all()) and bool((res.reveal_step >= 0).all())
    assert res.step_num_masked.shape[1] == res.step_entropy_sum.shape[1] == sampler.num_steps(L)
    if sampler.evaluates_every_masked_step(L):
        evaluated = ~torch.isnan(res.step_entropy_sum)
        assert torch.equal(evaluated, res.step_num_masked > 0)
