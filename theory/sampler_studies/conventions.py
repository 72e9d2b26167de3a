r"""Conventions that move results: the oracle's fallback for impossible evidence, and float32 Gumbel-max.

* **Fallback.** Once a trajectory has left the support of q, the oracle's posterior is undefined; the
  suite returns either the exact :math:`\varepsilon \to 0` posterior of the smoothed language
  (``on_impossible="min_violation"``) or the uniform law (``"uniform"``). A sampler that never revisits a
  token has already made its sequence error when it first leaves the support, so its SER cannot depend on
  the fallback; a sampler that remasks (ReMDM, the remask corrector), or that *selects* among runs by
  quantities computed from the fallback's output (E-BoN's path entropy), can. :func:`exact_fallback_ser`
  measures the difference exactly on enumerable languages, :func:`monte_carlo_fallback_ser` by paired
  Monte Carlo (the same seed under both fallbacks).
* **float32 Gumbel-max.** :func:`float32_race_table`: the exact probability that a class of weight w beats
  a class of weight 1 in MDLM/SEDD's float32 race (:func:`sims.categorical.float32_gumbel_race_probability`)
  against the exact :math:`w/(1+w)` (Zheng et al., arXiv 2409.02908).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sims.categorical import float32_gumbel_race_probability, make_generator
from sims.denoisers.base import Denoiser
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint
from sims.languages.base import Language
from sims.metrics import evaluate_samples
from sims.sampling.base import Sampler
from sims.sweep import cell_seed

#: The two fallbacks compared (the first is the suite's default for n-gram and HMM languages).
FALLBACKS = ("min_violation", "uniform")

Wrapper = Callable[[Denoiser], Denoiser] | None


def oracle_with(language: Language, fallback: str, wrap: Wrapper = None) -> Denoiser:
    """The oracle of ``language`` with ``on_impossible=fallback``, optionally wrapped (perturbed oracle)."""
    den = OracleDenoiser(language, on_impossible=fallback)
    return wrap(den) if wrap is not None else den


def exact_fallback_ser(
    law_of: Callable[[Denoiser], torch.Tensor], language: Language, length: int, wrap: Wrapper = None
) -> dict:
    """Exact sequence error of the law ``law_of(oracle)`` under each fallback, and their difference.

    ``law_of`` maps a denoiser to an exact output law over V^L (e.g. ``lambda d: exact_sampler_law(s, d,
    L)``). Returns ``{"ser": {fallback: SER}, "difference": SER(uniform) - SER(min_violation)}``.
    """
    q = torch.exp(exact_log_joint(language, length))
    ser = {f: float(law_of(oracle_with(language, f, wrap))[q == 0].sum()) for f in FALLBACKS}
    return {"ser": ser, "difference": ser["uniform"] - ser["min_violation"]}


def monte_carlo_fallback_ser(
    sampler: Sampler,
    language: Language,
    length: int,
    num_samples: int,
    seed_key: str,
    wrap: Wrapper = None,
) -> dict:
    """Paired Monte Carlo: the same seeded run under each fallback.

    Returns ``{"ser": {fallback: proportion dict with Wilson interval}, "token_error_rate": {fallback:
    mean dict or None}, "nfe_mean": {fallback: float}, "difference": SER(uniform) - SER(min_violation),
    "discordant": number of sequences in error under exactly one fallback, "num_samples"}``.
    """
    out: dict = {"ser": {}, "token_error_rate": {}, "nfe_mean": {}, "num_samples": num_samples}
    bad = {}
    for f in FALLBACKS:
        den = oracle_with(language, f, wrap)
        res = sampler.sample(
            den, num_samples, length, make_generator(cell_seed(seed_key, 0)), batch_size=num_samples
        )
        q = evaluate_samples(language, res.tokens, nfe=res.nfe)
        bad[f] = ~torch.isfinite(language.log_prob(res.tokens))
        out["ser"][f] = q.sequence_error.to_dict()
        out["token_error_rate"][f] = q.token_error_rate.to_dict() if q.token_error_rate else None
        out["nfe_mean"][f] = res.mean_nfe
    out["difference"] = out["ser"]["uniform"]["p"] - out["ser"]["min_violation"]["p"]
    out["discordant"] = int((bad["uniform"] != bad["min_violation"]).sum())
    return out


def float32_race_table(weights: Sequence[float]) -> list[dict]:
    """``{"weight", "exact", "float32", "ratio"}`` per weight w: P(class of weight w beats weight 1)."""
    rows = []
    for w in weights:
        exact = w / (1 + w)
        p32 = float32_gumbel_race_probability(w)
        rows.append({"weight": w, "exact": exact, "float32": p32, "ratio": p32 / exact})
    return rows
