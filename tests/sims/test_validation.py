"""sims.validation: the error hierarchy and every checker, each rule hit once with a message that names the
argument and the rule."""

import math

import numpy as np
import pytest
import torch

from sims.validation import (
    LAW_ROW_ATOL,
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
    check_bool,
    check_choice,
    check_denoiser_output,
    check_device,
    check_dtype,
    check_enumeration_size,
    check_generator,
    check_int,
    check_masked_fractions,
    check_prob_rows,
    check_probability,
    check_real,
    check_stochastic,
    check_temperature,
    check_time_grid,
    check_tokens,
    invalid_log_prob_rows,
    invalid_prob_rows,
)


# ---- hierarchy ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, builtins",
    [
        (InvalidArgumentError, (ValueError,)),
        (InvalidTypeError, (ValueError, TypeError)),
        (InvalidDistributionError, (ValueError,)),
        (NumericalError, (ValueError, InvalidDistributionError)),
        (SizeLimitError, (ValueError,)),
        (SettingsMismatchError, (ValueError,)),
        (ImpossibleEvidenceError, (ValueError,)),
        (CorruptFileError, (ValueError,)),
        (MissingFileError, (ValueError, FileNotFoundError, CorruptFileError)),
        (OutputLockedError, (RuntimeError,)),
    ],
)
def test_every_error_is_a_suite_error_and_its_builtin(cls, builtins):
    assert issubclass(cls, SuiteError)
    for b in builtins:
        assert issubclass(cls, b)


def test_file_errors_carry_the_path(tmp_path):
    e = CorruptFileError(tmp_path / "x.json", "bad")
    assert e.path == tmp_path / "x.json" and str(e) == "bad"


# ---- scalars -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["3", 2.0, True, None, [1], torch.tensor(1.5)])
def test_check_int_rejects_non_integers(bad):
    with pytest.raises(InvalidTypeError, match="k must be an integer"):
        check_int(bad, "k")


def test_check_int_accepts_numpy_and_torch_integers_and_bounds():
    assert check_int(np.int64(3), "k") == 3 and check_int(torch.tensor(4), "k") == 4
    with pytest.raises(InvalidArgumentError, match="k must be >= 1, got 0"):
        check_int(0, "k", minimum=1)
    with pytest.raises(InvalidArgumentError, match="k must be <= 2, got 3"):
        check_int(3, "k", maximum=2)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_check_real_rejects_nan_and_inf(bad):
    with pytest.raises(InvalidArgumentError, match="x must be a finite number"):
        check_real(bad, "x")


@pytest.mark.parametrize("bad", ["1.0", True, None, [1.0], 1j])
def test_check_real_rejects_non_numbers(bad):
    with pytest.raises(InvalidTypeError, match="x must be a real number"):
        check_real(bad, "x")


def test_check_real_intervals():
    assert check_real(np.float32(0.5), "x", minimum=0, maximum=1) == 0.5
    assert check_real(math.inf, "x", allow_inf=True) == math.inf
    with pytest.raises(InvalidArgumentError, match="x must be > 0"):
        check_real(0.0, "x", minimum=0.0, open_min=True)
    with pytest.raises(InvalidArgumentError, match="x must be < 1"):
        check_real(1.0, "x", maximum=1.0, open_max=True)


def test_probability_and_temperature():
    assert check_probability(0, "p") == 0.0 and check_probability(1, "p") == 1.0
    for bad in (-1e-300, 1.0000001, math.nan):
        with pytest.raises(InvalidArgumentError, match="p must be"):
            check_probability(bad, "p")
    assert check_temperature(0.0) == 0.0
    with pytest.raises(InvalidArgumentError, match="temperature must be > 0"):
        check_temperature(0.0, allow_zero=False)
    for bad in (math.inf, math.nan, -0.5):
        with pytest.raises(InvalidArgumentError, match="temperature"):
            check_temperature(bad)


