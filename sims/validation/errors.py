"""The suite's error types (see :mod:`sims.validation` for the table of what raises which)."""

from __future__ import annotations

from pathlib import Path


class SuiteError(Exception):
    """Base of every error the suite raises on purpose."""


class InvalidArgumentError(SuiteError, ValueError):
    """An argument breaks a rule (range, shape, layout, allowed values); the message names both."""


class InvalidTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type (also a ``TypeError``)."""


class InvalidDistributionError(InvalidArgumentError):
    """A table that should hold probability vectors does not."""


class NumericalError(InvalidDistributionError):
    """A law computed at run time is not a probability vector (NaN/inf/negative/zero row): never sampled."""


class SizeLimitError(InvalidArgumentError):
    """The problem is too large for an exact (enumerating) method."""


class SettingsMismatchError(InvalidArgumentError):
    """A result file was written with other settings than the ones it is resumed with."""


class ImpossibleEvidenceError(SuiteError, ValueError):
    """The revealed tokens have probability zero under the language, so no posterior exists."""


class CorruptFileError(SuiteError, ValueError):
    """A file the suite reads is truncated, malformed or of the wrong kind; ``path`` names it."""

    def __init__(self, path, message: str):
        self.path = Path(path)
        super().__init__(message)


class MissingFileError(CorruptFileError, FileNotFoundError):
    """A file the suite needs does not exist (or cannot be read)."""


class OutputLockedError(SuiteError, RuntimeError):
    """Another live process holds the lock of the same output file or directory."""
