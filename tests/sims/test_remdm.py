"""ReMDM (sims/sampling/remdm.py, remdm_rules.py, remdm_exact.py): Theorem 3.1 (marginals = MDLM's) checked
exactly, sigma = 0 = MDLM, dense exact laws vs the plain enumeration of sims.exact, and the batched sampler
vs the history-dependent exact law of ``conf`` and the exact intermediate state laws. The final law of the
variants with an exact kernel, calls and bad arguments: tests/conformance (registry entries remdm_*)."""

import itertools
import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_sampler_law
from sims.languages.random import random_ngram
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.remdm import ReMDMSampler
from sims.sampling.remdm_exact import (
    all_states,
    exact_remdm_laws,
    final_sequence_law,
    masked_probability_path,
    nominal_masked_fraction,
)
from tests.helpers import P_MIN, PointMassDenoiser, grouped_chi_square_pvalue

LANG = random_ngram(2, 3, concentration=0.3, support_size=2, seed=3)
STATE_INDEPENDENT = [("cap", 0.3), ("rescale", 0.5), ("fb", None), ("loop", 0.1), ("mdlm", None)]


def make(variant, eta, steps=20, **kw):
    return ReMDMSampler(steps, variant, eta=eta, **kw)


@pytest.mark.parametrize("variant,eta", STATE_INDEPENDENT)
@pytest.mark.parametrize("steps", [20, 40])
def test_theorem_3_1_per_position_masked_probability(variant, eta, steps):
    """Two-state recursion: P(masked after step k) = 1 - alpha(t_{k+1}) (grids with t_on, t_off on them)."""
    s = make(variant, eta, steps)
    path, nominal = masked_probability_path(s), nominal_masked_fraction(s)
    assert max(abs(a - b) for a, b in zip(path, nominal)) < 1e-12


def test_loop_leaves_the_schedule_when_the_grid_misses_t_on():
    s = make("loop", 0.1, steps=7)  # t_on = 0.55 is not a grid point of linspace(1, 0, 8)
    dev = max(abs(a - b) for a, b in zip(masked_probability_path(s), nominal_masked_fraction(s)))
    assert dev > 0.05


@pytest.mark.parametrize("variant,eta", STATE_INDEPENDENT)
def test_theorem_3_1_full_state_law_with_the_x_conditioned_posterior(variant, eta):
    """With x_theta = one-hot(x), the state law at every grid time is prod_l Cat(alpha x_l + (1-alpha) M)."""
    x, V, L = (0, 2, 1), 3, 3
    s = make(variant, eta)
    laws = exact_remdm_laws(s, PointMassDenoiser(x, V), L)
    states = all_states(V, L)
    for k, law in enumerate(laws):
        m = nominal_masked_fraction(s)[k]
        ok = ((states == torch.tensor(x)) | (states == V)).all(1)
        nmask = (states == V).sum(1).double()
        expected = torch.where(ok, m**nmask * (1 - m) ** (L - nmask), 0.0)
        assert torch.allclose(law, expected, atol=1e-13), (variant, k)


def test_conf_variant_masks_more_than_the_schedule():
    """As implemented (sigma = 0 on masked positions), conf breaks Theorem 3.1's premise: measured exactly."""
    x, V, L = (0, 2, 1), 3, 3
    s = make("conf", None)
    laws = exact_remdm_laws(s, PointMassDenoiser(x, V), L)
    masked_frac = [float(((all_states(V, L) == V).double().mean(1) * law).sum()) for law in laws]
    excess = [a - b for a, b in zip(masked_frac, nominal_masked_fraction(s))]
    assert min(excess) > -1e-13 and max(excess) > 1e-3
    assert abs(excess[-1]) < 1e-13  # the last step has sigma_max = 0


@pytest.mark.parametrize("variant,eta", STATE_INDEPENDENT)
def test_mask_pattern_law_equals_mdlm_with_the_oracle(variant, eta):
    """Which positions are masked evolves independently of the tokens: same product-Bernoulli law as MDLM."""
    V, L = 3, 3
    den = OracleDenoiser(LANG, on_impossible="uniform")
    s = make(variant, eta)
    laws = exact_remdm_laws(s, den, L)
    states = all_states(V, L)
    for k, law in enumerate(laws):
        m = nominal_masked_fraction(s)[k]
        for pattern in itertools.product([False, True], repeat=L):
            sel = ((states == V) == torch.tensor(pattern)).all(1)
            nm = sum(pattern)
            assert math.isclose(float(law[sel].sum()), m**nm * (1 - m) ** (L - nm), abs_tol=1e-13)


