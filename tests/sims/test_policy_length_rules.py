"""The length policies' rules on hand-built outputs (sims/sampling/{length_base,eotp,learn2pd,daedal}.py):
DAEDAL's EOS confidence, canvas growth, fill, insertion point and shift; end-of-text triggers; the oracle
filter's match, guard and end of text; the EOS requirement and its refusal."""

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.passes import EOSUnavailableError
from sims.languages.eos import EOSLanguage
from sims.sampling.daedal import DAEDALSampler, eos_confidence
from sims.sampling.eotp import EoTPSampler, end_of_text_start
from sims.sampling.learn2pd import Learn2PDOracleSampler, eos_run_start
from tests.conformance.cases import CYCLE, EOS_MC_LANGUAGES
from tests.helpers import CountingDenoiser

V = 4  # three content tokens and EOS = 3
EOS = 3
M = V  # mask id


def laws(*rows) -> torch.Tensor:
    """``(1, L, V)`` log-probabilities from per-position probability lists."""
    return torch.tensor([rows], dtype=torch.float64).log()


class FixedOutput(Denoiser):
    """The same predictive law at every masked position (carry-over elsewhere), over an EOS-padded vocabulary."""

    def __init__(self, probs):
        self.vocab_size = len(probs)
        self.lp = torch.tensor(probs, dtype=torch.float64).log()

    def eos_token(self):
        return self.vocab_size - 1

    def predict(self, tokens, t=None):
        B, L = tokens.shape
        lp = self.lp.expand(B, L, -1).clone()
        return DenoiserOutput(carry_over(lp, tokens, self.vocab_size), torch.zeros(B, dtype=torch.bool))


# ---- DAEDAL ------------------------------------------------------------------------------------------
def test_eos_confidence_scans_back_from_the_canvas_end_and_divides_by_c():
    lp = laws(
        [0.1, 0.1, 0.1, 0.7],  # EOS is the argmax
        [0.5, 0.1, 0.1, 0.3],  # not
        [0.1, 0.1, 0.2, 0.6],  # EOS
        [0.0, 0.0, 0.0, 1.0],  # EOS, beyond the canvas below
    )
    end = torch.tensor([3])
    assert float(eos_confidence(lp, end, 2)[0]) == pytest.approx((0.6 + 0.7) / 2, abs=1e-12)
    assert float(eos_confidence(lp, end, 1)[0]) == pytest.approx(0.6, abs=1e-12)
    # fewer EOS positions than C: still divided by C (the code's average)
    assert float(eos_confidence(lp, end, 4)[0]) == pytest.approx((0.6 + 0.7) / 4, abs=1e-12)
    assert float(eos_confidence(lp, torch.tensor([4]), 1)[0]) == pytest.approx(1.0, abs=1e-12)


def test_eos_confidence_needs_eos_strictly_most_likely():
    """``torch.argmax`` takes the lowest index on ties and EOS has the highest id: a tie does not count."""
    lp = laws([0.0, 0.5, 0.0, 0.5])
    assert float(eos_confidence(lp, torch.tensor([1]), 2)[0]) == 0.0


def test_stage_one_grows_the_canvas_until_the_eos_confidence_reaches_the_threshold():
    # P(EOS) grows along the sequence; EOS is the argmax from position 3 on
    rows = [[0.3, 0.3, 0.3, 0.1], [0.3, 0.3, 0.2, 0.2], [0.3, 0.2, 0.2, 0.3], [0.2, 0.1, 0.1, 0.6]]
    rows += [[0.1, 0.05, 0.05, 0.8]] * 4
    lp = laws(*rows)
    s = DAEDALSampler(initial_length=1, expansion_factor=2, eos_check_tokens=2, initial_eos_threshold=0.5)
    g, checks = s.initial_canvas(lp, torch.tensor([1]))
    # canvas 1: no EOS argmax (c = 0); 3: none (position 2 ties 0.3 with token 0); 5: (0.6 + 0.8) / 2 = 0.7
    assert g.tolist() == [5] and checks.tolist() == [3]
    g, checks = s.initial_canvas(lp, torch.tensor([7]))
    assert g.tolist() == [7] and checks.tolist() == [1]
    never = DAEDALSampler(1, 2, 2, initial_eos_threshold=1.0)
    assert never.initial_canvas(lp, torch.tensor([1]))[0].tolist() == [8]  # grows to L, clamped


def _decide(sampler, lp, x, canvas, block=0, stage=1, values=None):
    extra = {
        "canvas": torch.tensor([canvas]),
        "stage": torch.tensor([stage]),
        "block": torch.tensor([block]),
    }
    values = lp.argmax(-1) if values is None else values
    order = torch.arange(x.shape[1]).unsqueeze(0)
    return sampler.decide(lp, lp, values, order, x, extra, 1)


