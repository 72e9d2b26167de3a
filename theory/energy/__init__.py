r"""Energies of masked-diffusion probability flows (Chen et al., "Masked Diffusion Models as Energy
Minimization", arXiv 2509.13866), symbolically (sympy) and numerically (scipy quadrature, brute force).

**Time convention: energy paper (EP).** Everything in this module runs in EP time s: s = 0 is all masked,
s = 1 is data, :math:`\alpha_s` = P(token revealed) increases from 0 to 1. A :class:`~sims.schedules.Schedule`
(mdlm convention, t = 1 - s) enters through :meth:`~sims.schedules.Schedule.alpha_ep`,
:meth:`~sims.schedules.Schedule.masked_fraction_ep` and :meth:`~sims.schedules.Schedule.alpha_ep_derivative`.

**What is read in the paper and what is reconstructed.** The only available full text of the paper lost its
display equations. Confirmed from its prose (Sec. 2-3, App. B-D): the conditional flow (Eq. 3, per-token
interpolation between [M] and the data token), :math:`\alpha_s = \exp(-\int_s^1\sigma)` (Eq. 4, Lemma C.1),
the conditional rate :math:`\dot\alpha/(1-\alpha)` (Lemma C.3, in its "z -> x => x_1" form), the energies
carry the factor :math:`1/\dot\gamma_s` and are quadratic in the rates, the optimality condition
:math:`\alpha^\star_s = \sin^2(\tfrac{\pi}{2}\gamma_s)` (Condition 3.4), its inverse
:math:`\gamma = \tfrac{2}{\pi}\arcsin\sqrt{\alpha}` (App. B), Prop. 3.7, the constants
:math:`C_k = \sum_z m(z)` (App. D.1), :math:`C_c = n 2^{n-1}` (App. C.4/D.2), :math:`C_2 = C_c/C_g = 2^{n-1}`
and :math:`C_1 = C_2 = 1` at n = 1 (App. D.3), and the discretized argument of App. D.5 (chords
:math:`2(1-\cos\theta)`, Jensen). **[RECONSTRUCTED]** (chosen to reproduce every one of those constants;
the constant factors cannot be confirmed):

* Eq. 2, marginal unmasking rate :math:`Q_s(z, x) = \sigma_s\, p_s(x)/p_s(z)` for a one-token unmasking
  z -> x, with :math:`\sigma_s = \dot\alpha_s/\alpha_s`;
* Def. 2.1 :math:`E_k = \int_0^1 \dot\gamma_s^{-1}\sum_z\sum_{x\ne z} p_s(z) Q_s(z,x)^2/p_s(x)\,ds`;
* Def. 2.2 :math:`E_c = \int_0^1 \dot\gamma_s^{-1} E_{x_1\sim q}\sum_z\sum_{x\ne z}
  p_{s|1}(z|x_1) Q_s(z,x|x_1)^2/p_{s|1}(x|x_1)\,ds`;
* Def. 2.3 :math:`E_g = \int_0^1 \kappa\,\dot\gamma_s^{-1} E_{x_1}\sum_i\sum_{v\in D\cup\{M\}}
  (\tfrac{d}{ds}\sqrt{p_{s|1}(z^i = v|x_1)})^2 ds` with :math:`\kappa = 4` (so that
  :math:`E_g = E_c` at n = 1, as the paper states);
* Eq. 14 (n = 1): :math:`e(\alpha,\gamma) = \int_0^1 \dot\alpha_s^2/(\dot\gamma_s\,\alpha_s(1-\alpha_s))\,ds`;
* the kinetic-optimal rate of Shaul et al. (arXiv 2412.03487) used in App. D.6,
  :math:`Q^\star(z\to x) = [\dot p(x)p(z) - p(x)\dot p(z)]_+/p(z)`.

Derived here (checked symbolically and by brute force in ``tests/theory/test_energy.py``):

* with :math:`\alpha = \sin^2\theta`, :math:`\dot\alpha^2/(\alpha(1-\alpha)) = 4\dot\theta^2`, so by
  Cauchy-Schwarz :math:`e \ge \pi^2` for every :math:`\gamma`, with equality iff :math:`\theta = \pi\gamma/2`
  (Condition 3.4);
* Beta landscape: :math:`\gamma = I(a,b)`, :math:`\alpha = \sin^2(\tfrac{\pi}{2}I(a',b'))` give
  :math:`e = \pi^2 B(2a'-a, 2b'-b)B(a,b)/B(a',b')^2 = \pi^2(1 + \chi^2(\mathrm{Beta}(a',b')\Vert\mathrm{Beta}(a,b)))`,
  finite iff :math:`2a' > a` and :math:`2b' > b`;
* n tokens (brute force, :class:`MaskedFlow`): :math:`E_k = C_k e` with
  :math:`C_k = \sum_{z:\,p_s(z)>0} m(z)` -- this depends on the **support** of q (it equals
  :math:`n(d+1)^{n-1}` only for full support), :math:`E_c = n2^{n-1}e`, :math:`E_g = n e`. The paper's
  "C_1 depends only on n and d" (Thm. 3.1) therefore fails for languages with zeros in their support;
* App. D.5 discretization :math:`\sum_k \Vert y_{k+1}-y_k\Vert^2/\Delta\gamma_k`: for equal
  :math:`\Delta\gamma` equal angles are optimal (value :math:`2N^2(1-\cos(\pi/2N)) \to \pi^2/4`), but for unequal
  :math:`\Delta\gamma` the minimizer solves :math:`\sin\theta_k \propto \Delta\gamma_k`, not the paper's
  proportional allocation :math:`\theta_k \propto \Delta\gamma_k` (:func:`optimal_discrete_angles`).
"""

from theory.energy.functional import (
    PI2,
    QuadratureResult,
    WeightSchedule,
    beta_energy_closed_form,
    beta_energy_grid,
    beta_energy_quadrature,
    discrete_geodesic_energy,
    fisher_speed,
    one_token_energy,
    one_token_integrand,
    optimal_discrete_angles,
)
from theory.energy.masked_flow import EnergyRatios, MaskedFlow, energy_ratios, forward_equation_gap
from theory.energy.symbolic import (
    sympy_beta_energy,
    sympy_discrete_limit,
    sympy_endpoint_rates,
    sympy_euler_lagrange_residual,
    sympy_fisher_speed,
    sympy_one_token_integrand,
    sympy_optimality_residual,
    sympy_per_token_identities,
    sympy_prop_3_7,
)

__all__ = [
    "PI2",
    "EnergyRatios",
    "MaskedFlow",
    "QuadratureResult",
    "WeightSchedule",
    "beta_energy_closed_form",
    "beta_energy_grid",
    "beta_energy_quadrature",
    "discrete_geodesic_energy",
    "energy_ratios",
    "fisher_speed",
    "forward_equation_gap",
    "one_token_energy",
    "one_token_integrand",
    "optimal_discrete_angles",
    "sympy_beta_energy",
    "sympy_discrete_limit",
    "sympy_endpoint_rates",
    "sympy_euler_lagrange_residual",
    "sympy_fisher_speed",
    "sympy_one_token_integrand",
    "sympy_optimality_residual",
    "sympy_per_token_identities",
    "sympy_prop_3_7",
]
