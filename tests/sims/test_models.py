"""Small-model checks (sims/models): interface conformance, exact likelihood, estimators, measurements,
training, cache. Everything uses tiny networks and a few steps; the full quick-preset comparison is slow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.oracle import OracleDenoiser
from sims.denoisers.passes import EOSUnavailableError
from sims.estimators import (
    decompose_time_estimator,
    mask_loss_table,
    mask_size_moments,
    masked_losses,
    paper_grid,
    proposal_curve,
    quadrature_integral,
    sample_variance_law,
)
from sims.exact import all_sequences, exact_sampler_law
from sims.metrics import evaluate_samples
from sims.models import (
    ARModel,
    ModelDenoiser,
    TransformerConfig,
    TransformerNet,
    get_trained_ar,
    get_trained_denoiser,
    make_config,
    train,
)
from sims.models.experiments import own_measurement_law
from sims.models.measure import (
    exact_k_masks,
    exact_nelbo,
    mc_nelbo,
    measure_estimator_variance,
    per_example_gradients,
)
from sims.models.objectives import (
    ROWS_PER_EXAMPLE,
    draw_examples,
    example_losses,
    histogram_from_curve,
    mask_scheme,
    pre_estimate_curve,
)
from sims.models.training import VALIDATION_SEED
from sims.registry import SAMPLERS, make_language, make_sampler
from sims.sweep import cell_seed

V = 8


def _net(causal=False, seed=0, max_length=8, d_model=16):
    cfg = TransformerConfig(V, max_length, d_model=d_model, n_layers=1, n_heads=2, d_ff=32, causal=causal)
    net = TransformerNet(cfg, make_generator(seed))
    # larger weights than the default init so that predictions are far from uniform
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10.0)
    return net


@pytest.fixture(scope="module")
def lang():
    return make_language("ngram2")


# ---------------------------------------------------------------------------------------------
# Interface conformance
# ---------------------------------------------------------------------------------------------
def test_model_denoiser_interface():
    den = ModelDenoiser(_net())
    g = make_generator(0)
    x = torch.randint(0, V, (32, 6), generator=g)
    masked = torch.rand((32, 6), generator=g) < 0.5
    noisy = torch.where(masked, torch.full_like(x, V), x)
    out = den(noisy)
    assert out.log_probs.shape == (32, 6, V) and out.log_probs.dtype == torch.float64
    assert out.impossible.shape == (32,) and not bool(out.impossible.any())
    p = out.probs
    assert torch.allclose(p.sum(-1), torch.ones(32, 6, dtype=torch.float64), atol=1e-12)
    assert bool((p >= 0).all())
    rev = ~masked
    onehot = torch.nn.functional.one_hot(x, V).double()
    assert torch.equal(p[rev], onehot[rev])
    assert bool((p[masked] > 0).all())  # softmax: full support, mask class never predicted (V outputs)
    # predictions at masked positions do not depend on the hidden values of other masked positions
    noisy2 = torch.where(masked, torch.full_like(x, V), (x + 1) % V)
    same_rev = (noisy2 == noisy).all(1)
    assert torch.allclose(den(noisy2).log_probs[same_rev], out.log_probs[same_rev])
    with pytest.raises(ValueError):
        den(torch.full((2, 3), V + 1))
    with pytest.raises(ValueError):
        den(torch.zeros((2, 9), dtype=torch.long))  # longer than max_length
    with pytest.raises(ValueError):
        ModelDenoiser(_net(causal=True))


@pytest.mark.parametrize("sampler_name", sorted(SAMPLERS))
def test_model_denoiser_works_with_every_sampler(sampler_name, lang):
    den = ModelDenoiser(_net())
    L = 6
    sampler = make_sampler(sampler_name, 3)
    if sampler.capabilities.needs_eos:  # a length policy: the network declares no EOS padding token
        with pytest.raises(EOSUnavailableError, match="needs_eos"):
            sampler.sample(den, 16, L, make_generator(1))
        return
    res = sampler.sample(den, 16, L, make_generator(1))
    assert res.tokens.shape == (16, L) and int(res.tokens.max()) < V and int(res.tokens.min()) >= 0
    assert bool((res.nfe >= 1).all())
    q = evaluate_samples(lang, res.tokens, nfe=res.nfe)
    assert 0 <= q.sequence_error.p <= 1


def test_model_denoiser_exact_sampler_law():
    """The exact-law machinery runs on a trained-network denoiser and returns a probability law."""
    den = ModelDenoiser(_net())
    law = exact_sampler_law(make_sampler("fixed_random", 2), den, 2)
    assert law.shape == (V**2,) and abs(float(law.sum()) - 1) < 1e-12 and bool((law >= 0).all())


# ---------------------------------------------------------------------------------------------
# Autoregressive baseline
# ---------------------------------------------------------------------------------------------
def test_ar_exact_log_likelihood():
    ar = ARModel(_net(causal=True))
    L = 3
    seqs = all_sequences(V, L)
    lp = ar.log_prob(seqs)
    assert abs(float(torch.logsumexp(lp, 0))) < 1e-10  # a normalised law over all V**L sequences
    # step-by-step evaluation with prefixes only (causality): same numbers
    x = seqs[torch.randperm(seqs.shape[0], generator=make_generator(2))[:20]]
    manual = torch.zeros(20, dtype=torch.float64)
    with torch.no_grad():
        for i in range(L):
            logits = ar.net(ar.inputs(x)[:, : i + 1])[:, i].double()
            manual += torch.log_softmax(logits, -1).gather(-1, x[:, i : i + 1]).squeeze(-1)
    assert torch.allclose(manual, ar.log_prob(x), atol=1e-5)
    s = ar.sample(50, 4, make_generator(3))
    assert s.shape == (50, 4) and int(s.max()) < V
    with pytest.raises(ValueError):
        ARModel(_net(causal=False))


def test_ar_sampler_law_matches_likelihood():
    """AR samples follow exp(log_prob): per-sequence frequencies within 5 binomial sigma (L=2)."""
    ar = ARModel(_net(causal=True, seed=4))
    L, n = 2, 40_000
    s = ar.sample(n, L, make_generator(5))
    idx = s[:, 0] * V + s[:, 1]
    freq = torch.bincount(idx, minlength=V * V).double() / n
    p = torch.exp(ar.log_prob(all_sequences(V, L)))
    se = torch.sqrt(p * (1 - p) / n)
    assert bool(((freq - p).abs() <= 5 * se + 1e-9).all())


# ---------------------------------------------------------------------------------------------
# Training estimators
# ---------------------------------------------------------------------------------------------
def test_mirror_and_pair_masks(lang):
    x = lang.sample(20_000, 6, make_generator(6))
    for method in ("mirror", "pair", "standard"):
        ex = draw_examples(x, method, 1e-3, None, V, make_generator(7))
        assert ex.noisy.shape == (20_000, ROWS_PER_EXAMPLE[method], 6)
        assert torch.equal(ex.noisy == V, ex.mask)
        pi = 1e-3 + (1 - 1e-3) * ex.u
        # marginal Bernoulli(pi) of every row: compare mean mask count with L*pi (5 sigma)
        for r in range(ex.mask.shape[1]):
            diff = ex.mask[:, r].double().sum(1) - 6 * pi
            assert abs(float(diff.mean())) <= 5 * float(diff.std()) / math.sqrt(20_000)
        L_pi_R = 6 * pi * ROWS_PER_EXAMPLE[method]
        assert torch.allclose(ex.row_weight[:, 0].double(), 1 / L_pi_R, rtol=1e-6)
    ex = draw_examples(x, "mirror", 1e-3, None, V, make_generator(8))
    low = (1e-3 + (1 - 1e-3) * ex.u) <= 0.5
    m1, m2 = ex.mask[:, 0], ex.mask[:, 1]
    assert not bool((m1 & m2)[low].any())  # disjoint at pi <= 1/2
    assert bool((m1 | m2)[~low].all())  # cover everything at pi > 1/2


def test_example_losses_match_denoiser(lang):
    net = _net()
    den = ModelDenoiser(net)
    x = lang.sample(64, 6, make_generator(9))
    ex = draw_examples(x, "mirror", 1e-3, None, V, make_generator(10))
    got = example_losses(net, ex).double()
    c = torch.stack([masked_losses(den, x, ex.mask[:, r]) for r in range(2)], 1)
    want = (c * ex.row_weight.double()).sum(1)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["standard", "ppots", "mirror", "pair"])
def test_training_estimators_are_unbiased(method):
    """E[example loss] = exact mean of the t-form estimator on the network's own conditionals (5 sigma)."""
    lang = make_language("ngram2")
    L = 3
    net = _net(max_length=L)
    den = ModelDenoiser(net)
    mom = mask_size_moments(mask_loss_table(lang, den, L))
    eps = 1e-2
    sampler = (
        histogram_from_curve(paper_grid(8), np.linspace(2.0, 1.0, 7), 0.1) if method == "ppots" else None
    )
    exact = decompose_time_estimator(
        mom, eps, sampler, {"mirror": "mirror", "pair": "pair"}.get(method, "single")
    )
    n = 40_000
    x = lang.sample(n, L, make_generator(11))
    with torch.no_grad():
        vals = example_losses(net, draw_examples(x, method, eps, sampler, V, make_generator(12))).double()
    se = float(vals.std()) / math.sqrt(n)
    assert abs(float(vals.mean()) - exact.mean) <= 5 * se + 1e-4 * exact.mean  # + float32 network rounding
    # and its variance (delta-method standard error of the sample variance)
    var = float(vals.var())
    se_var = math.sqrt(max(float(((vals - vals.mean()) ** 4).mean()) - var**2, 0) / n)
    assert abs(var - exact.total) <= 5 * se_var + 1e-3 * exact.total


