"""The Hugging Face adapter (sims/models/hf.py) on tiny models built locally from configs (no download).

* a randomly initialised BERT masked LM: the Denoiser interface (float64, normalised over the V language
  tokens, one-hot carry-over, no dependence on hidden values), token/mask/prefix mapping, dtype, and
  samplers, exact sampler laws, sample metrics and the exact NELBO all run on it unchanged;
* the Dream-style shift: a model whose logits are shifted by one position, read with ``shift=True``,
  gives exactly the unshifted model's predictions;
* LLaDA conventions (mask id 126336, ``model(ids).logits``) on a model with a vocabulary that large;
* a small BERT trained in the test with the suite's MDM objective on a synthetic language approaches the
  exact oracle (exact NELBO gap by enumeration; tolerances justified at the tests).
"""

from __future__ import annotations

import math

import pytest
import torch

from sims.categorical import make_generator
from sims.denoisers.base import Denoiser, DenoiserOutput, carry_over
from sims.denoisers.oracle import OracleDenoiser
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


def _bert(vocab=16, hidden=16, layers=1, seed=0, max_pos=16, heads=2):
    torch.manual_seed(seed)  # transformers initialises from the global generator
    cfg = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
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


class _ContextFree(Denoiser):
    """The best denoiser that ignores context: every masked position gets the language's marginal law."""

    def __init__(self, lang, length):
        self.vocab_size = lang.vocab_size
        self.marginals = OracleDenoiser(lang)(torch.full((1, length), lang.vocab_size)).log_probs

    def predict(self, tokens, t=None):
        lp = self.marginals.expand(tokens.shape[0], -1, -1)
        return DenoiserOutput(
            carry_over(lp, tokens, self.vocab_size), torch.zeros(tokens.shape[0], dtype=bool)
        )


def _train_bert_on_ngram2(steps: int, length: int = 4):
    """A 2-layer BERT (hidden 64, 4 heads, ~70k parameters) trained with the suite's standard MDM estimator
    (rate floor 1e-3, 64 sequences per step, AdamW 1e-3, clipping 1) on ngram2 (V = 8); seeded."""
    lang = make_language("ngram2")
    V = lang.vocab_size
    bert = _bert(vocab=V + 4, hidden=64, layers=2, heads=4, seed=0)
    den = masked_lm_denoiser(bert, list(range(4, 4 + V)), MASK, prefix_ids=[CLS], suffix_ids=[SEP])
    opt = torch.optim.AdamW(bert.parameters(), lr=1e-3)
    g_data, g_mask = make_generator(11), make_generator(12)
    bert.train()
    for _ in range(steps):
        ex = draw_examples(lang.sample(64, length, g_data), "standard", 1e-3, None, V, g_mask)
        loss = example_losses(lambda z: den.logits(z).float(), ex).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bert.parameters(), 1.0)
        opt.step()
    bert.eval()
    return lang, den


def test_masked_lm_trained_in_the_test_approaches_the_oracle():
    """Exact NELBO gap to the oracle (enumeration; a weighted KL of the network's conditionals to the
    true ones), after 250 steps, against two references at L = 4: the best context-free denoiser (true
    marginals, gap 0.653 nats/token) and the untrained network (0.82). Measured on this machine: 0.364
    after 250 steps (0.12 after 600, see the slow test). Tolerance 0.45: a network that learnt the
    context (at least a third of the context-free gap removed) passes, one that only learnt marginals
    cannot; the value is deterministic given the seeds up to float32 summation order."""
    lang, den = _train_bert_on_ngram2(250)
    ex = exact_nelbo(lang, den, 4)
    assert math.isclose(ex["entropy"], lang.entropy(4) / 4, rel_tol=1e-12)
    context_free = exact_nelbo(lang, _ContextFree(lang, 4), 4)["gap"]
    assert 0 < ex["gap"] < 0.45 < context_free


@pytest.mark.slow
def test_masked_lm_trained_longer_is_close_to_the_oracle():
    """600 steps: measured gap 0.120 nats/token and sampler-law KL/L 0.080; tolerance 0.2, under a third of the
    context-free gap; the exact sample law at one token per step is close too (KL(q||p)/L < 0.2)."""
    lang, den = _train_bert_on_ngram2(600)
    assert exact_nelbo(lang, den, 4)["gap"] < 0.2
    law = exact_sampler_law(law_sampler(4), den, 4)
    assert exact_law_metrics(exact_log_joint(lang, 4), law, 4).kl_data_to_sampler / 4 < 0.2
