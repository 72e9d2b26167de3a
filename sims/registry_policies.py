"""Registry entries of the decoding policies documented in ``docs/decoding_policies.md`` (issue 14).

Merged into :data:`sims.registry.SAMPLERS`; the key of every entry is the name of the sampler it makes, and
each entry's tiny configuration (sequences of length 4) is what the conformance suite runs.
"""

from __future__ import annotations

from sims.registry_base import BadArgument, SamplerEntry, common_bad
from sims.sampling.credit import CreditDecodingSampler
from sims.sampling.dus import DUSSampler
from sims.sampling.frechet import FrechetSampler
from sims.sampling.halton import HaltonSampler
from sims.sampling.klass import KLASSSampler
from sims.sampling.local_leap import LocalLeapSampler
from sims.sampling.pc_sampler import PCSampler
from sims.sampling.prophet import ProphetSampler
from sims.sampling.rcr import RCRSampler
from sims.sampling.sedd import SEDDSampler
from sims.sampling.slowfast import SlowFastSampler

POLICY_SAMPLERS: dict[str, SamplerEntry] = {
    "halton": SamplerEntry(
        lambda k: HaltonSampler(k),
        True,
        "Halton / van der Corput order (base 2), arccos counts (Halton-MaskGIT)",
        variants={
            "random_shift_K3": lambda: HaltonSampler(3, randomize=True),
            "b3_llada": lambda: HaltonSampler(2, base=3, count_rule="llada"),
        },
        bad_arguments=(
            *common_bad(lambda **kw: HaltonSampler(2, **kw)),
            BadArgument("base", lambda: HaltonSampler(2, base=1)),
            BadArgument("count_rule", lambda: HaltonSampler(2, count_rule="cosine")),
        ),
    ),
    "dus_b2": SamplerEntry(
        lambda k: DUSSampler(),
        False,
        "DUS dilated groups (base 2): log2 B calls per block of B",
        variants={"block2_T0.7": lambda: DUSSampler(block_length=2, temperature=0.7)},
        bad_arguments=(
            *common_bad(lambda **kw: DUSSampler(**kw)),
            BadArgument("base", lambda: DUSSampler(base=0)),
            BadArgument("skip", lambda: DUSSampler(skip=0)),
            BadArgument("block_length", lambda: DUSSampler(block_length=3).num_steps(4)),
        ),
    ),
    "fast_dllm_pp_frechet_d0.25": SamplerEntry(
        lambda k: FrechetSampler(0.25),
        False,
        "Fast-dLLM++ Fréchet profile rule, margin delta = 0.25",
        variants={
            "d0_sampled_prob": lambda: FrechetSampler(0.0, score="sampled_prob"),
            "d0.1_block2_T0.8": lambda: FrechetSampler(0.1, block_length=2, temperature=0.8),
        },
        bad_arguments=(
            *common_bad(lambda **kw: FrechetSampler(**kw)),
            BadArgument("margin", lambda: FrechetSampler(-0.1)),
            BadArgument("score", lambda: FrechetSampler(score="entropy")),
        ),
    ),
    "local_leap_t0.9_r0.75_w4": SamplerEntry(
        lambda k: LocalLeapSampler(0.9, 0.75, 4),
        False,
        "LocalLeap: tau = 0.9, relaxed 0.75 within 4 positions of an anchor (defaults unconfirmed)",
        variants={
            "t0.8_r0.5_w1": lambda: LocalLeapSampler(0.8, 0.5, 1),
            "sampled_prob_block2": lambda: LocalLeapSampler(
                0.7, 0.3, 1, score="sampled_prob", block_length=2
            ),
        },
        bad_arguments=(
            *common_bad(lambda **kw: LocalLeapSampler(**kw)),
            BadArgument("threshold", lambda: LocalLeapSampler(1.5)),
            BadArgument("relaxed_threshold", lambda: LocalLeapSampler(0.5, 0.7)),
            BadArgument("radius", lambda: LocalLeapSampler(radius=-1)),
        ),
    ),
    "prophet": SamplerEntry(
        lambda k: ProphetSampler(k),
        True,
        "Prophet early commit (gap thresholds 7.5 / 5 / 2.5) over LLaDA fixed counts",
        variants={
            "low_thresholds_K4": lambda: ProphetSampler(4, thresholds=(1.0, 0.5, 0.2)),
            "sampled_prob_block2_K4": lambda: ProphetSampler(
                4, thresholds=(3.0, 2.0, 1.0), score="sampled_prob", block_length=2
            ),
        },
        bad_arguments=(
            *common_bad(lambda **kw: ProphetSampler(2, **kw)),
            BadArgument("thresholds", lambda: ProphetSampler(2, thresholds=(1.0, 2.0))),
            BadArgument("phases", lambda: ProphetSampler(2, phases=(0.7, 0.3))),
            BadArgument("answer_positions", lambda: ProphetSampler(2, answer_positions=())),
            BadArgument("score", lambda: ProphetSampler(2, score="random")),
        ),
    ),
    "pc_sampler_l0.25_a10": SamplerEntry(
        lambda k: PCSampler(k),
        True,
        "PC-Sampler: position decay 0.25, calibration clip 10, background = all-masked marginals",
        variants={
            "uniform_l1_K3": lambda: PCSampler(3, lam=1.0, background="uniform"),
            "explicit_block2": lambda: PCSampler(2, background=[0.5, 0.3, 0.2], block_length=2),
        },
        bad_arguments=(
            *common_bad(lambda **kw: PCSampler(2, **kw)),
            BadArgument("lam", lambda: PCSampler(2, lam=-1.0)),
            BadArgument("alpha", lambda: PCSampler(2, alpha=0.0)),
            BadArgument("background", lambda: PCSampler(2, background="corpus")),
            BadArgument("background", lambda: PCSampler(2, background=[0.5, 0.6])),
        ),
    ),
    "klass_c0.9_kl0.01_h2": SamplerEntry(
        lambda k: KLASSSampler(0.9, 0.01, 2),
        False,
        "KLASS: confident (>= 0.9) and KL-stable (< 0.01 nats for 2 steps) tokens, else the most confident",
        variants={
            "c0.5_kl0.05_h1": lambda: KLASSSampler(0.5, 0.05, 1),
            "block2_T0.7": lambda: KLASSSampler(0.6, 0.1, 1, block_length=2, temperature=0.7),
        },
        bad_arguments=(
            *common_bad(lambda **kw: KLASSSampler(**kw)),
            BadArgument("conf_threshold", lambda: KLASSSampler(1.5)),
            BadArgument("kl_threshold", lambda: KLASSSampler(kl_threshold=0.0)),
            BadArgument("history", lambda: KLASSSampler(history=0)),
        ),
    ),
    "credit_t0.9_a0.7": SamplerEntry(
        lambda k: CreditDecodingSampler(),
        False,
        "CreditDecoding: threshold 0.9 on the credit-fused law (alpha 0.7, gamma 0.2, decay 0.8)",
        variants={
            "t0.6_a2_sampled_prob_block2": lambda: CreditDecodingSampler(
                0.6, alpha=2.0, score="sampled_prob", block_length=2
            ),
        },
        bad_arguments=(
            *common_bad(lambda **kw: CreditDecodingSampler(**kw)),
            BadArgument("threshold", lambda: CreditDecodingSampler(threshold=-0.1)),
            BadArgument("alpha", lambda: CreditDecodingSampler(alpha=-1.0)),
            BadArgument("gamma", lambda: CreditDecodingSampler(gamma=-1.0)),
            BadArgument("decay", lambda: CreditDecodingSampler(decay=1.5)),
            BadArgument("score", lambda: CreditDecodingSampler(score="margin")),
        ),
    ),
    "slowfast_k6_t0.9": SamplerEntry(
        lambda k: SlowFastSampler(),
        False,
        "SlowFast: 6 exploration steps per sub-cycle, fills at confidence 0.9",
        variants={
            "k2_t0.6_c0.5": lambda: SlowFastSampler(2, 0.5, 1, 1.0, 0.6),
            "k1_t0.5_c0.2_block2": lambda: SlowFastSampler(1, 0.2, 2, 1.0, 0.5, block_length=2),
        },
        bad_arguments=(
            *common_bad(lambda **kw: SlowFastSampler(**kw)),
            BadArgument("explore_steps", lambda: SlowFastSampler(0)),
            BadArgument("cycle_threshold", lambda: SlowFastSampler(cycle_threshold=-0.1)),
            BadArgument("window", lambda: SlowFastSampler(window=0)),
            BadArgument("std_threshold", lambda: SlowFastSampler(std_threshold=0.0)),
            BadArgument("threshold", lambda: SlowFastSampler(threshold=2.0)),
        ),
    ),
    "rcr": SamplerEntry(
        lambda k: RCRSampler(k),
        True,
        "running-confidence remasking (MDPO): reveal all, remask the lowest running confidences",
        variants={"cosine_sampled_prob_K3": lambda: RCRSampler(3, "cosine", "sampled_prob")},
        bad_arguments=(
            *common_bad(lambda **kw: RCRSampler(2, **kw)),
            BadArgument("mode", lambda: RCRSampler(2, mode="pow2")),
            BadArgument("score", lambda: RCRSampler(2, score="entropy")),
        ),
    ),
    "sedd_euler": SamplerEntry(
        lambda k: SEDDSampler(k),
        True,
        "SEDD Euler predictor, log-linear noise, noise removal (same law as MDLM linear with an exact score)",
        variants={
            "geometric_K3": lambda: SEDDSampler(3, noise="geometric"),
            "float32_gumbel_K4": lambda: SEDDSampler(4, categorical_precision="float32_gumbel"),
        },
        bad_arguments=(
            *common_bad(lambda **kw: SEDDSampler(2, **kw)),
            BadArgument("predictor", lambda: SEDDSampler(2, predictor="heun")),
            BadArgument("noise", lambda: SEDDSampler(2, noise="cosine")),
            BadArgument("eps", lambda: SEDDSampler(2, eps=0.0)),
        ),
    ),
    "sedd_analytic": SamplerEntry(
        lambda k: SEDDSampler(k, "analytic"),
        True,
        "SEDD analytic (Tweedie tau-leaping) predictor, log-linear noise, noise removal",
        variants={"geometric_K3": lambda: SEDDSampler(3, "analytic", "geometric")},
    ),
}