def test_histogram_from_curve_is_a_full_support_density():
    h = histogram_from_curve(paper_grid(10), np.arange(1, 10, dtype=float), uniform_mix=0.2)
    assert h.lo == 0.0 and h.hi == 1.0
    assert abs(quadrature_integral(h.density, 0, 1, breakpoints=h.breakpoints) - 1) < 1e-12
    assert float(h.density(np.array([0.0]))[0]) >= 0.2
    with pytest.raises(ValueError):
        histogram_from_curve(paper_grid(10), np.ones(9), uniform_mix=1.5)


def test_pre_estimate_curve_consistent_with_exact(lang):
    """The network pre-estimate converges to the exact paper-style curve of the same network."""
    L = 3
    net = _net(max_length=L)
    mom = mask_size_moments(mask_loss_table(lang, ModelDenoiser(net), L))
    x = lang.sample(3000, L, make_generator(13))
    est = pre_estimate_curve(net, x, 1e-3, 6, 20, V, make_generator(14), loss_max=None)
    np.testing.assert_allclose(est["w"], proposal_curve(mom, 1e-3, est["grid"], "paper"), rtol=0.05)


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
def test_per_example_gradients_match_autograd(lang):
    net = _net()
    x = lang.sample(5, 6, make_generator(15))
    ex = draw_examples(x, "mirror", 1e-3, None, V, make_generator(16))
    _, g = next(per_example_gradients(net, ex, chunk=8))
    for i in range(5):
        net.zero_grad()
        sub = type(ex)(
            ex.noisy[i : i + 1], ex.targets[i : i + 1], ex.mask[i : i + 1], ex.row_weight[i : i + 1], None
        )
        example_losses(net, sub)[0].backward()
        ref = torch.cat([p.grad.reshape(-1) for p in net.parameters()]).double()
        assert torch.allclose(g[i], ref, rtol=1e-4, atol=1e-6)