def test_choice_bool_type_dtype():
    assert check_choice("a", ("a", "b"), "mode") == "a"
    with pytest.raises(InvalidArgumentError, match=r"mode must be one of \('a', 'b'\), got 'c'"):
        check_choice("c", ("a", "b"), "mode")
    with pytest.raises(InvalidArgumentError, match="mode must be one of"):
        check_choice(["a"], ("a", "b"), "mode")
    assert check_bool(np.bool_(True), "flag") is True
    with pytest.raises(InvalidTypeError, match="flag must be True or False"):
        check_bool(1, "flag")
    with pytest.raises(InvalidTypeError, match=r"x must have dtype torch.float64"):
        check_dtype(torch.zeros(2, dtype=torch.float32), torch.float64, "x")


def test_device_and_generator():
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(InvalidArgumentError, match="is not a device name"):
        check_device("gpu0")
    with pytest.raises(InvalidTypeError, match="device must be a device name"):
        check_device(0.5)
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgumentError, match="CUDA is not available"):
            check_device("cuda")
    with pytest.raises(
        InvalidTypeError, match=r"generator must be a torch.Generator \(use sims.make_generator"
    ):
        check_generator(0)


def test_enumeration_size():
    assert check_enumeration_size(2, 10, 2**10) == 1024
    with pytest.raises(SizeLimitError, match=r"V\*\*L = 3\*\*20 sequences, above the limit"):
        check_enumeration_size(3, 20, 2**20, "exact_sampler_law")


def test_tokens():
    with pytest.raises(InvalidTypeError, match="tokens must be an integer tensor"):
        check_tokens(torch.zeros((1, 2)), 3, allow_mask=True)
    with pytest.raises(InvalidTypeError, match="tokens must be a"):
        check_tokens("01", 3, allow_mask=True)
    with pytest.raises(InvalidArgumentError, match="shape"):
        check_tokens(torch.zeros(3, dtype=torch.long), 3, allow_mask=True)
    with pytest.raises(InvalidArgumentError, match="mask id 3"):
        check_tokens(torch.tensor([[4]]), 3, allow_mask=True)


# ---- tables ------------------------------------------------------------------------------------------
def test_stochastic_tables():
    t = check_stochastic([[0.5, 0.5], [0.25, 0.75]], "T")
    assert t.dtype == torch.float64
    with pytest.raises(InvalidDistributionError, match=r"T: non-finite entry nan at index \(0, 1\)"):
        check_stochastic([[0.5, math.nan], [0.5, 0.5]], "T")
    with pytest.raises(InvalidDistributionError, match="negative probability"):
        check_stochastic([1.5, -0.5], "T")
    with pytest.raises(InvalidDistributionError, match=r"expected shape \(3,\) \(layout \(S,\)\)"):
        check_stochastic([0.5, 0.5], "T", shape=(3,), layout="(S,)")
    with pytest.raises(InvalidDistributionError, match="empty"):
        check_stochastic(np.zeros((2, 0)), "T")
    with pytest.raises(InvalidTypeError, match="expected an array of numbers"):
        check_stochastic("0.5 0.5", "T")
    with pytest.raises(InvalidTypeError, match="expected real numbers"):
        check_stochastic(torch.ones(2, dtype=torch.bool), "T")
    # a column-stochastic table is named as probably transposed
    with pytest.raises(InvalidDistributionError, match="transposed"):
        check_stochastic([[0.9, 0.2], [0.1, 0.8]], "T")


# ---- computed laws -----------------------------------------------------------------------------------
def test_invalid_rows_flags_each_kind_of_bad_row():
    p = torch.tensor(
        [[0.5, 0.5], [math.nan, 1.0], [math.inf, 0.0], [-0.1, 1.1], [0.0, 0.0], [0.5, 0.4], [1.0, 0.0]],
        dtype=torch.float64,
    )
    assert invalid_prob_rows(p).tolist() == [False, True, True, True, True, True, False]
    lp = torch.log(p.clamp(min=0))
    lp[1, 0] = math.nan
    lp[2, 0] = math.inf
    assert invalid_log_prob_rows(lp).tolist() == [False, True, True, True, True, True, False]