def test_stage_two_fills_confident_positions_and_inserts_masks_at_the_least_confident_one():
    s = DAEDALSampler(1, expansion_factor=3, eos_check_tokens=2, block_length=8)
    # canvas 4 then EOS; position 1 revealed; tail e = 1 (EOS at 4) gives c = p_4(EOS) = 1 / 2 < 0.9
    x = torch.tensor([[M, 0, M, M, EOS, EOS, EOS, EOS]])
    lp = laws(
        [0.95, 0.02, 0.02, 0.01],  # fill (> 0.9)
        [1.0, 0.0, 0.0, 0.0],
        [0.4, 0.3, 0.25, 0.05],  # 0.4: neither
        [0.05, 0.05, 0.05, 0.85],  # max_prob 0.85... not below 0.1
        *[[0.0, 0.0, 0.0, 1.0]] * 4,
    )
    dec = _decide(s, lp, x, canvas=4)
    assert dec.x.tolist() == [[0, 0, M, M, EOS, EOS, EOS, EOS]]  # no confidence below 0.1: no insertion
    assert dec.drawn.tolist()[0] == [True] + [False] * 7
    low = lp.clone()
    low[0, 2] = torch.tensor([0.08, 0.08, 0.08, 0.76]).log()  # max 0.76: still not low
    low[0, 3] = torch.tensor([0.25, 0.25, 0.25, 0.25]).log()  # 0.25 ... not low either
    dec = _decide(DAEDALSampler(1, 3, 2, block_length=8, low_conf_threshold=0.3), low, x, canvas=4)
    # the least confident masked position below 0.3 is 3 (0.25): replaced by 3 masks, the row shifts by 2
    assert dec.x.tolist() == [[0, 0, M, M, M, M, EOS, EOS]]
    assert dec.origin.tolist() == [[0, 1, 2, -1, -1, -1, 4, 5]]
    assert dec.extra["canvas"].tolist() == [6]


def test_stage_two_takes_the_most_confident_position_when_none_passes_and_stops_growing_at_l():
    s = DAEDALSampler(1, 2, 2, block_length=8, high_conf_threshold=0.99, low_conf_threshold=0.5)
    x = torch.tensor([[M, M, M, M]])
    lp = laws([0.4, 0.3, 0.2, 0.1], [0.6, 0.2, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.2, 0.2])
    dec = _decide(s, lp, x, canvas=4)  # the canvas fills L: no tail, no insertion
    assert dec.x.tolist() == [[M, 0, M, M]] and dec.extra["canvas"].tolist() == [4]


def test_daedal_blocks_advance_past_complete_blocks():
    s = DAEDALSampler(1, 2, 2, block_length=2)
    x = torch.tensor([[M, 1, M, M, EOS, EOS]])
    lp = laws(*[[0.97, 0.01, 0.01, 0.01]] * 4, [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0])
    lp[0, 1] = torch.tensor([0.0, 1.0, 0.0, 0.0]).log()
    dec = _decide(s, lp, x, canvas=4, block=0)
    assert dec.x.tolist() == [[0, 1, M, M, EOS, EOS]] and dec.extra["block"].tolist() == [2]


def test_daedal_stage_one_sets_eos_beyond_the_canvas_in_one_call():
    # P(EOS) = 0.7 everywhere: the first check passes (c = 0.7 >= 0.5) at canvas 2
    den = CountingDenoiser(FixedOutput([0.1, 0.1, 0.1, 0.7]))
    s = DAEDALSampler(initial_length=2, expansion_factor=2, eos_check_tokens=2)
    state = s.begin(den, 3, 6, torch.device("cpu"))
    s.step(state, 0, make_generator(0))
    assert den.calls == 1 and state.x.tolist() == [[M, M, EOS, EOS, EOS, EOS]] * 3
    assert state.trace.reveal_step[0].tolist() == [-1, -1, 0, 0, 0, 0]
    assert state.trace.token_logprob[0, 2:].tolist() == [0.0] * 4


# ---- end-of-text prediction --------------------------------------------------------------------------
def test_predicted_trigger_cuts_after_the_most_confident_masked_eos_prediction():
    x0 = torch.tensor([[M, M, M, M, M]])
    values = torch.tensor([[0, EOS, 1, EOS, EOS]])
    lp = laws(*[[0.25] * 4] * 5)
    lp[0, 1] = torch.tensor([0.1, 0.1, 0.1, 0.7]).log()
    lp[0, 3] = torch.tensor([0.1, 0.1, 0.1, 0.7]).log()  # tie with 1: the lowest index
    lp[0, 4] = torch.tensor([0.2, 0.2, 0.2, 0.4]).log()
    assert end_of_text_start("predicted", x0, x0, values, lp).tolist() == [2]
    x1 = torch.tensor([[0, M, 1, M, M]])
    assert end_of_text_start("committed", x0, x1, values, lp).tolist() == [5]  # no EOS committed
    x1 = torch.tensor([[0, 2, EOS, M, 1]])
    assert end_of_text_start("committed", x0, x1, values, lp).tolist() == [3]
    revealed = torch.tensor([[0, 1, 1, 1, 1]])  # nothing masked: nothing predicted
    assert end_of_text_start("predicted", revealed, revealed, values, lp).tolist() == [5]