#: P-POTS rate law of the measurement tests: a histogram proposal as training builds it.
_PPOTS = histogram_from_curve(paper_grid(8), 1.0 / (paper_grid(8) + 0.1), 0.05)


@pytest.mark.parametrize("method", ["standard", "mirror", "ppots", "ppots_mirror"])
def test_measured_loss_variance_matches_exact(lang, method):
    """Nested MC loss variance of EVERY training estimator against its exact A + B + C, in units of the
    EXACT standard error of an n-example sample variance (sims.estimators.sample_variance: the plug-in SE
    from the sample's own fourth moment is not valid near the floor). MIRROR's pair is one example
    averaged, P-POTS carries the weight 1/p(u), both as in training."""
    L = 3
    net = _net(max_length=L)
    table = mask_loss_table(lang, ModelDenoiser(net), L)
    smp = _PPOTS if method.startswith("ppots") else None
    eps, n = 0.05, 3000
    exact = decompose_time_estimator(mask_size_moments(table, mirror=True), eps, smp, mask_scheme(method))
    law = sample_variance_law(table, eps, smp, mask_scheme(method), n)
    assert law.variance == pytest.approx(exact.total, rel=1e-9)
    assert law.se < 0.2 * law.variance  # the check has power here
    m = measure_estimator_variance(
        net, lang.sample(n, L, make_generator(17)), method, eps, smp, V, make_generator(18), chunk=500
    )
    assert abs(law.z(m.loss_total)) <= 5
    assert abs(m.loss_A + m.loss_B + m.loss_C - m.loss_total) < 1e-9
    assert m.grad_total > 0 and m.grad_A > 0 and m.rows_per_example == ROWS_PER_EXAMPLE[method]
    assert abs(m.loss_A - exact.A) <= 0.2 * exact.A and abs(m.loss_C - exact.C) <= 0.5 * exact.total**0.5


