"""Registry entries of the decoding policies that read the leave-one-out pass (``docs/decoding_policies.md``,
issue 14): WINO, P2 self-planning, predictor-corrector with leave-one-out Gibbs correctors, Saber with
leave-one-out backtracking.

Merged into :data:`sims.registry.SAMPLERS`; the key of every entry is the name of the sampler it makes, and
each entry's tiny configuration (sequences of length 4) is what the conformance suite runs.
"""

from __future__ import annotations

from sims.registry_base import BadArgument, SamplerEntry, common_bad
from sims.sampling.informed_corrector import InformedCorrectorSampler
from sims.sampling.p2 import P2Sampler
from sims.sampling.saber import SaberSampler
from sims.sampling.wino import WINOSampler

LOO_POLICY_SAMPLERS: dict[str, SamplerEntry] = {
    "wino_t0.7_b0.9": SamplerEntry(
        lambda k: WINOSampler(0.7, 0.9),
        False,
        "WINO: draft above 0.7, remask drafts whose leave-one-out probability is below 0.9",
        variants={
            "t0.5_b0.95_sampled_prob": lambda: WINOSampler(0.5, 0.95, score="sampled_prob"),
            "block2_T0.7_steps5": lambda: WINOSampler(0.6, 0.9, block_length=2, max_steps=5, temperature=0.7),
        },
        bad_arguments=(
            *common_bad(lambda **kw: WINOSampler(**kw)),
            BadArgument("threshold", lambda: WINOSampler(1.5)),
            BadArgument("threshold_back", lambda: WINOSampler(0.7, -0.1)),
            BadArgument("max_steps", lambda: WINOSampler(max_steps=2).num_steps(4)),
            BadArgument("score", lambda: WINOSampler(score="entropy")),
            BadArgument("loo_source", lambda: WINOSampler(loo_source="masked")),
        ),
    ),
    "p2_eta1": SamplerEntry(
        lambda k: P2Sampler(k, eta=1.0),
        True,
        "P2 self-planning: planner remasks the lowest of draw and leave-one-out scores, eta = 1",
        test_steps=4,
        variants={
            "eta0_K2": lambda: P2Sampler(2, eta=0.0),
            "eta2_K6_T0.8": lambda: P2Sampler(6, eta=2.0, temperature=0.8),
        },
        bad_arguments=(
            *common_bad(lambda **kw: P2Sampler(4, **kw)),
            BadArgument("steps", lambda: P2Sampler(0)),
            BadArgument("eta", lambda: P2Sampler(4, eta=-1.0)),
        ),
    ),
    "informed_pc_c1_k1": SamplerEntry(
        lambda k: InformedCorrectorSampler(k),
        True,
        "fixed-count predictor + 1 informed Gibbs corrector step (lowest leave-one-out probability)",
        test_steps=2,
        variants={
            "gibbs_random_K4": lambda: InformedCorrectorSampler(4, selection="random"),
            "c2_k2_K2": lambda: InformedCorrectorSampler(2, corrector_steps=2, corrector_k=2),
        },
        bad_arguments=(
            *common_bad(lambda **kw: InformedCorrectorSampler(2, **kw)),
            BadArgument("steps", lambda: InformedCorrectorSampler(0)),
            BadArgument("corrector_steps", lambda: InformedCorrectorSampler(2, corrector_steps=-1)),
            BadArgument("corrector_k", lambda: InformedCorrectorSampler(2, corrector_k=0)),
            BadArgument("selection", lambda: InformedCorrectorSampler(2, selection="entropy")),
        ),
    ),
    "saber_n2": SamplerEntry(
        lambda k: SaberSampler(2),
        False,
        "Saber: commit above the mean commit confidence (at least 2), remask the largest leave-one-out drops",
        variants={
            "n1": lambda: SaberSampler(1),
            "sampled_prob_block2_T0.8": lambda: SaberSampler(
                2, block_length=2, score="sampled_prob", temperature=0.8
            ),
        },
        bad_arguments=(
            *common_bad(lambda **kw: SaberSampler(**kw)),
            BadArgument("n", lambda: SaberSampler(0)),
            BadArgument("score", lambda: SaberSampler(score="margin")),
            BadArgument("block_length", lambda: SaberSampler(block_length=3).num_steps(4)),
        ),
    ),
}
