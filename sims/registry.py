"""Named standard languages and samplers, so sweeps, the CLI, paper_repro and the tests use the same objects.

One registry drives the conformance suite (``tests/conformance``; the model is pytorch-struct's test
registry): registering a language or a sampler here is enough for it to be tested. A language entry
carries an enumerable test length; a sampler entry carries its factory ``K -> Sampler``, whether K is
used, a tiny test configuration, further configurations of the same family (``variants``) and examples
of bad arguments. The key of a sampler entry equals the name of the sampler it makes. The entry records live
in :mod:`sims.registry_base`; the decoding policies of ``docs/decoding_policies.md`` are registered in
:mod:`sims.registry_policies` and merged into :data:`SAMPLERS`.

Every standard language is fully determined by its name (fixed seeds), and has exact zeros in its
support so that sequence error is meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sims.languages import Language, random_hmm, random_ngram
from sims.languages.corpus import stdlib_language
from sims.languages.eos import EOSLanguage
from sims.languages.formal import dyck_language, mod_sum_language, parity_language
from sims.languages.free_group import two_sided_dyck_language
from sims.languages.hard import block_parity_hmm, pair_copy_language, sparse_successor_chain
from sims.languages.puzzles import maze_language, sudoku_language
from sims.registry_base import BadArgument, SamplerEntry
from sims.registry_base import common_bad as _common_bad
from sims.registry_policies import POLICY_SAMPLERS
from sims.registry_policies_draft import DRAFT_POLICY_SAMPLERS
from sims.registry_policies_length import LENGTH_POLICY_SAMPLERS
from sims.registry_policies_loo import LOO_POLICY_SAMPLERS
from sims.sampling.ancestral import AncestralSampler
from sims.sampling.base import Sampler
from sims.sampling.eb import EBSampler
from sims.sampling.entropy_smc import EntropySMCSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.first_hitting import FirstHittingSampler
from sims.sampling.fixed_count import FixedCountSampler
from sims.sampling.remask import RemaskCorrector
from sims.sampling.remdm import ReMDMSampler
from sims.validation import InvalidArgumentError, check_device, check_int, check_type


@dataclass(frozen=True)
class LanguageEntry:
    """A standard language: its factory and a length at which all V**L sequences can be enumerated."""

    make: Callable[[], Language]
    description: str
    test_length: int


LANGUAGES: dict[str, LanguageEntry] = {
    "ngram2": LanguageEntry(
        lambda: random_ngram(2, 8, concentration=0.5, support_size=4, stationary=True, seed=0),
        "bigram over 8 tokens, 4 allowed successors per token, peaked rows, stationary start",
        3,
    ),
    "ngram3": LanguageEntry(
        lambda: random_ngram(3, 8, concentration=0.5, support_size=4, stationary=True, seed=0),
        "trigram over 8 tokens, 4 allowed successors per context",
        3,
    ),
    "hmm": LanguageEntry(
        lambda: random_hmm(
            16,
            8,
            transition_concentration=0.5,
            emission_concentration=0.5,
            transition_support=4,
            emission_support=3,
            stationary=True,
            seed=0,
        ),
        "HMM: 16 hidden states (4 successors each), 8 tokens (3 emitted per state)",
        3,
    ),
    "ngram2_dense": LanguageEntry(
        lambda: random_ngram(2, 8, concentration=0.5, stationary=True, seed=0),
        "dense bigram (no zeros: SER is identically 0), for perplexity-only studies",
        3,
    ),
    # hard languages for sequence error (sims/languages/hard.py; stand-ins, not Feng et al.'s construction)
    "pair_copy": LanguageEntry(
        lambda: pair_copy_language(8),
        "pair copy over 8 symbols (16 tokens): each symbol followed by its copy",
        3,
    ),
    "sparse_chain": LanguageEntry(
        lambda: sparse_successor_chain(8), "stationary bigram: v followed by v+1 or v+2 mod 8", 3
    ),
    "block_parity": LanguageEntry(
        lambda: block_parity_hmm(4, 2), "blocks of 4 bits with even parity (HMM)", 8
    ),
    # formal languages with exact automaton oracles (sims/languages/formal.py)
    "parity": LanguageEntry(lambda: parity_language(), "bit strings with an even number of ones", 6),
    "modsum3": LanguageEntry(lambda: mod_sum_language(3, 3, 0), "ternary strings with sum = 0 mod 3", 5),
    "dyck4": LanguageEntry(lambda: dyck_language(4), "balanced brackets of depth at most 4", 8),
    # puzzle and free-group languages (sims/languages/{puzzles,free_group}.py; exact oracles)
    "sudoku4": LanguageEntry(
        lambda: sudoku_language(), "solved 4x4 Sudoku grids (uniform on 288; L = 16, prefixes at L < 16)", 6
    ),
    "maze3": LanguageEntry(lambda: maze_language(3, 3), "DFS mazes on a 3x3 grid as 12 edge bits", 12),
    "dyck2sided_k2": LanguageEntry(
        lambda: two_sided_dyck_language(2, 3), "two-sided Dyck-2 (free-group identity), depth <= 3", 6
    ),
    # languages fitted to the Python standard library's source (sims/languages/corpus; fitted on first use,
    # then cached under results/languages/; the full set, incl. V = 4096 BPE bigrams and HMMs, is available
    # by name through sims.languages.corpus.corpus_language)
    "stdlib_char2": LanguageEntry(
        lambda: stdlib_language("stdlib_char2"),
        "character bigram fitted to the stdlib (V = 98, top-16 rows + Witten-Bell teleport)",
        2,
    ),
    "stdlib_char2_zeros": LanguageEntry(
        lambda: stdlib_language("stdlib_char2_zeros"),
        "character bigram fitted to the stdlib with exact zeros (V = 98, top-8 rows)",
        2,
    ),
    # variable length: content, then EOS (id V) repeated to the end (sims/languages/eos.py)
    "ngram2_eos": LanguageEntry(
        lambda: EOSLanguage(LANGUAGES["ngram2"].make(), 1 / 16, name="ngram2_eos"),
        "ngram2 content of geometric length (stop 1/16 per token), then EOS padding",
        3,
    ),
    "hmm_eos": LanguageEntry(
        lambda: EOSLanguage(LANGUAGES["hmm"].make(), 1 / 16, name="hmm_eos"),
        "hmm content of geometric length (stop 1/16 per token), then EOS padding",
        3,
    ),
    "dyck4_eos": LanguageEntry(
        lambda: EOSLanguage(dyck_language(4), 1 / 4, name="dyck4_eos"),
        "balanced brackets (depth <= 4) ending with probability 1/4 at each return to depth 0, then EOS",
        6,
    ),
}


def check_language_name(name: str) -> str:
    """``name`` if it is a registered language; else an error listing the registered ones."""
    check_type(name, str, "language", "a language name (str)")
    if name not in LANGUAGES:
        raise InvalidArgumentError(f"unknown language {name!r}; choose from {sorted(LANGUAGES)}")
    return name


def check_sampler_name(name: str) -> str:
    """``name`` if it is a registered sampler; else an error listing the registered ones."""
    check_type(name, str, "sampler", "a sampler name (str)")
    if name not in SAMPLERS:
        raise InvalidArgumentError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}")
    return name


def make_language(name: str, device: str = "cpu") -> Language:
    """The registered language ``name`` on ``device`` (a checked device name)."""
    check_language_name(name)
    check_device(device)
    return LANGUAGES[name].make().to(device)


SAMPLERS: dict[str, SamplerEntry] = {
    "ancestral": SamplerEntry(
        lambda k: AncestralSampler(k),
        True,
        "MDLM ancestral (Bernoulli reveals), linear schedule",
        variants={
            "t_min_argmax": lambda: AncestralSampler(2, t_min=0.3, final_fill="argmax"),
            "t_min_sample_T0.7": lambda: AncestralSampler(2, t_min=0.3, final_fill="sample", temperature=0.7),
            # MDLM's float32 Gumbel-max: calls on every step with masks, reuses them on empty steps
            "float32_gumbel_K8": lambda: AncestralSampler(
                8, t_min=1e-5, categorical_precision="float32_gumbel"
            ),
        },
        bad_arguments=(
            *_common_bad(lambda **kw: AncestralSampler(2, **kw)),
            BadArgument("final_fill", lambda: AncestralSampler(2, final_fill="mode")),
        ),
    ),
    "ancestral_cosine": SamplerEntry(
        lambda k: AncestralSampler(k, schedule="cosine"),
        True,
        "MDLM ancestral, cosine schedule (MD4 / MaskGIT)",
        test_steps=3,
    ),
    "fixed_random": SamplerEntry(
        lambda k: FixedCountSampler(k, score="random"),
        True,
        "fixed count (LLaDA counts), uniformly random positions",
        variants={
            "schedule_counts_cosine": lambda: FixedCountSampler(3, count_rule="schedule", schedule="cosine"),
            "block2": lambda: FixedCountSampler(2, block_length=2),
            "dream_counts": lambda: FixedCountSampler(4, count_rule="dream"),
        },
        bad_arguments=(
            *_common_bad(lambda **kw: FixedCountSampler(2, **kw)),
            BadArgument("score", lambda: FixedCountSampler(2, score="confidence")),
            BadArgument("count_rule", lambda: FixedCountSampler(2, count_rule="uniform")),
            BadArgument("tie_break", lambda: FixedCountSampler(2, tie_break="highest_index")),
            BadArgument("block_length", lambda: FixedCountSampler(2, block_length=3).num_steps(4)),
        ),
    ),
    "fixed_max_prob": SamplerEntry(
        lambda k: FixedCountSampler(k, score="max_prob"),
        True,
        "fixed count, highest max probability first (Fast-dLLM / Dream at T=0 confidence)",
        variants={
            "lowest_index": lambda: FixedCountSampler(2, score="max_prob", tie_break="lowest_index"),
            "argmax": lambda: FixedCountSampler(2, score="max_prob", temperature=0.0),
        },
    ),
    "fixed_sampled_prob": SamplerEntry(
        lambda k: FixedCountSampler(k, score="sampled_prob"),
        True,
        "fixed count, highest probability of the drawn token first (LLaDA low_confidence)",
    ),
    "fixed_margin": SamplerEntry(
        lambda k: FixedCountSampler(k, score="margin"),
        True,
        "fixed count, highest top-1 minus top-2 probability first (Dream topk_margin)",
        variants={"T0.5": lambda: FixedCountSampler(2, score="margin", temperature=0.5)},
    ),
    "fixed_entropy": SamplerEntry(
        lambda k: FixedCountSampler(k, score="entropy"),
        True,
        "fixed count, lowest predictive entropy first (Dream entropy)",
        test_steps=3,
        variants={"block2": lambda: FixedCountSampler(4, score="entropy", block_length=2)},
    ),
    "first_hitting": SamplerEntry(
        lambda k: FirstHittingSampler(),
        False,
        "first hitting: one token per event, exactly L calls",
        bad_arguments=_common_bad(lambda **kw: FirstHittingSampler(**kw)),
    ),
    # adaptive / self-correcting samplers
    "eb_entropy_g0.3": SamplerEntry(
        lambda k: EBSampler(0.3, "entropy"),
        False,
        "EB-sampler, entropy order, gamma = 0.3 nats",
        variants={
            "block2_g0.5": lambda: EBSampler(0.5, "entropy", block_length=2),
            "T0.7_g0.4": lambda: EBSampler(0.4, "entropy", temperature=0.7),
            "margin_g1": lambda: EBSampler(1.0, "margin"),
        },
        bad_arguments=(
            *_common_bad(lambda **kw: EBSampler(0.3, **kw)),
            BadArgument("gamma", lambda: EBSampler(-0.1)),
            BadArgument("score", lambda: EBSampler(0.3, "sampled_prob")),
            BadArgument("block_length", lambda: EBSampler(0.3, block_length=3).num_steps(4)),
        ),
    ),
    "eb_max_prob_g0.3": SamplerEntry(
        lambda k: EBSampler(0.3, "max_prob"),
        False,
        "EB-sampler, max-probability order (the paper's confidence), gamma = 0.3 nats",
        variants={"g0.6": lambda: EBSampler(0.6, "max_prob")},
    ),
    "fast_dllm_threshold_t0.9": SamplerEntry(
        lambda k: FastDLLMSampler("threshold", 0.9),
        False,
        "Fast-dLLM threshold rule, tau = 0.9",
        variants={
            "t0.7": lambda: FastDLLMSampler("threshold", 0.7),
            "t0.6_sampled_prob": lambda: FastDLLMSampler("threshold", 0.6, score="sampled_prob"),
            "t0.8_block2_T0.8": lambda: FastDLLMSampler("threshold", 0.8, block_length=2, temperature=0.8),
        },
        bad_arguments=(
            *_common_bad(lambda **kw: FastDLLMSampler(**kw)),
            BadArgument("rule", lambda: FastDLLMSampler("nope")),
            BadArgument("threshold", lambda: FastDLLMSampler(threshold=1.5)),
            BadArgument("score", lambda: FastDLLMSampler(score="entropy")),
        ),
    ),
    "fast_dllm_factor_f1": SamplerEntry(
        lambda k: FastDLLMSampler("factor", factor=1.0),
        False,
        "Fast-dLLM factor rule, f = 1 (the released default argument)",
        variants={
            "f1.5": lambda: FastDLLMSampler("factor", factor=1.5),
            "f1.5_code": lambda: FastDLLMSampler("factor", factor=1.5, factor_variant="code"),
        },
        bad_arguments=(
            BadArgument("factor", lambda: FastDLLMSampler("factor", factor=0)),
            BadArgument("factor_variant", lambda: FastDLLMSampler("factor", factor_variant="x")),
        ),
    ),
    "remdm_cap_eta0.04": SamplerEntry(
        lambda k: ReMDMSampler(k, "cap", eta=0.04),
        True,
        "ReMDM cap, eta = 0.04 (the paper's choice for fewer steps than tokens, K < L)",
        test_steps=8,
        variants={
            "cap_eta0.2": lambda: ReMDMSampler(8, "cap", eta=0.2),
            "rescale_eta0.5": lambda: ReMDMSampler(8, "rescale", eta=0.5),
            "fb_t_min0.1": lambda: ReMDMSampler(5, "fb", t_min=0.1),
            "conf": lambda: ReMDMSampler(6, "conf"),
            "mdlm_t_min_sample": lambda: ReMDMSampler(6, "mdlm", t_min=0.2, final_fill="sample"),
        },
        bad_arguments=(
            *_common_bad(lambda **kw: ReMDMSampler(8, **kw)),
            BadArgument("variant", lambda: ReMDMSampler(8, "nope")),
            BadArgument("eta", lambda: ReMDMSampler(8, "cap", eta=1.5)),
            BadArgument("eta", lambda: ReMDMSampler(8, "fb", eta=0.1)),
        ),
    ),
    "remdm_loop_eta0.02": SamplerEntry(
        lambda k: ReMDMSampler(k, "loop"),
        True,
        "ReMDM loop with the official defaults (K should be a multiple of 20 for exact phases)",
        test_steps=20,
        variants={"eta0.1": lambda: ReMDMSampler(20, "loop", eta=0.1)},
        bad_arguments=(
            BadArgument("eta", lambda: ReMDMSampler(20, "loop", eta=0.5)),
            BadArgument("schedule", lambda: ReMDMSampler(20, "loop", schedule="cosine")),
            BadArgument("t_on", lambda: ReMDMSampler(20, "loop", t_on=0.01)),
        ),
    ),
    "fixed_random+remask2x4": SamplerEntry(
        lambda k: RemaskCorrector(FixedCountSampler(k), 4, 2),
        True,
        "fixed-count random, then 4 remask-and-resample rounds of 2 positions",
        variants={"eb_base": lambda: RemaskCorrector(EBSampler(1.0), 2, 2)},
        bad_arguments=(
            BadArgument("remask_count", lambda: RemaskCorrector(FixedCountSampler(2), 1, 5).num_steps(4)),
            BadArgument("resample_order", lambda: RemaskCorrector(FixedCountSampler(2), 1, 1, "nope")),
            BadArgument("rounds", lambda: RemaskCorrector(FixedCountSampler(2), -1)),
        ),
    ),
    "esmc_fixed_random_P4_lam1": SamplerEntry(
        lambda k: EntropySMCSampler(FixedCountSampler(k), 4, 1.0),
        True,
        "E-SMC: 4 particles of fixed-count random, resampled towards low state entropy",
        variants={
            "eb_base_P3": lambda: EntropySMCSampler(EBSampler(0.5), num_particles=3),
            "every2": lambda: EntropySMCSampler(FixedCountSampler(4, score="entropy"), 3, resample_every=2),
        },
        bad_arguments=(
            BadArgument("lam", lambda: EntropySMCSampler(FixedCountSampler(2), lam=-1)),
            BadArgument("num_particles", lambda: EntropySMCSampler(FixedCountSampler(2), 0)),
            BadArgument("state_reduce", lambda: EntropySMCSampler(FixedCountSampler(2), state_reduce="max")),
            BadArgument("revisits", lambda: EntropySMCSampler(ReMDMSampler(8))),
        ),
    ),
    **POLICY_SAMPLERS,
    **DRAFT_POLICY_SAMPLERS,
    **LENGTH_POLICY_SAMPLERS,
    **LOO_POLICY_SAMPLERS,
}


def make_sampler(name: str, steps: int | None) -> Sampler:
    """The registered sampler ``name`` with K = ``steps`` (ignored, and may be None, if the entry does not
    use K)."""
    entry = SAMPLERS[check_sampler_name(name)]
    if entry.uses_steps:
        if steps is None:
            raise InvalidArgumentError(
                f"sampler {name!r} uses the step count: steps must be an integer K >= 1"
            )
        steps = check_int(steps, "steps", minimum=1)
    return entry.make(steps)
