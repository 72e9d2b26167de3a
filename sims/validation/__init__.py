"""The suite's error types and the one place its input rules live.

Every public entry point funnels what it is given (tables, token tensors, counts, temperatures,
probabilities, schedule values, devices, generators, file contents) through these checkers, so bad input
fails with an error that names the argument and the rule instead of turning into a silent NaN.

Error types (all subclass :class:`SuiteError` *and* the matching builtin, so ``except ValueError`` and
``pytest.raises(ValueError)`` keep working):

=============================  ===========================  ==================================================
type                           builtin bases                raised for
=============================  ===========================  ==================================================
:class:`InvalidArgumentError`  ``ValueError``               a value breaks a rule (range, shape, layout, choice)
:class:`InvalidTypeError`      ``ValueError, TypeError``    a value of the wrong type (str for an int, ...)
:class:`InvalidDistributionError` ``ValueError``            a table that should hold probability vectors
:class:`NumericalError`        ``ValueError``               a *computed* law is not a law (NaN output of a
                                                            network, a temperature that underflows)
:class:`SizeLimitError`        ``ValueError``               a problem too large for an exact method
:class:`SettingsMismatchError` ``ValueError``               resuming a result file with other settings
:class:`ImpossibleEvidenceError` ``ValueError``             revealed tokens of probability zero
:class:`CorruptFileError`      ``ValueError``               a file the suite reads is truncated or malformed
:class:`MissingFileError`      ``ValueError, FileNotFound``  a file the suite needs is absent
:class:`OutputLockedError`     ``RuntimeError``             another live process writes the same output
=============================  ===========================  ==================================================
"""

from sims.validation.errors import (
    CorruptFileError,
    ImpossibleEvidenceError,
    InvalidArgumentError,
    InvalidDistributionError,
    InvalidTypeError,
    MissingFileError,
    NumericalError,
    OutputLockedError,
    SettingsMismatchError,
    SizeLimitError,
    SuiteError,
)
from sims.validation.laws import (
    LAW_ROW_ATOL,
    ROW_SUM_ATOL,
    as_float64,
    check_denoiser_output,
    check_prob_rows,
    check_stochastic,
    invalid_log_prob_rows,
    invalid_prob_rows,
)
from sims.validation.schedules import SCHEDULE_ATOL, check_masked_fractions, check_time_grid
from sims.validation.values import (
    check_bool,
    check_choice,
    check_device,
    check_dtype,
    check_enumeration_size,
    check_generator,
    check_int,
    check_optional_positive_int,
    check_positive_int,
    check_probability,
    check_real,
    check_temperature,
    check_tokens,
    check_type,
)

__all__ = [
    "LAW_ROW_ATOL",
    "ROW_SUM_ATOL",
    "SCHEDULE_ATOL",
    "CorruptFileError",
    "ImpossibleEvidenceError",
    "InvalidArgumentError",
    "InvalidDistributionError",
    "InvalidTypeError",
    "MissingFileError",
    "NumericalError",
    "OutputLockedError",
    "SettingsMismatchError",
    "SizeLimitError",
    "SuiteError",
    "as_float64",
    "check_bool",
    "check_choice",
    "check_denoiser_output",
    "check_device",
    "check_dtype",
    "check_enumeration_size",
    "check_generator",
    "check_int",
    "check_masked_fractions",
    "check_optional_positive_int",
    "check_positive_int",
    "check_prob_rows",
    "check_probability",
    "check_real",
    "check_stochastic",
    "check_temperature",
    "check_time_grid",
    "check_tokens",
    "check_type",
    "invalid_log_prob_rows",
    "invalid_prob_rows",
]
