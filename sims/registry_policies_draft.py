"""Registry entries of the decoding policies that need passes beyond the marginals (issue 14): self-speculative
decoding and APD (the ``draft_log_prob`` pass) and the Info-Gain sampler (the ``lookahead`` pass).

Merged into :data:`sims.registry.SAMPLERS`; the key of every entry is the name of the sampler it makes, and
each entry's tiny configuration (sequences of length 4) is what the conformance suite runs. Documented in
``docs/decoding_policies.md``.
"""

from __future__ import annotations

from sims.registry_base import BadArgument, SamplerEntry, common_bad
from sims.sampling.apd import APDSampler
from sims.sampling.info_gain import InfoGainSampler
from sims.sampling.ssd import SelfSpeculativeSampler

DRAFT_POLICY_SAMPLERS: dict[str, SamplerEntry] = {
    "ssd_m4": SamplerEntry(
        lambda k: SelfSpeculativeSampler(4),
        False,
        "self-speculative decoding: 4-token parallel drafts verified by the exact chain rule (lossless)",
        variants={
            "m2_draft_T0.5": lambda: SelfSpeculativeSampler(2, draft_temperature=0.5),
            "m3_draft_argmax": lambda: SelfSpeculativeSampler(3, draft_temperature=0.0),
        },
        bad_arguments=(
            BadArgument("draft_length", lambda: SelfSpeculativeSampler(0)),
            BadArgument("draft_temperature", lambda: SelfSpeculativeSampler(2, draft_temperature=-1.0)),
            BadArgument(
                "categorical_precision", lambda: SelfSpeculativeSampler(2, categorical_precision="float16")
            ),
        ),
    ),
    "apd_r0.7_m100": SamplerEntry(
        lambda k: APDSampler(),
        False,
        "APD: parallel drafts kept while they equal the argmax of the dLLM x exact-AR mixture (R = 0.7)",
        variants={
            "perturbed_helper": lambda: APDSampler(
                0.5, 3, helper="perturbed", helper_temperature=1.5, helper_uniform_mix=0.1
            ),
            "r0_T0": lambda: APDSampler(0.0, 4, temperature=0.0),
            "r1_T0.7": lambda: APDSampler(1.0, 2, temperature=0.7),
        },
        bad_arguments=(
            BadArgument("temperature", lambda: APDSampler(temperature=-1.0)),
            BadArgument("categorical_precision", lambda: APDSampler(categorical_precision="float16")),
            BadArgument("mixture_weight", lambda: APDSampler(1.5)),
            BadArgument("max_lookahead", lambda: APDSampler(max_lookahead=0)),
            BadArgument("helper", lambda: APDSampler(helper="gpt2")),
            BadArgument("helper_temperature", lambda: APDSampler(helper_temperature=0.0)),
            BadArgument("helper_uniform_mix", lambda: APDSampler(helper_uniform_mix=-0.1)),
        ),
    ),
    "info_gain_n8_pt0.1": SamplerEntry(
        lambda k: InfoGainSampler(k),
        True,
        "Info-Gain sampler: 8 candidate actions, lookahead, max information gain minus entropy cost",
        test_steps=4,
        variants={
            "n2_T0": lambda: InfoGainSampler(4, 2, temperature=0.0),
            "n3_pt0.5_block2_T0.7": lambda: InfoGainSampler(4, 3, 0.5, block_length=2, temperature=0.7),
            "n1": lambda: InfoGainSampler(2, 1),
        },
        bad_arguments=(
            *common_bad(lambda **kw: InfoGainSampler(4, **kw)),
            BadArgument("candidate_number", lambda: InfoGainSampler(4, 0)),
            BadArgument("position_temperature", lambda: InfoGainSampler(4, position_temperature=-0.1)),
            BadArgument("block_length", lambda: InfoGainSampler(4, block_length=3).num_steps(4)),
        ),
    ),
}