@pytest.mark.parametrize("method", ["standard", "mirror", "ppots", "ppots_mirror"])
def test_small_measurement_near_the_floor_is_judged_by_its_exact_se(lang, method):
    """At the training floor eps = 1e-3 with 128 examples (the training curves' measurement), the
    sample variance is unbiased but heavy-tailed: over seeded replicates, its mean agrees with A + B + C
    within 5 exact standard errors of the mean, every replicate lies within 5 exact SE (Chebyshev: a
    false alarm has probability <= 4%), while the plug-in SE (delta method with the sample's fourth
    moment) puts a sizeable share of replicates beyond 3 'standard errors' (the old contradiction)."""
    L, eps, n, reps = 3, 1e-3, 128, 12
    net = _net(max_length=L)
    table = mask_loss_table(lang, ModelDenoiser(net), L)
    smp = _PPOTS if method.startswith("ppots") else None
    law = sample_variance_law(table, eps, smp, mask_scheme(method), n)
    vals, plug_in = [], []
    for r in range(reps):
        x = lang.sample(n, L, make_generator(cell_seed("floor-x", r)))
        m = measure_estimator_variance(net, x, method, eps, smp, V, make_generator(cell_seed("floor-m", r)))
        vals.append(m.loss_total)
        plug_in.append((m.loss_total - law.variance) / m.loss_total_se)
    assert abs(np.mean(vals) - law.variance) <= 5 * law.se / math.sqrt(reps)
    assert all(abs(law.z(v)) <= 5 for v in vals)
    assert np.mean(np.abs(plug_in) > 3) >= 0.25


def test_mc_nelbo_unbiased_and_exact_nelbo(lang):
    L = 3
    den = ModelDenoiser(_net(max_length=L))
    ex = exact_nelbo(lang, den, L)
    x = lang.sample(4000, L, make_generator(19))
    mc = mc_nelbo(den, x, exact_k_masks(4000, L, make_generator(20)))
    assert abs(mc.mean - ex["nelbo"]) <= 5 * mc.stderr
    assert ex["gap"] > 0
    oracle = exact_nelbo(lang, OracleDenoiser(lang), L)
    assert abs(oracle["gap"]) < 1e-12


# ---------------------------------------------------------------------------------------------
# Training and cache
# ---------------------------------------------------------------------------------------------
def test_short_training_decreases_loss_and_is_reproducible():
    cfg = make_config("ngram2", 4, "test", seed=0, method="mirror", steps=60, eval_every=30, lr=1e-2)
    a = train(cfg, device="cpu")
    init_net = TransformerNet(a.net.cfg, make_generator(cell_seed("init", 0)))
    x_val = make_language("ngram2").sample(cfg.num_val, 4, make_generator(VALIDATION_SEED))
    init_val = mc_nelbo(
        ModelDenoiser(init_net), x_val, exact_k_masks(cfg.num_val, 4, make_generator(VALIDATION_SEED + 1))
    )
    # paired comparison on the same validation set and masks (its standard error is ~0.005 here)
    assert a.history["eval"][-1]["value"] < init_val.mean - 0.1
    b, c = (
        train(make_config("ngram2", 4, "test", seed=0, method="mirror", steps=5, eval_every=5), device="cpu")
        for _ in range(2)
    )
    assert [(r["value"], r["se"]) for r in b.history["eval"]] == [
        (r["value"], r["se"]) for r in c.history["eval"]
    ]
    for p, q in zip(b.net.parameters(), c.net.parameters()):
        assert torch.equal(p, q)


