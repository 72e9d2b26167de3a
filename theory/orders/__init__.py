r"""Decoding orders of masked diffusion: per-position schedules as learned-order autoregression
(Garg, Kohli, Sarawagi, arXiv 2511.19152), and exact sampler laws as mixtures over ordered partitions.

**Convention: mdlm** (t = 1 masked). Position l is masked at time t with probability :math:`m_l(t)`; its
masking time :math:`\tau_l` has CDF :math:`m_l` (Garg et al. Prop. 3.2, Cor. 3.1: density :math:`-\alpha'_{t,l}`),
independently across positions. The reverse process reveals position l at :math:`t = \tau_l`, so the
**decoding order** :math:`\sigma` lists positions by *decreasing* :math:`\tau` and the context of
:math:`\sigma(i)` is :math:`\sigma(<i) = \{j: \tau_j > \tau_{\sigma(i)}\}`. Then (Garg et al. Prop. 3.1, Eq. 6-7,
time-independent denoiser)

.. math::
    \mathcal L_\infty(x) = \sum_\sigma P(\sigma)\sum_i -\log\mu(x^{\sigma(i)}\mid x^{\sigma(<i)}),\qquad
    P(\sigma) = P(\tau_{\sigma(1)} > \dots > \tau_{\sigma(L)}).

(The paper writes :math:`\Omega_\pi` with *ascending* times and the context :math:`\pi(<i)`; its own proof,
App. B, has the positions :math:`\pi(\le i)` masked at :math:`t^*_{\pi(i)}`, so the context is :math:`\pi(>i)`.
:func:`ascending_reading_elbo` evaluates the literal reading, which disagrees with the quadrature.)

For :math:`\alpha_{t,l} = 1 - t^{w_l}` (Garg et al. Sec. 4), :math:`-\log\tau_l \sim \mathrm{Exp}(w_l)` and the
decoding order is **Plackett-Luce(w)** (derived): :math:`P(\sigma) = \prod_i w_{\sigma(i)}/\sum_{j\ge i}
w_{\sigma(j)}`, pairwise :math:`P(i \text{ before } j) = w_i/(w_i+w_j)`; subset weights
:math:`W_l(S) = w_l\sum_{A\subseteq S}(-1)^{|A|}/(w_l + \sum_{j\notin S\cup l}w_j + \sum_{j\in A}w_j)`.

Sampler laws (exact, time-independent denoiser, temperature 1): a random-order sampler that reveals a
value-independent ordered partition :math:`(B_1, \dots, B_k)` of the positions and draws the tokens of
each block independently from the denoiser given the earlier blocks has law
:math:`p(x) = \sum_{\text{partitions}} P(B)\prod_i\prod_{l\in B_i}\mu(x^l\mid x^{B_{<i}})`. For the MDLM
ancestral sampler and the random-order fixed-count sampler :math:`P(B)` depends only on the block sizes
(the composition), so :math:`p = \sum_c P(c)A_c` with :math:`A_c` summed once over partitions
(:func:`composition_laws`), and changing the schedule only changes :math:`P(c)`.
"""

from theory.orders.compositions import (
    ancestral_composition_probabilities,
    ancestral_exact_law,
    composition_laws,
    compositions,
    exact_law_from_compositions,
    fixed_count_composition,
    fixed_count_exact_law,
)
from theory.orders.laws import (
    all_orders,
    ar_losses,
    ascending_reading_elbo,
    order_index,
    order_mixture_elbo,
    order_probabilities,
    pairwise_before_probability,
    plackett_luce_law,
    plackett_luce_log_probs,
    plackett_luce_probability,
    power_subset_weights,
    sample_decoding_orders,
    subset_weights_from_order_law,
    sympy_power_order_probability,
)
from theory.orders.learning import (
    ContextRestrictedDenoiser,
    OrderLearningResult,
    expected_ar_losses,
    learn_power_weights,
    permuted_chain_log_joint,
)

__all__ = [
    "ContextRestrictedDenoiser",
    "OrderLearningResult",
    "all_orders",
    "ancestral_composition_probabilities",
    "ancestral_exact_law",
    "ar_losses",
    "ascending_reading_elbo",
    "composition_laws",
    "compositions",
    "exact_law_from_compositions",
    "expected_ar_losses",
    "fixed_count_composition",
    "fixed_count_exact_law",
    "learn_power_weights",
    "order_index",
    "order_mixture_elbo",
    "order_probabilities",
    "pairwise_before_probability",
    "permuted_chain_log_joint",
    "plackett_luce_law",
    "plackett_luce_log_probs",
    "plackett_luce_probability",
    "power_subset_weights",
    "sample_decoding_orders",
    "subset_weights_from_order_law",
    "sympy_power_order_probability",
]