def test_float32_rounding_is_admitted():
    p = torch.full((4, 1000), 1e-3, dtype=torch.float32)
    assert (p.sum(-1) - 1).abs().max() > 1e-7  # float32 rounding of the sum is real ...
    assert not invalid_prob_rows(p).any()  # ... and below the tolerance
    assert LAW_ROW_ATOL == 1e-4


def test_check_prob_rows_names_the_row_and_the_problem():
    p = torch.full((2, 3, 4), 0.25, dtype=torch.float64)
    p[1, 2] = math.nan
    with pytest.raises(NumericalError, match=r"probs: row \(1, 2\) contains NaN \(1 bad row of 6\)"):
        check_prob_rows(p, "probs")
    p[1, 2] = 0.0
    with pytest.raises(NumericalError, match="is all zero"):
        check_prob_rows(p, "probs")
    p[1, 2] = 0.5
    with pytest.raises(NumericalError, match=r"sums to 2.0, not 1"):
        check_prob_rows(p, "probs")
    with pytest.raises(NumericalError, match="contains \\+inf"):
        check_prob_rows(torch.tensor([[0.0, math.inf]]), "lp", log=True)
    with pytest.raises(InvalidTypeError, match="floating-point"):
        check_prob_rows(torch.ones((1, 1), dtype=torch.long), "probs")


def test_denoiser_output_contract():
    lp = torch.log(torch.full((2, 3, 4), 0.25, dtype=torch.float64))
    imp = torch.zeros(2, dtype=torch.bool)
    check_denoiser_output(lp, imp, 2, 3, 4)
    with pytest.raises(InvalidArgumentError, match=r"must have shape \(batch, length, V\) = \(2, 3, 5\)"):
        check_denoiser_output(lp, imp, 2, 3, 5)
    with pytest.raises(InvalidTypeError, match=r"dtype torch.float64"):
        check_denoiser_output(lp.float(), imp, 2, 3, 4)
    with pytest.raises(InvalidTypeError, match=r"impossible must have dtype torch.bool"):
        check_denoiser_output(lp, imp.long(), 2, 3, 4)
    lp[0, 1, 2] = math.nan
    with pytest.raises(NumericalError, match="diverged network or corrupt cache"):
        check_denoiser_output(lp, imp, 2, 3, 4)


# ---- schedules ---------------------------------------------------------------------------------------
def test_time_grids():
    check_time_grid(torch.tensor([1.0, 0.5, 0.0]))
    for bad, msg in [
        ([1.0], "at least 2"),
        ([1.0, math.nan], "finite"),
        ([1.5, 0.0], r"\[0, 1\]"),
        ([1.0, 0.5, 0.5], "decrease strictly"),
        ([0.0, 1.0], "decrease strictly"),
    ]:
        with pytest.raises(InvalidArgumentError, match=msg):
            check_time_grid(bad)


def test_masked_fraction_rules():
    t = [1.0, 0.5, 0.0]
    check_masked_fractions([1.0, 0.5, 0.0], t, "s")
    check_masked_fractions([1.0 + 1e-13, 0.5, -1e-13], t, "s")  # rounding is admitted
    for m, msg in [
        ([1.0, math.nan, 0.0], r"m\(t\) = nan is not finite at t = 0.5"),
        ([1.0, 1.5, 0.0], "leaves"),
        ([1.0, 0.5, 0.2], r"m\(0\) = 0.2"),
        ([0.9, 0.5, 0.0], r"m\(1\) = 0.9"),
    ]:
        with pytest.raises(InvalidArgumentError, match=msg):
            check_masked_fractions(m, t, "s")
    with pytest.raises(InvalidArgumentError, match=r"not monotone: m\(0.5\) = 0.6 > m\(0.7\) = 0.4"):
        check_masked_fractions([1.0, 0.4, 0.6, 0.0], [1.0, 0.7, 0.5, 0.0], "s")
    # per-position values: one row per time
    check_masked_fractions(np.array([[1.0, 1.0], [0.2, 0.7], [0.0, 0.0]]), t, "pp")
    with pytest.raises(InvalidArgumentError, match="not monotone"):
        check_masked_fractions(np.array([[1.0, 1.0], [0.2, 0.7], [0.0, 0.8]]), [1.0, 0.5, 0.1], "pp")