def test_ar_training_decreases_nll():
    m = train(make_config("ngram2", 4, "test", kind="ar", steps=40, eval_every=20, lr=1e-2), device="cpu")
    assert m.history["eval"][-1]["value"] < math.log(V) - 0.3


def test_ppots_training_runs_with_refit_and_measurements():
    cfg = make_config(
        "ngram2",
        4,
        "test",
        method="ppots_mirror",
        steps=6,
        eval_every=3,
        ppots_refit_every=3,
        measure_every=3,
        measure_examples=8,
        exact_eval=True,
    )
    m = train(cfg, device="cpu")
    assert len(m.history["proposal"]) == 2 and len(m.history["measure"]) == 3
    ex = m.history["final"]["exact"]
    assert ex["gap"] > 0 and set(ex["decomposition"]) >= {"standard", "mirror", "ppots_opt"}


def test_cache_trains_once(tmp_path, monkeypatch):
    d1 = get_trained_denoiser("ngram2", 4, "test", seed=1, cache_dir=tmp_path, steps=3, device="cpu")
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1

    def boom(*a, **k):
        raise AssertionError("should have loaded from the cache")

    monkeypatch.setattr("sims.models.cache.train", boom)
    d2 = get_trained_denoiser("ngram2", 4, "test", seed=1, cache_dir=tmp_path, steps=3, device="cpu")
    x = torch.tensor([[V, 1, V, 3]])
    assert torch.equal(d1(x).log_probs, d2(x).log_probs)
    assert d2.describe()["training"]["steps"] == 3
    monkeypatch.undo()
    ar = get_trained_ar("ngram2", 4, "test", cache_dir=tmp_path, steps=3, device="cpu")
    assert isinstance(ar, ARModel) and len(list(tmp_path.glob("*.pt"))) == 2


def test_bad_configs_raise():
    with pytest.raises(ValueError):
        make_config("ngram2", 4, "test", method="nope")
    with pytest.raises(ValueError):
        make_config("ngram2", 4, "test", kind="ar", method="mirror")
    with pytest.raises(ValueError):
        make_config("ngram2", 4, "test", method="mirror", batch_rows=33)
    with pytest.raises(ValueError):
        make_config("ngram2", 4, "nope")
    with pytest.raises(ValueError):
        make_config("ngram2", 4, "test", learning_rate=1.0)
    with pytest.raises(ValueError):
        TransformerConfig(V, 4, d_model=10, n_heads=3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_training_matches_interface():
    m = train(make_config("ngram2", 4, "test", steps=5, eval_every=5), device="cuda")
    out = m.denoiser()(torch.tensor([[V, 1, V, 3]]))
    assert out.log_probs.device.type == "cpu" and abs(float(out.probs[0, 0].sum()) - 1) < 1e-12


@pytest.mark.slow
def test_quick_preset_mdm_vs_ar_exact(tmp_path):
    """Quick preset at L=5: both models beat the uniform law by far; AR is close to the entropy."""
    lang = make_language("ngram2")
    den = get_trained_denoiser("ngram2", 5, "quick", cache_dir=tmp_path, device="cpu")
    ex = exact_nelbo(lang, den, 5)
    assert ex["gap"] < 0.3
    ar = get_trained_ar("ngram2", 5, "quick", cache_dir=tmp_path, device="cpu")
    from sims.models.measure import exact_ar_nll

    assert exact_ar_nll(lang, ar, 5)["gap"] < 0.05


def test_own_measurement_law_rebuilds_the_training_estimator():
    """The figure's exact law of a run's last measurement uses the run's own estimator: for P-POTS +
    MIRROR the histogram proposal rebuilt from the recorded curve gives the recorded exact A + B + C."""
    cfg = make_config(
        "ngram2", 3, "test", seed=0, method="ppots_mirror", steps=4, measure_every=4, exact_eval=True
    )
    model = train(cfg, device="cpu")
    law = own_measurement_law(model)
    own = model.history["final"]["exact"]["decomposition"]["own"]
    assert law["variance"] == pytest.approx(own["total"], rel=1e-9)
    assert law["num_examples"] == model.history["measure"][-1]["num_examples"]
    assert law["se"] > 0 and law["rows_per_example"] == 2