def test_end_of_text_overwrites_tokens_after_the_end_and_saves_calls():
    """EOS committed at position 0 in the first step: everything after is EOS, no further call."""
    den = CountingDenoiser(FixedOutput([0.05, 0.05, 0.05, 0.85]))
    s = EoTPSampler(4, trigger="committed", temperature=0.0, tie_break="lowest_index")
    res = s.sample(den, 2, 4, make_generator(0))
    assert res.tokens.tolist() == [[EOS] * 4] * 2 and res.nfe.tolist() == [1, 1]
    assert res.reveal_step.tolist() == [[0] * 4] * 2
    assert s.planned_calls(4) == 4 and s.calls_saved(res).tolist() == [3, 3]
    # the predicted trigger: every masked position predicts EOS with the same confidence, the cut is after
    # the lowest one, position 0, which is also the one revealed
    pred = EoTPSampler(4, temperature=0.0, tie_break="lowest_index").sample(den, 1, 4, make_generator(0))
    assert pred.tokens.tolist() == [[EOS] * 4] and pred.nfe.tolist() == [1]


# ---- the oracle filter -------------------------------------------------------------------------------
def test_eos_run_start():
    y = torch.tensor([[0, EOS, EOS], [0, 1, 2], [EOS, 1, EOS], [EOS, EOS, EOS]])
    assert eos_run_start(y, EOS).tolist() == [1, 3, 2, 0]


def test_the_filter_commits_matches_and_copies_the_block_when_none_matches():
    s = Learn2PDOracleSampler(2, temperature=0.0, end_of_text=False)
    y = torch.tensor([[1, 0, 2, EOS], [2, 2, 2, EOS]])
    x = torch.full((2, 4), M)
    lp = laws(*[[0.4, 0.3, 0.2, 0.1]] * 4).expand(2, -1, -1)
    values = torch.zeros(2, 4, dtype=torch.long)  # the argmax everywhere: token 0
    dec = s.decide(lp, lp, values, None, x, {"reference": y}, 2)
    assert dec.x.tolist() == [[M, 0, M, M], [2, 2, 2, EOS]]
    assert dec.drawn.tolist()[0] == [False, True, False, False] and dec.forced[1].all()


def test_the_filter_ends_the_text_only_where_the_reference_is_eos_to_the_end():
    s = Learn2PDOracleSampler(2, temperature=0.0)
    y = torch.tensor([[0, EOS, EOS, EOS], [EOS, 0, EOS, EOS]])
    x = torch.full((2, 4), M)
    lp = laws(*[[0.1, 0.1, 0.1, 0.7]] * 4).expand(2, -1, -1)
    values = torch.full((2, 4), EOS)
    dec = s.decide(lp, lp, values, None, x, {"reference": y}, 2)
    # row 0: EOS committed at 1, 2, 3 (matches); row 1: the EOS at 0 is followed by 0 in y: no fill
    assert dec.x.tolist() == [[M, EOS, EOS, EOS], [EOS, M, EOS, EOS]]


def test_the_oracle_filter_returns_the_reference_and_splits_its_calls():
    lang = EOS_MC_LANGUAGES["hmm"][0]
    den = CountingDenoiser(OracleDenoiser(lang, on_impossible="uniform"))
    s = Learn2PDOracleSampler(2)
    g = make_generator(5)
    state = s.begin(den, 64, 4, torch.device("cpu"))
    for k in range(s.num_steps(4)):
        s.step(state, k, g)
        if k == 1:
            reference = state.extra["reference"].clone()
            assert bool((state.x == M).all())
    res = s.finish(state)
    assert torch.equal(res.tokens, reference)
    filter_calls = res.nfe - s.reference_calls(4)
    assert s.reference_calls(4) == 2 and bool((filter_calls >= 1).all()) and bool((filter_calls <= 4).all())


# ---- the EOS requirement -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sampler", [EoTPSampler(2), Learn2PDOracleSampler(2), DAEDALSampler(1, 2, 2)], ids=lambda s: s.name
)
def test_length_policies_declare_and_check_the_eos_requirement(sampler):
    caps = sampler.capabilities
    assert caps.needs_eos and caps.revisits and not caps.value_independent_schedule
    with pytest.raises(EOSUnavailableError, match="eos_token"):
        sampler.sample(OracleDenoiser(CYCLE), 2, 4, make_generator(0))
    pad = EOSLanguage(CYCLE, 1 / 4, pad_token=True)  # EOS then a separate PAD token: not EOS padding
    with pytest.raises(EOSUnavailableError, match="needs_eos"):
        sampler.sample(OracleDenoiser(pad), 2, 4, make_generator(0))
    assert math.isfinite(
        float(
            sampler.sample(
                OracleDenoiser(EOS_MC_LANGUAGES["cycle"][0]), 2, 4, make_generator(0)
            ).token_entropy.nansum()
        )
    )
