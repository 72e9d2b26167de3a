"""The house style of every figure: sizes, fonts, one colour and marker per entity, panel labels, labels.

Rules (issue "figures fit to publish"):

* at most :data:`MAX_WIDTH` inches wide, fonts of at least 9 pt at that width (readable when the figure is
  scaled to a page's text width);
* one fixed colour and marker per sampler, schedule, training method or denoiser across all panels and
  all figures (:func:`style_for`); entities not in the table get a stable colour from their name;
* panel labels (a), (b), ... (:func:`label_panels`); mathtext for symbols; the number of steps is
  always :math:`K` (:data:`STEPS_LABEL`), model calls are "NFE" (:data:`CALLS_LABEL`);
* no perplexity point from fewer than :data:`MIN_PERPLEXITY_SAMPLES` in-support samples
  (:func:`perplexity_or_missing`): such points are drawn as missing and their count is reported.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from contextlib import contextmanager

import matplotlib.pyplot as plt

from sims.validation import InvalidArgumentError

#: Widest figure, inches (a full page text width is about 6.5-7 in; figures are scaled down at most ~1.5x).
MAX_WIDTH = 10.0
#: Default height of one row of panels, inches.
ROW_HEIGHT = 3.0
#: Smallest number of in-support samples a perplexity point may be computed from.
MIN_PERPLEXITY_SAMPLES = 20

STEPS_LABEL = "steps $K$"
CALLS_LABEL = "model calls (NFE)"
LENGTH_LABEL = "sequence length $L$"

RC = {
    "figure.dpi": 120,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.5,
    "lines.markersize": 4.5,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
}

_PALETTE = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
    "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#ff7f00", "#6a3d9a", "#b15928", "#17becf",
)  # fmt: skip
_MARKERS = "osD^v<>pP*Xh"

#: Fixed styles, matched by the longest key that prefixes the entity name (case-insensitive).
STYLES: dict[str, dict] = {
    # oracle and models
    "oracle": {"color": "#000000", "marker": "o"},
    "transformer": {"color": "#7f7f7f", "marker": "s"},
    # samplers
    "ancestral": {"color": "#1f77b4", "marker": "o"},
    "first_hitting": {"color": "#17becf", "marker": "v"},
    "fixed_random": {"color": "#2ca02c", "marker": "s"},
    "fixed_max_prob": {"color": "#d62728", "marker": "^"},
    "fixed_sampled_prob": {"color": "#ff7f0e", "marker": "<"},
    "fixed_margin": {"color": "#9467bd", "marker": ">"},
    "fixed_entropy": {"color": "#8c564b", "marker": "D"},
    "eb": {"color": "#e377c2", "marker": "P"},
    "fast_dllm_threshold": {"color": "#bcbd22", "marker": "X"},
    "fast_dllm_factor": {"color": "#7f6d00", "marker": "x"},
    "remdm": {"color": "#6a3d9a", "marker": "h"},  # ReMDM cap (and any variant without its own entry)
    "remdm_loop": {"color": "#053061", "marker": "H"},
    "remdm_rescale": {"color": "#35978f", "marker": "d"},
    "remdm_conf": {"color": "#bf812d", "marker": "p"},
    "remdm_fb": {"color": "#c51b7d", "marker": "8"},
    "remask": {"color": "#b15928", "marker": "*"},
    # schedules
    "linear": {"color": "#1f77b4", "marker": "o"},
    "cosine_mdlm": {"color": "#ff7f0e", "marker": "s"},
    "cosine": {"color": "#2ca02c", "marker": "^"},
    "sin2": {"color": "#d62728", "marker": "D"},
    "poly": {"color": "#9467bd", "marker": "v"},
    "beta": {"color": "#8c564b", "marker": "P"},
    # training methods
    "standard": {"color": "#1f77b4", "marker": "o"},
    "ppots_mirror": {"color": "#d62728", "marker": "D"},
    "ppots": {"color": "#ff7f0e", "marker": "s"},
    "mirror": {"color": "#2ca02c", "marker": "^"},
    "pair": {"color": "#9467bd", "marker": "v"},
    "ar": {"color": "#000000", "marker": "x"},
    # the step rules of the theory figures: Bernoulli = MDLM ancestral, fixed = random-order fixed counts
    "bernoulli": {"color": "#1f77b4", "marker": "o"},
    "fixed": {"color": "#2ca02c", "marker": "s"},
    # the energy paper's recommended Beta-CDF schedules and the best grid cell
    "beta(0.9,0.3)": {"color": "#17becf", "marker": "P"},
    "beta(1,0.2)": {"color": "#e377c2", "marker": "X"},
    "beta(0.3,0.9)": {"color": "#bcbd22", "marker": "h"},
    "beta(2,2)": {"color": "#7f7f7f", "marker": "d"},
    "best_beta": {"color": "#000000", "marker": "*"},
    "smoothstep": {"color": "#000080", "marker": "*"},
    # exact values and bounds
    "exact": {"color": "#000000", "marker": "o"},
    "theorem1": {"color": "#d62728", "marker": "^"},
    "corollary1": {"color": "#9467bd", "marker": "v"},
    "smax": {"color": "#ff7f0e", "marker": "s"},
    "stepwise": {"color": "#17becf", "marker": "D"},
    "feng_rate_shape": {"color": "#7f7f7f", "marker": "x"},
    # controlled imperfect models
    "temperature": {"color": "#1b9e77", "marker": "s"},
    "uniform_mix": {"color": "#d95f02", "marker": "o"},
    "perturbed": {"color": "#d95f02", "marker": "s"},
    "left_context": {"color": "#7570b3", "marker": "^"},
}


def style_for(name: str) -> dict:
    """``{"color", "marker"}`` of an entity: the fixed style of the longest matching key of :data:`STYLES`,
    else a colour and marker derived from a hash of the name (the same in every figure and run)."""
    key = name.lower().replace("-", "_").replace(" ", "_")
    matches = [k for k in STYLES if key.startswith(k)]
    if matches:
        return dict(STYLES[max(matches, key=len)])
    h = int(hashlib.sha1(key.encode()).hexdigest(), 16)
    return {"color": _PALETTE[h % len(_PALETTE)], "marker": _MARKERS[(h // len(_PALETTE)) % len(_MARKERS)]}


@contextmanager
def house_style():
    """Matplotlib rc settings of the house style."""
    with plt.rc_context(RC):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, width: float | None = None, height: float | None = None, **kw):
    """``(fig, axes)`` of the house size: ``width`` at most :data:`MAX_WIDTH` (default: 3.3 in per column)."""
    width = min(MAX_WIDTH, 3.3 * ncols) if width is None else width
    if not 0 < width <= MAX_WIDTH:
        raise InvalidArgumentError(f"figure width must lie in (0, {MAX_WIDTH}] inches, got {width}")
    height = ROW_HEIGHT * nrows if height is None else height
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", squeeze=False, **kw)


def label_panels(axes: Sequence, start: str = "a") -> None:
    """Write (a), (b), ... in the upper-left corner of each panel (row-major order)."""
    flat = [ax for ax in _flatten(axes) if ax.get_visible()]
    for i, ax in enumerate(flat):
        ax.text(
            -0.02, 1.02, f"({chr(ord(start) + i)})", transform=ax.transAxes, ha="right", va="bottom",
            fontweight="bold",
        )  # fmt: skip


def _flatten(axes):
    if hasattr(axes, "flat"):
        return list(axes.flat)
    out = []
    for a in axes:
        out.extend(_flatten(a) if isinstance(a, (list, tuple)) or hasattr(a, "flat") else [a])
    return out


#: Line styles that tell sequence lengths apart when colour is the sampler's; the last is solid.
LENGTH_LINESTYLES = ((0, (1, 3)), (0, (3, 3, 1, 3)), ":", "-.", "--", (0, (6, 1)), "-")


def length_linestyles(lengths: Sequence[int]) -> dict:
    """``{L: linestyle}``: the longest length solid, shorter ones ever more broken (at most seven)."""
    ls = sorted(set(lengths))
    if len(ls) > len(LENGTH_LINESTYLES):
        raise InvalidArgumentError(
            f"at most {len(LENGTH_LINESTYLES)} lengths can be told apart by line style"
        )
    return dict(zip(ls, LENGTH_LINESTYLES[len(LENGTH_LINESTYLES) - len(ls) :]))


def note(ax, text: str, loc: str = "lower left", **kw) -> None:
    """A small boxed note inside the axes (fitted slopes, bound ratios) at ``loc`` ("upper/center/lower" +
    "left/right")."""
    x = 0.03 if "left" in loc else 0.97
    y = 0.04 if "lower" in loc else (0.5 if "center" in loc else 0.96)
    ax.text(
        x, y, text, transform=ax.transAxes, ha="left" if "left" in loc else "right",
        va="bottom" if "lower" in loc else ("center" if "center" in loc else "top"), fontsize=9,
        bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.7", "alpha": 0.9}, **kw,
    )  # fmt: skip


def fmt_slope(value: float, digits: int = 2) -> str:
    """A fitted slope for an annotation, without a negative zero (``-0.00``)."""
    return f"{round(value, digits) + 0.0:.{digits}f}"


def proxy_legend(target, entries: Sequence[tuple[str, dict]], **kw):
    """A legend of proxy artists on an axes or a figure: ``entries`` = ``[(label, line kwargs), ...]`` (e.g.
    one entry per sampler colour and one per length line style, instead of one per curve). For a figure
    legend below the panels pass ``loc="outside lower center"`` (constrained layout)."""
    handles = [plt.Line2D([], [], **{"color": "0.3", **style}) for _, style in entries]
    return target.legend(handles, [label for label, _ in entries], **kw)


def perplexity_or_missing(value: float, in_support: int) -> float:
    """``value`` if it rests on at least :data:`MIN_PERPLEXITY_SAMPLES` in-support samples, else NaN
    (drawn as missing; figures report the count)."""
    if in_support < MIN_PERPLEXITY_SAMPLES or not math.isfinite(value):
        return math.nan
    return value
