"""Registry entries of the length policies (issue 14): DAEDAL and Learn2PD's end-of-text prediction and
oracle filter (``docs/decoding_policies.md``).

Merged into :data:`sims.registry.SAMPLERS`. These samplers declare ``capabilities.needs_eos``: the
conformance suite runs them on EOS-padded versions of its languages and the bench on the EOS languages of its
panel only; on any other denoiser they refuse to run (:class:`sims.denoisers.passes.EOSUnavailableError`).
"""

from __future__ import annotations

from sims.registry_base import BadArgument, SamplerEntry, common_bad
from sims.sampling.daedal import DAEDALSampler
from sims.sampling.eotp import EoTPSampler
from sims.sampling.learn2pd import Learn2PDOracleSampler

LENGTH_POLICY_SAMPLERS: dict[str, SamplerEntry] = {
    "eotp": SamplerEntry(
        lambda k: EoTPSampler(k),
        True,
        "Learn2PD end-of-text prediction on LLaDA fixed counts: EOS after the predicted end, no call",
        variants={
            "committed": lambda: EoTPSampler(2, trigger="committed"),
            "T0_block2": lambda: EoTPSampler(2, block_length=2, temperature=0.0),
            "sampled_prob_K4": lambda: EoTPSampler(4, score="sampled_prob"),
        },
        bad_arguments=(
            *common_bad(lambda **kw: EoTPSampler(2, **kw)),
            BadArgument("trigger", lambda: EoTPSampler(2, trigger="eos")),
            BadArgument("score", lambda: EoTPSampler(2, score="entropy")),
            BadArgument("block_length", lambda: EoTPSampler(2, block_length=3).num_steps(4)),
        ),
    ),
    "learn2pd_oracle": SamplerEntry(
        lambda k: Learn2PDOracleSampler(k),
        True,
        "Learn2PD oracle filter (EGP): reference LLaDA run, then commit predictions equal to it",
        variants={
            "noeot_T0": lambda: Learn2PDOracleSampler(2, end_of_text=False, temperature=0.0),
            "block2_K4": lambda: Learn2PDOracleSampler(4, block_length=2),
        },
        bad_arguments=(
            *common_bad(lambda **kw: Learn2PDOracleSampler(2, **kw)),
            BadArgument("end_of_text", lambda: Learn2PDOracleSampler(2, end_of_text="yes")),
            BadArgument("score", lambda: Learn2PDOracleSampler(2, score="margin")),
        ),
    ),
    "daedal_init1_exp2_check2": SamplerEntry(
        lambda k: DAEDALSampler(1, 2, 2),
        False,
        "DAEDAL variable length (canvas 1, +2 per expansion, 2 EOS checked; the code's thresholds)",
        variants={
            "T0_sampled_prob": lambda: DAEDALSampler(1, 2, 2, score="sampled_prob", temperature=0.0),
            "init2_exp3_block2": lambda: DAEDALSampler(2, 3, 2, block_length=2),
            "eager_high0.5": lambda: DAEDALSampler(
                1, 2, 4, initial_eos_threshold=0.8, expand_eos_threshold=1.0, high_conf_threshold=0.5
            ),
        },
        bad_arguments=(
            *common_bad(lambda **kw: DAEDALSampler(1, 2, 2, **kw)),
            BadArgument("expansion_factor", lambda: DAEDALSampler(1, 1, 2)),
            BadArgument("eos_check_tokens", lambda: DAEDALSampler(1, 2, 1)),
            BadArgument("initial_length", lambda: DAEDALSampler(8, 2, 2).num_steps(4)),
            BadArgument("low_conf_threshold", lambda: DAEDALSampler(1, 2, 2, low_conf_threshold=1.5)),
        ),
    ),
}
