"""Named standard languages and samplers, so sweeps, the CLI and paper_repro refer to the same objects.

Every standard language is fully determined by its name (fixed seeds), and has exact zeros in its
support so that sequence error is meaningful.
"""

from __future__ import annotations

from collections.abc import Callable

from sims.languages import Language, random_hmm, random_ngram
from sims.languages.formal import dyck_language, mod_sum_language, parity_language
from sims.languages.hard import block_parity_hmm, pair_copy_language, sparse_successor_chain
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.any_process import RemaskCorrector
from sims.sampling.base import Sampler
from sims.sampling.eb import EBSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.first_hitting import FirstHittingSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remdm import ReMDMSampler

LANGUAGES: dict[str, Callable[[], Language]] = {
    # bigram over 8 tokens, 4 allowed successors per token, peaked rows, stationary start
    "ngram2": lambda: random_ngram(2, 8, concentration=0.5, support_size=4, stationary=True, seed=0),
    # trigram over 8 tokens, 4 allowed successors per context
    "ngram3": lambda: random_ngram(3, 8, concentration=0.5, support_size=4, stationary=True, seed=0),
    # HMM: 16 hidden states (4 successors each), 8 tokens (3 emitted per state)
    "hmm": lambda: random_hmm(
        16,
        8,
        transition_concentration=0.5,
        emission_concentration=0.5,
        transition_support=4,
        emission_support=3,
        stationary=True,
        seed=0,
    ),
    # dense bigram (no zeros: SER is identically 0), for perplexity-only studies
    "ngram2_dense": lambda: random_ngram(2, 8, concentration=0.5, stationary=True, seed=0),
    # hard languages for sequence error (sims/languages/hard.py; stand-ins, not Feng et al.'s construction)
    "pair_copy": lambda: pair_copy_language(8),
    "sparse_chain": lambda: sparse_successor_chain(8),
    "block_parity": lambda: block_parity_hmm(4, 2),
    # formal languages with exact automaton oracles (sims/languages/formal.py)
    "parity": lambda: parity_language(),
    "modsum3": lambda: mod_sum_language(3, 3, 0),
    "dyck4": lambda: dyck_language(4),
}


def make_language(name: str, device: str = "cpu") -> Language:
    if name not in LANGUAGES:
        raise ValueError(f"unknown language {name!r}; choose from {sorted(LANGUAGES)}")
    return LANGUAGES[name]().to(device)


SAMPLERS: dict[str, Callable[[int], Sampler]] = {
    "ancestral": lambda k: AncestralSampler(k),
    "ancestral_cosine": lambda k: AncestralSampler(k, schedule="cosine"),
    "fixed_random": lambda k: FixedCountSampler(k, order="random"),
    "max_prob": lambda k: FixedCountSampler(k, order="max_prob"),
    "sampled_prob": lambda k: FixedCountSampler(k, order="sampled_prob"),
    "margin": lambda k: FixedCountSampler(k, order="margin"),
    "entropy": lambda k: FixedCountSampler(k, order="entropy"),
    "first_hitting": lambda k: FirstHittingSampler(),
    # adaptive / self-correcting samplers: the step count K is ignored where the rule is adaptive
    "eb_g0.3": lambda k: EBSampler(0.3),
    "eb_conf_g0.3": lambda k: EBSampler(0.3, "confidence"),
    "fast_dllm_t0.9": lambda k: FastDLLMSampler("threshold", 0.9),
    "fast_dllm_f1": lambda k: FastDLLMSampler("factor", factor=1.0),
    "remdm_cap": lambda k: ReMDMSampler(k, "cap", eta=0.04),
    "remdm_loop": lambda k: ReMDMSampler(k, "loop"),  # K should be a multiple of 20 (loop phases)
    "random_remask2": lambda k: RemaskCorrector(FixedCountSampler(k), 4, 2),
}


def make_sampler(name: str, steps: int) -> Sampler:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}")
    return SAMPLERS[name](steps)
