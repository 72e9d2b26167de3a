r"""ReMDM remasking rules (Wang et al., arXiv 2503.00307, Eq. 6-7; kuleshov-group/remdm ``diffusion.py``).

Each variant of :class:`~sims.sampling.remdm.ReMDMSampler` is a small rule object that gives, for a step
from t to s < t, the :class:`StepParameters` :math:`(\alpha_t, \alpha_s, \sigma_t)` and, per position, the
remask probability of the revealed positions. With :math:`\sigma^{\max}_t = \min(1, (1-\alpha_s)/\alpha_t)`
(Eq. 7):

==============  =========================================================================  ===============
variant         sigma                                                                      default eta
==============  =========================================================================  ===============
``mdlm``        0                                                                          --
``cap``         :math:`\min(\eta, (1-\alpha_s)/\alpha_t)` (:math:`\eta` if :math:`\alpha_t=0`)          0.008
``rescale``     :math:`\eta\,\sigma^{\max}_t`                                              0.015
``conf``        per position :math:`\eta_l\sigma^{\max}_t`, :math:`\eta=\mathrm{softmax}_l(-p_l)` over   --
                revealed positions, :math:`p_l` = probability of its token when it was revealed;
                masked positions use :math:`\sigma=0`
``loop``        MDLM with :math:`\alpha_t=(1-t)\alpha_{on}/(1-t_{on})` for :math:`t>t_{on}`, then a     0.02
                constant :math:`\alpha=\alpha_{on}` phase with :math:`\sigma=\eta`, then MDLM with
                :math:`\alpha_t = 1 - t(1-\alpha_{on})/t_{off}` for :math:`t \le t_{off}`
                (:math:`t_{on}=0.55, t_{off}=0.05, \alpha_{on}=0.9`)
``fb``          forward-backward corrector :math:`(\alpha_s-\alpha_t)/\alpha_t` (Prop. 4.2),       --
                clipped to :math:`\sigma^{\max}_t` (documented deviation, see the sampler)
==============  =========================================================================  ===============

Defaults from the official ``scripts/*.sh`` (OWT, L = K = 1024 steps, confirmed in the repository).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from sims.validation import InvalidArgumentError, check_choice, check_real

DEFAULT_ETA = {"cap": 0.008, "rescale": 0.015, "loop": 0.02}
#: Grid times within this distance of t_on / t_off count as equal (linspace rounding).
PHASE_TOL = 1e-12


class StepParameters(NamedTuple):
    """One step from t to s: ``alpha_t``, ``alpha_s``, ``sigma`` (``conf``: sigma_max) and the phase."""

    alpha_t: float
    alpha_s: float
    sigma: float
    phase: str


def unmask_probability(a_t: float, a_s: float, sigma: float) -> float:
    r""":math:`(\alpha_s - (1-\sigma)\alpha_t)/(1-\alpha_t)`, checked to lie in [0, 1]."""
    if a_t >= 1:
        return 1.0
    u = (a_s - (1 - sigma) * a_t) / (1 - a_t)
    if not -1e-12 <= u <= 1 + 1e-12:
        raise InvalidArgumentError(
            f"inadmissible sigma={sigma} for alpha_t={a_t}, alpha_s={a_s} (unmask prob {u})"
        )
    return min(1.0, max(0.0, u))


def check_eta(eta: float) -> float:
    return check_real(eta, "eta", minimum=0.0, maximum=1.0)


class RemaskRule:
    """The MDLM rule (sigma = 0); the other variants override :meth:`sigma` or more."""

    name = "mdlm"
    #: sigma depends on the state (stored confidences), so there is no per-sequence Markov kernel
    state_dependent = False
    #: the rule defines its own alpha(t) (the sampler's schedule must be linear)
    own_schedule = False
    eta = 0.0

    def sigma(self, a_t: float, a_s: float, sigma_max: float) -> float:
        return 0.0

    def step_parameters(self, t: float, s: float, alpha: Callable[[float], float]) -> StepParameters:
        a_t, a_s = alpha(t), alpha(s)
        sigma_max = min(1.0, (1 - a_s) / a_t) if a_t > 0 else 1.0
        return StepParameters(a_t, a_s, self.sigma(a_t, a_s, sigma_max), "remdm")

    def nominal_alpha(self, t: float, alpha: Callable[[float], float]) -> float:
        """The alpha(t) whose masked fraction 1 - alpha(t) Theorem 3.1 promises."""
        return alpha(t)

    def unmask_sigma(self, sigma: float) -> float:
        """The sigma that enters the unmask probability of the masked positions."""
        return sigma

    def position_sigma(
        self, x: torch.Tensor, conf: torch.Tensor, vocab_size: int, sigma: float
    ) -> torch.Tensor:
        """``(B, L)`` remask probabilities of the revealed positions (0 at masked ones)."""
        masked = x == vocab_size
        return torch.where(
            masked, torch.zeros((), dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
        )  # float64 (scalars would give float32)

    def describe(self) -> dict:
        return {"variant": self.name, "eta": self.eta}


class CapRule(RemaskRule):
    name = "cap"

    def __init__(self, eta: float):
        self.eta = check_eta(eta)

    def step_parameters(self, t, s, alpha):
        a_t, a_s = alpha(t), alpha(s)
        sigma = min(self.eta, (1 - a_s) / a_t) if a_t > 0 else self.eta
        return StepParameters(a_t, a_s, sigma, "remdm")


class RescaleRule(RemaskRule):
    name = "rescale"

    def __init__(self, eta: float):
        self.eta = check_eta(eta)

    def sigma(self, a_t, a_s, sigma_max):
        return self.eta * sigma_max


class ForwardBackwardRule(RemaskRule):
    name = "fb"

    def step_parameters(self, t, s, alpha):
        a_t, a_s = alpha(t), alpha(s)
        sigma_max = min(1.0, (1 - a_s) / a_t) if a_t > 0 else 1.0
        # clipped to sigma_max: the raw formula exceeds it late in the run
        sigma = min((a_s - a_t) / a_t, sigma_max) if a_t > 0 else 1.0
        return StepParameters(a_t, a_s, sigma, "remdm")


class ConfidenceRule(RemaskRule):
    """``conf``: sigma_max scaled per revealed position by a softmax of minus its stored confidence."""

    name = "conf"
    state_dependent = True

    def sigma(self, a_t, a_s, sigma_max):
        return sigma_max

    def unmask_sigma(self, sigma):
        return 0.0  # masked positions use sigma = 0 (official code)

    def position_sigma(self, x, conf, vocab_size, sigma):
        masked = x == vocab_size
        finite = torch.isfinite(conf) & ~masked
        c = torch.where(finite, conf, -torch.inf)
        any_finite = finite.any(1, keepdim=True)
        eta = torch.where(any_finite, torch.softmax(torch.where(any_finite, c, 0.0), dim=1), 0.0)
        return torch.where(finite, eta * sigma, 0.0)


class LoopRule(RemaskRule):
    """``loop``: MDLM to alpha_on, a constant-alpha remasking phase, then MDLM to the end."""

    name = "loop"
    own_schedule = True

    def __init__(self, eta: float, t_on: float, t_off: float, alpha_on: float):
        self.eta = check_eta(eta)
        for name, value in (("t_on", t_on), ("t_off", t_off), ("alpha_on", alpha_on)):
            check_real(value, name, minimum=0.0, maximum=1.0, open_min=True, open_max=True)
        if not t_off < t_on:
            raise InvalidArgumentError(
                f"need 0 < t_off < t_on < 1 and 0 < alpha_on < 1, got t_on={t_on}, "
                f"t_off={t_off}, alpha_on={alpha_on}"
            )
        if self.eta > (1 - alpha_on) / alpha_on:
            raise InvalidArgumentError(
                f"loop: eta={self.eta} exceeds sigma_max=(1-alpha_on)/alpha_on="
                f"{(1 - alpha_on) / alpha_on:g} (Eq. 7)"
            )
        self.t_on, self.t_off, self.alpha_on = float(t_on), float(t_off), float(alpha_on)

    def loop_alpha(self, t: float) -> float:
        """The piecewise alpha(t) (continuous; constant alpha_on on [t_off, t_on])."""
        if t > self.t_on:
            return (1 - t) * self.alpha_on / (1 - self.t_on)
        if t <= self.t_off:
            return 1 - t * (1 - self.alpha_on) / self.t_off
        return self.alpha_on

    def nominal_alpha(self, t, alpha):
        return self.loop_alpha(t)

    def step_parameters(self, t, s, alpha):
        if s == 0.0 and t > self.t_off + PHASE_TOL:
            # coarse grid whose last step starts inside the loop window: the run must still end
            # fully revealed (alpha(0) = 1), so this step reveals every remaining token, no remasking
            return StepParameters(self.loop_alpha(t), 1.0, 0.0, "final_from_loop")
        if t > self.t_on + PHASE_TOL:
            a = self.alpha_on / (1 - self.t_on)
            # a step straddling t_on overshoots alpha_on (official code); alpha_s > 1 is clipped to 1,
            # which is what the code's negative mask weight amounts to under Gumbel-max
            return StepParameters((1 - t) * a, min(1.0, (1 - s) * a), 0.0, "mdlm_before_loop")
        if t <= self.t_off + PHASE_TOL:
            b = (1 - self.alpha_on) / self.t_off
            return StepParameters(1 - t * b, 1 - s * b, 0.0, "mdlm_after_loop")
        return StepParameters(self.alpha_on, self.alpha_on, self.eta, "loop")

    def describe(self) -> dict:
        return {
            "variant": self.name,
            "eta": self.eta,
            "t_on": self.t_on,
            "t_off": self.t_off,
            "alpha_on": self.alpha_on,
        }


VARIANTS = ("mdlm", "cap", "rescale", "conf", "loop", "fb")


def make_rule(variant: str, eta: float | None, t_on: float, t_off: float, alpha_on: float) -> RemaskRule:
    """The rule object of ``variant`` (``eta=None``: the official default where the variant has one)."""
    check_choice(variant, VARIANTS, "variant")
    for name, value in (("t_on", t_on), ("t_off", t_off), ("alpha_on", alpha_on)):  # checked for every
        check_real(value, name, minimum=0.0, maximum=1.0)  # variant, although only 'loop' uses them
    if variant not in DEFAULT_ETA:
        if eta is not None:
            raise InvalidArgumentError(f"eta is not used by variant {variant!r}; pass eta=None")
        return {"mdlm": RemaskRule, "conf": ConfidenceRule, "fb": ForwardBackwardRule}[variant]()
    eta = DEFAULT_ETA[variant] if eta is None else eta
    if variant == "cap":
        return CapRule(eta)
    if variant == "rescale":
        return RescaleRule(eta)
    return LoopRule(eta, t_on, t_off, alpha_on)
