"""Sampler studies behind the ``samplers_*`` figures: every computation the figure modules report.

* :mod:`~theory.sampler_studies.monte_carlo`: one seeded Monte Carlo cell (quality, calls, conventions);
* :mod:`~theory.sampler_studies.exact_quality`: exact output laws by the sampler contract, exact metrics,
  bound margins of deterministic rules (EB, Fast-dLLM);
* :mod:`~theory.sampler_studies.correction`: remask-and-resample rounds, ReMDM Theorem 3.1 as implemented,
  AP-MDM's parity process and Dyck insertion;
* :mod:`~theory.sampler_studies.entropy_selection`: exact E-BoN laws and Monte Carlo E-SMC;
* :mod:`~theory.sampler_studies.conventions`: how much the oracle's fallback moves SER, float32 Gumbel-max.
"""

from theory.sampler_studies.conventions import (
    FALLBACKS,
    exact_fallback_ser,
    float32_race_table,
    monte_carlo_fallback_ser,
    oracle_with,
)
from theory.sampler_studies.correction import (
    corrector_trajectory,
    dyck_insertion_table,
    law_summary,
    parity_process_check,
    remdm_schedule_deviation,
)
from theory.sampler_studies.entropy_selection import (
    best_of_n_law,
    best_of_n_table,
    entropy_smc_row,
    mean_calls,
)
from theory.sampler_studies.exact_quality import (
    ZERO_KL,
    deterministic_margins,
    exact_output_law,
    exact_quality_cell,
)
from theory.sampler_studies.monte_carlo import autoregressive_cell, monte_carlo_cell

__all__ = [
    "FALLBACKS",
    "ZERO_KL",
    "autoregressive_cell",
    "best_of_n_law",
    "best_of_n_table",
    "corrector_trajectory",
    "deterministic_margins",
    "dyck_insertion_table",
    "entropy_smc_row",
    "exact_fallback_ser",
    "exact_output_law",
    "exact_quality_cell",
    "float32_race_table",
    "law_summary",
    "mean_calls",
    "monte_carlo_cell",
    "monte_carlo_fallback_ser",
    "oracle_with",
    "parity_process_check",
    "remdm_schedule_deviation",
]
