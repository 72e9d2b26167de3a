"""The sweep figure (what `mdm-suite plot` draws) on edge cases: SER 0 or 1 with Wilson bounds that miss p
by a rounding, every sample out of support, infinite or overflowing values, malformed or empty rows."""

import copy
import math
import warnings

import pytest

from sims.plotting import STYLE, check_quality_rows, plot_quality_vs_steps
from sims.stats import proportion_estimate
from sims.validation import InvalidArgumentError, InvalidTypeError


def row(lang, sampler, L, k, ser=0.2, nll=1.0, excess=0.1):
    return {
        "language": lang,
        "sampler": sampler,
        "length": L,
        "steps": k,
        "quality": {
            "sequence_error": proportion_estimate(int(ser * 100), 100).to_dict(),
            "gen_nll_per_token_in_support": None
            if nll is None
            else {"mean": nll, "ci_low": nll - 0.1, "ci_high": nll + 0.1},
            "optimal_nll_per_token": 0.9,
        },
        "order_conditional_excess_nll_per_token": None
        if excess is None
        else {"mean": excess, "ci_low": excess / 2, "ci_high": excess * 2},
    }


ROWS = [row("ngram2", s, 16, k) for s in ("a", "b") for k in (1, 2, 4, 8)]


@pytest.fixture(autouse=True)
def low_resolution(monkeypatch):
    """The drawing code paths are what is tested; a low resolution keeps the test fast."""
    monkeypatch.setitem(STYLE, "savefig.dpi", 20)
    monkeypatch.setitem(STYLE, "figure.dpi", 20)


def draw(rows, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return plot_quality_vs_steps(rows, tmp_path / "sweep.png")


def test_wilson_bounds_that_miss_p_by_a_rounding_are_clamped(tmp_path):
    assert proportion_estimate(256, 256).ci_high < 1.0  # 0.9999999999999999: one rounding below p = 1
    assert proportion_estimate(0, 3).ci_low > 0.0  # 5.6e-17: one rounding above p = 0
    rows = copy.deepcopy(ROWS)
    for r, (s, n) in zip(rows, [(256, 256), (0, 3)] * 8):
        r["quality"]["sequence_error"] = proportion_estimate(s, n).to_dict()
    assert draw(rows, tmp_path).stat().st_size > 500


MUTATIONS = [
    lambda r: r["quality"].update(gen_nll_per_token_in_support=None),  # every sample out of support
    lambda r: r["quality"]["gen_nll_per_token_in_support"].update(mean=math.inf, ci_high=math.inf),
    lambda r: r["quality"]["gen_nll_per_token_in_support"].update(mean=800.0, ci_high=810.0),  # exp overflows
    lambda r: r["order_conditional_excess_nll_per_token"].update(mean=math.inf, ci_high=math.inf),
    lambda r: r["order_conditional_excess_nll_per_token"].update(mean=0.0, ci_low=-1e-13),
    lambda r: r["order_conditional_excess_nll_per_token"].update(ci_low=-math.inf, ci_high=math.inf),
]


def test_panels_with_nothing_finite_do_not_crash_the_log_axes(tmp_path):
    """One column (language) per pair of failure modes (a perplexity one and an excess one), each making its
    panel empty or infinite; then a figure with no excess and no perplexity at all."""
    rows = [row(f"case{i}", "a", 16, k) for i in range(3) for k in (1, 4)]
    for r in rows:
        i = int(r["language"][4:])
        MUTATIONS[i](r)
        MUTATIONS[i + 3](r)
    assert draw(rows, tmp_path).stat().st_size > 500
    for r in rows:
        r["order_conditional_excess_nll_per_token"] = None
        r["quality"]["gen_nll_per_token_in_support"] = None
    assert draw(rows[:2], tmp_path).stat().st_size > 500


def test_malformed_rows_are_named():
    with pytest.raises(InvalidArgumentError, match="nothing to plot"):
        check_quality_rows([])
    with pytest.raises(InvalidTypeError, match="rows must be a list"):
        check_quality_rows({"records": {}})
    bad = copy.deepcopy(ROWS)
    del bad[3]["quality"]["sequence_error"]
    with pytest.raises(InvalidArgumentError, match=r"rows\[3\] has no 'quality.sequence_error'"):
        check_quality_rows(bad)
    bad = copy.deepcopy(ROWS)
    bad[5]["steps"] = 0
    with pytest.raises(InvalidArgumentError, match=r"rows\[5\].steps must be an integer >= 1"):
        check_quality_rows(bad)
    bad = copy.deepcopy(ROWS)
    bad[1]["quality"]["sequence_error"]["p"] = "nan"
    with pytest.raises(InvalidArgumentError, match=r"rows\[1\].quality.sequence_error.p must be a number"):
        check_quality_rows(bad)