def test_sigma_zero_is_mdlm_and_dense_laws_match_plain_enumeration():
    L = 4
    den = OracleDenoiser(LANG, on_impossible="uniform")
    anc = exact_sampler_law(AncestralSampler(6), den, L)
    assert torch.allclose(exact_sampler_law(ReMDMSampler(6, "mdlm"), den, L), anc, atol=1e-15)
    for variant, eta in STATE_INDEPENDENT:
        s = make(variant, eta, steps=6 if variant != "loop" else 20)
        dense = final_sequence_law(exact_remdm_laws(s, den, L)[-1], 3, L)
        assert torch.allclose(dense, exact_sampler_law(s, den, L), atol=1e-13)


def test_conf_batched_sampler_matches_its_history_dependent_exact_law():
    """``conf`` has no per-sequence kernel (its sigma reads stored confidences), so the conformance suite
    cannot check it; its exact law carries the confidences in the state."""
    sampler, L = ReMDMSampler(6, "conf"), 3
    den = OracleDenoiser(LANG, on_impossible="uniform")
    law = final_sequence_law(exact_remdm_laws(sampler, den, L)[-1], 3, L)
    res = sampler.sample(den, 12000, L, make_generator(7), batch_size=4000)
    assert grouped_chi_square_pvalue(res.tokens, law, 3) > P_MIN
    assert bool((res.nfe <= sampler.num_steps(L)).all())


@pytest.mark.parametrize(
    "sampler,L",
    [
        (ReMDMSampler(8, "cap", eta=0.2), 4),
        (ReMDMSampler(8, "rescale", eta=0.5), 4),
        (ReMDMSampler(20, "loop", eta=0.1), 4),
        (ReMDMSampler(6, "conf"), 3),
    ],
)
def test_intermediate_state_law_matches_exact(sampler, L):
    """Partially masked states half-way through the run (more sensitive to sigma than the final law)."""
    den = OracleDenoiser(LANG, on_impossible="uniform")
    laws = exact_remdm_laws(sampler, den, L)
    k = sampler.steps // 2
    g = make_generator(13)
    state = sampler.begin(den, 12000, L, torch.device("cpu"))
    for step in range(k + 1):
        sampler.step(state, step, g)
    assert grouped_chi_square_pvalue(state.x, laws[k], 4) > P_MIN  # base V+1 = 4 indexes partial sequences
    if sampler.variant == "conf":  # its mask pattern differs from MDLM's, so the check has power against it
        wrong = exact_remdm_laws(ReMDMSampler(sampler.steps, "mdlm"), den, L)[k]
        assert grouped_chi_square_pvalue(state.x, wrong, 4) < 1e-6
    # (for the other variants the mask pattern law *is* MDLM's, by Theorem 3.1; only token values differ)


def test_variants_without_eta_reject_one_and_conf_has_no_kernel():
    with pytest.raises(ValueError, match="eta"):
        ReMDMSampler(10, "conf", eta=0.1)
    assert ReMDMSampler(10, "rescale").eta == 0.015 and ReMDMSampler(10, "cap").eta == 0.008
    with pytest.raises(NotImplementedError):
        ReMDMSampler(4, "conf").exact_transitions((3, 3), 0, torch.zeros(2, 3), 2)
    with pytest.raises(ValueError, match="state"):
        masked_probability_path(ReMDMSampler(4, "conf"))


@pytest.mark.parametrize("steps", [1, 2, 3, 7])
def test_loop_on_a_coarse_grid_still_ends_fully_revealed(steps):
    """K < 20: the last step starts inside the loop window; it must reveal everything (alpha(0) = 1)."""
    den = OracleDenoiser(LANG, on_impossible="uniform")
    s = ReMDMSampler(steps, "loop")
    law = exact_sampler_law(s, den, 3)
    assert abs(float(law.sum()) - 1) < 1e-12
    res = s.sample(den, 200, 6, make_generator(0))
    assert int((res.tokens == LANG.vocab_size).sum()) == 0
