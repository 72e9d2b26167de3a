"""Samplers (decoding policies) over any denoiser; one idea per module.

Contract and run machinery:

* :mod:`~sims.sampling.base`: the :class:`~sims.sampling.base.Sampler` ABC with its declared
  :class:`~sims.sampling.base.Capabilities` and :class:`~sims.sampling.base.Conventions`, and the public
  step API (``begin`` / ``step`` / ``finish``);
* :mod:`~sims.sampling.result` (``SampleResult``), :mod:`~sims.sampling.runtime` (call cache, trace, run
  state), :mod:`~sims.sampling.scores` (one name per position score), :mod:`~sims.sampling.ranking` (tie
  rules and their exact laws), :mod:`~sims.sampling.kernels` (enumeration helpers of exact kernels),
  :mod:`~sims.sampling.ranked` (the ranked step shared by fixed-count, EB and Fast-dLLM).

Samplers: :mod:`~sims.sampling.ancestral`, :mod:`~sims.sampling.first_hitting`,
:mod:`~sims.sampling.fixed_count`, :mod:`~sims.sampling.eb`, :mod:`~sims.sampling.fast_dllm`,
:mod:`~sims.sampling.remdm` (rules in :mod:`~sims.sampling.remdm_rules`), :mod:`~sims.sampling.remask`,
:mod:`~sims.sampling.entropy_smc`.

Exact-law toolkits: :mod:`~sims.sampling.remdm_exact`, :mod:`~sims.sampling.any_process`,
:mod:`~sims.sampling.denoising_entropy`; the generic one is :func:`sims.exact.exact_sampler_law`.
The standard samplers are named in :mod:`sims.registry`.
"""
