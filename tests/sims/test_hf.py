"""The Hugging Face adapter (sims/models/hf.py) on tiny models built locally from configs (no download).

* a randomly initialised BERT masked LM: the Denoiser interface (float64, normalised over the V language
  tokens, one-hot carry-over, no dependence on hidden values), token/mask/prefix mapping, dtype, and
  samplers, exact sampler laws, sample metrics and the exact NELBO all run on it unchanged;
* the Dream-style shift: a model whose logits are shifted by one position, read with ``shift=True``,
  gives exactly the unshifted model's predictions;
* LLaDA conventions (mask id 126336, ``model(ids).logits``) on a model with a vocabulary that large;
* a tiny BERT trained in the test with the suite's MDM objective on a synthetic language gets close to
  the exact oracle (exact NELBO gap by enumeration; the tolerance is justified at the test).
"""

from __future__ import annotations

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.exact import exact_log_joint, exact_sampler_law
from sims.metrics import evaluate_samples, exact_law_metrics
from sims.models.hf import LLADA_MASK_ID, HFDenoiser, dream_denoiser, llada_denoiser, masked_lm_denoiser
from sims.models.measure import exact_nelbo
from sims.models.objectives import draw_examples, example_losses
from sims.models.quality import law_sampler
from sims.registry import make_language
from sims.sampling.ancestral import AncestralSampler

transformers = pytest.importorskip("transformers")

# model vocabulary: 0 [PAD], 1 [CLS], 2 [SEP], 3 [MASK], 4.. the language's tokens (shuffled on purpose)
CLS, SEP, MASK = 1, 2, 3


def _bert(vocab=16, hidden=16, layers=1, seed=0, max_pos=16):
    torch.manual_seed(seed)  # transformers initialises from the global generator
    cfg = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_pos,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForMaskedLM(cfg).eval()


def _ids(V):
    return [4 + (2 * v + 1) % V for v in range(V)]  # a permutation of 4..4+V-1


def test_interface_on_random_masked_lm():
    V, L = 3, 4
    den = masked_lm_denoiser(_bert(), _ids(V), MASK, prefix_ids=[CLS], suffix_ids=[SEP])
    assert den.vocab_size == V and den.mask_id == V
    g = make_generator(0)
    x = torch.randint(0, V + 1, (32, L), generator=g)
    out = den(x)
    assert out.log_probs.dtype == torch.float64 and out.log_probs.shape == (32, L, V)
    assert torch.allclose(out.probs.sum(-1), torch.ones(32, L, dtype=torch.float64), atol=1e-12)
    rev = x < V
    assert torch.all(out.probs[rev].argmax(-1) == x[rev]) and torch.all(out.probs[rev].max(-1).values == 1)
    # the model input: [CLS] mapped tokens [SEP]
    ids = den.model_input(torch.tensor([[0, V, 2, 1]]))
    assert ids.tolist() == [[CLS, _ids(V)[0], MASK, _ids(V)[2], _ids(V)[1], SEP]]
    # the prediction at masked positions equals the model's logits restricted to token_ids, renormalised
    model = den.model
    with torch.no_grad():
        raw = model(input_ids=ids).logits[0, 1:-1].double()[:, _ids(V)]
    got = den(torch.tensor([[0, V, 2, 1]])).log_probs[0, 1]
    assert torch.allclose(got, torch.log_softmax(raw[1], -1), atol=1e-6)
    # masked positions' laws depend only on revealed tokens (hidden values are not looked at)
    a = torch.tensor([[V, 1, V, 0]])
    assert torch.equal(den(a).log_probs, den(a.clone()).log_probs)
    assert den.describe()["model_type"] == "bert"


def test_samplers_metrics_and_exact_laws_run_unchanged():
    lang = make_language("block_parity")  # V = 2
    L = 4
    den = masked_lm_denoiser(_bert(), [5, 4], MASK)
    g = make_generator(1)
    res = law_sampler(2).sample(den, 64, L, g)
    assert res.tokens.shape == (64, L) and int(res.tokens.max()) < 2
    res2 = AncestralSampler(4).sample(den, 64, L, g)
    q = evaluate_samples(lang, res2.tokens, nfe=res2.nfe)
    assert 0 <= q.to_dict()["sequence_error"]["p"] <= 1
    law = exact_sampler_law(law_sampler(2), den, L)
    assert abs(float(law.sum()) - 1) < 1e-9
    m = exact_law_metrics(exact_log_joint(lang, L), law, L)
    assert 0 < m.sequence_error < 1 and m.kl_data_to_sampler > 0
    ex = exact_nelbo(lang, den, L, eps=1e-3)
    assert ex["gap"] > 0 and "own" in ex["decomposition"]


def test_dtype_option_keeps_float64_normalised_output():
    den = HFDenoiser(_bert(), _ids(3), MASK, dtype=torch.bfloat16)
    assert next(den.model.parameters()).dtype == torch.bfloat16
    out = den(torch.tensor([[3, 0, 3, 1]]))
    assert out.log_probs.dtype == torch.float64
    assert torch.allclose(out.probs.sum(-1), torch.ones(1, 4, dtype=torch.float64), atol=1e-12)


class _Shifted(torch.nn.Module):
    """A Dream-like model: its logits at position i are the wrapped model's prediction for i + 1."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def forward(self, input_ids, attention_mask=None):
        lg = self.inner(input_ids=input_ids, attention_mask=attention_mask).logits
        out = torch.cat([lg[:, 1:], lg[:, -1:]], dim=1)
        return transformers.modeling_outputs.MaskedLMOutput(logits=out)


def test_dream_shift_recovers_the_unshifted_predictions():
    bert = _bert(seed=3)
    plain = HFDenoiser(bert, _ids(3), MASK, prefix_ids=[CLS])
    shifted = HFDenoiser(_Shifted(bert), _ids(3), MASK, prefix_ids=[CLS], shift=True)
    x = torch.tensor([[3, 0, 3, 3], [1, 3, 2, 3], [3, 3, 3, 3]])
    assert torch.allclose(plain(x).log_probs, shifted(x).log_probs, atol=1e-12)
    unshifted_read = HFDenoiser(_Shifted(bert), _ids(3), MASK, prefix_ids=[CLS], shift=False)
    assert not torch.allclose(plain(x).log_probs, unshifted_read(x).log_probs)
    bert.config.mask_token_id = MASK
    assert dream_denoiser(_Shifted(bert), _ids(3)).shift
    with pytest.raises(ValueError, match="mask_token_id"):
        dream_denoiser(torch.nn.Linear(2, 2), _ids(3))


def test_llada_conventions_and_bad_arguments():
    big = _bert(vocab=LLADA_MASK_ID + 1, hidden=4)  # a vocabulary that holds LLaDA's mask id
    den = llada_denoiser(big, [10, 11])
    assert den.mask_token_id == 126336 and not den.shift and not den.time_conditioned
    assert den.model_input(torch.tensor([[2, 0]])).tolist() == [[126336, 10]]
    assert den(torch.tensor([[2, 0]])).log_probs.shape == (1, 2, 2)
    small = _bert()
    with pytest.raises(ValueError, match="does not contain"):
        HFDenoiser(small, [4, 5], 99)
    with pytest.raises(ValueError, match="distinct"):
        HFDenoiser(small, [4, 4], MASK)
    with pytest.raises(ValueError, match="also the id"):
        HFDenoiser(small, [4, 3], MASK)


def test_masked_lm_trained_in_the_test_is_close_to_the_oracle():
    """A 2-layer BERT (hidden 32) trained for 400 steps with the suite's standard MDM estimator on
    block_parity (blocks of 4 bits with even parity; H/L = 0.520 nats/token at L = 4).

    Tolerance: the exact NELBO gap must fall below 0.05 nats/token. A network that ignores the parity
    constraint (uniform bits) has gap (1/L) E_k[...] = 0.173 nats/token at L = 4 (log 2 on every
    single-masked parity-determined token, weighted 1/k); the measured gap after 400 steps is ~0.01 on
    this machine (seeded, CPU), so 0.05 separates a network that learnt the constraint from one that did
    not with a wide margin, and the exact gap is deterministic given the seeds (no Monte Carlo).
    """
    lang = make_language("block_parity")
    L, V = 4, 2
    bert = _bert(vocab=8, hidden=32, layers=2, seed=0)
    den = masked_lm_denoiser(bert, [4, 5], MASK, prefix_ids=[CLS], suffix_ids=[SEP])
    uniform_gap = exact_nelbo(lang, masked_lm_denoiser(_bert(vocab=8), [4, 5], MASK), L)["gap"]
    opt = torch.optim.AdamW(bert.parameters(), lr=3e-3)
    g_data, g_mask = make_generator(11), make_generator(12)
    bert.train()
    for _ in range(400):
        x = lang.sample(64, L, g_data)
        ex = draw_examples(x, "standard", 1e-3, None, V, g_mask)
        loss = example_losses(lambda z: den.logits(z).float(), ex).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bert.parameters(), 1.0)
        opt.step()
    bert.eval()
    ex = exact_nelbo(lang, den, L)
    assert math.isclose(ex["entropy"], lang.entropy(L) / L, rel_tol=1e-12)
    assert ex["gap"] < 0.05 < uniform_gap
