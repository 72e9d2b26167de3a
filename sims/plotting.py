"""Matplotlib helpers: one house style and the metric-versus-steps sweep figure."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sims.results import atomic_write_with
from sims.validation import InvalidArgumentError, InvalidTypeError

STYLE = {
    "figure.dpi": 120,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.markersize": 3.5,
    "savefig.bbox": "tight",
}


@contextmanager
def house_style():
    with plt.rc_context(STYLE):
        yield


#: Formats :func:`save_figure` writes, by file suffix.
FIGURE_FORMATS = ("png", "pdf", "svg")


#: Extra formats :func:`save_figure` writes beside each figure inside :func:`also_save` (scoped to the
#: ``with`` block and to the current thread or task; empty outside it).
_ALSO: ContextVar[tuple[str, ...]] = ContextVar("mdm_suite_also_save", default=())


def check_formats(formats: Sequence[str], name: str = "formats") -> tuple[str, ...]:
    """Figure formats named by their suffix without the dot, each one of :data:`FIGURE_FORMATS`."""
    if isinstance(formats, str):
        raise InvalidTypeError(f"{name} must be a sequence of format names such as ('pdf',), got {formats!r}")
    out = tuple(str(f).lower() for f in formats)
    bad = [f for f in out if f not in FIGURE_FORMATS]
    if bad:
        raise InvalidArgumentError(
            f"{name}: unknown figure formats {bad}; choose from {list(FIGURE_FORMATS)}"
        )
    return out


@contextmanager
def also_save(formats: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """Inside the block every :func:`save_figure` also writes the figure in ``formats`` beside its path
    (same stem; e.g. ``("pdf",)`` for vector copies of the PNGs, as ``python -m paper_repro --pdf`` does)."""
    token = _ALSO.set(check_formats(formats))
    try:
        yield _ALSO.get()
    finally:
        _ALSO.reset(token)


def save_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` at ``path`` (format from the suffix: PNG, PDF or SVG; parents created) and close it;
    inside :func:`also_save` also in the extra formats, beside it with the same stem.

    Written atomically: the figure goes to a temporary file beside ``path`` that is renamed over it only
    when complete, so a killed run never leaves a truncated or 0-byte figure (the bytes are those of
    ``fig.savefig(path)``)."""
    path = Path(path)
    fmt = path.suffix[1:].lower()
    try:
        if fmt not in FIGURE_FORMATS:
            raise InvalidArgumentError(
                f"figure path {path} must end in one of {['.' + f for f in FIGURE_FORMATS]}"
            )
        atomic_write_with(path, lambda tmp: fig.savefig(tmp, format=fmt))
        for extra in _ALSO.get():
            if extra != fmt:
                atomic_write_with(
                    path.with_suffix("." + extra), lambda tmp, e=extra: fig.savefig(tmp, format=e)
                )
    finally:
        plt.close(fig)
    return path


def _exp(v) -> float:
    """exp of a finite number, NaN otherwise and where it overflows (such points are not drawn)."""
    v = _finite(v)
    return math.exp(v) if v < 709.0 else math.nan


def _bar(v) -> float:
    """An error-bar length: >= 0 (bounds that miss the estimate by a rounding are clamped) and finite."""
    return max(0.0, v) if math.isfinite(v) else 0.0


def _get(row: dict, i: int, *keys):
    cur = row
    for j, k in enumerate(keys):
        if not isinstance(cur, dict) or k not in cur:
            raise InvalidArgumentError(
                f"rows[{i}] has no {'.'.join(keys[: j + 1])!r} (expected the records of a sweep.json "
                "written by mdm-suite sweep)"
            )
        cur = cur[k]
    return cur


def check_quality_rows(rows) -> list[dict]:
    """The records :func:`plot_quality_vs_steps` draws: a non-empty list of dicts, each with ``language``,
    ``sampler`` (str), ``length`` (int >= 1), ``steps`` (int >= 1, or None for a sampler that ignores K,
    drawn at its ``quality.mean_nfe`` > 0), ``quality.sequence_error.{p, ci_low, ci_high}`` (numbers) and
    ``quality.gen_nll_per_token_in_support`` (None or a dict). Errors name the row."""
    if not isinstance(rows, (list, tuple)):
        raise InvalidTypeError(f"rows must be a list of sweep records, got {type(rows).__name__}")
    if not rows:
        raise InvalidArgumentError("rows is empty: there is nothing to plot (has the sweep run any cell?)")
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise InvalidTypeError(f"rows[{i}] must be a dict (a sweep record), got {type(r).__name__}")
        for key in ("language", "sampler"):
            if not isinstance(_get(r, i, key), str):
                raise InvalidArgumentError(f"rows[{i}].{key} must be a string, got {r[key]!r}")
        for key in ("length", "steps"):
            v = _get(r, i, key)
            if key == "steps" and v is None:
                nfe = _get(r, i, "quality", "mean_nfe")
                if isinstance(nfe, bool) or not isinstance(nfe, (int, float)) or not 0 < nfe < math.inf:
                    raise InvalidArgumentError(
                        f"rows[{i}].quality.mean_nfe must be a number > 0, got {nfe!r}"
                    )
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgumentError(f"rows[{i}].{key} must be an integer >= 1, got {v!r}")
        for key in ("p", "ci_low", "ci_high"):
            v = _get(r, i, "quality", "sequence_error", key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
                raise InvalidArgumentError(
                    f"rows[{i}].quality.sequence_error.{key} must be a number, got {v!r}"
                )
        nll = _get(r, i, "quality", "gen_nll_per_token_in_support")
        if nll is not None and not isinstance(nll, dict):
            raise InvalidArgumentError(
                f"rows[{i}].quality.gen_nll_per_token_in_support must be a dict or None"
            )
    return list(rows)


def _finish_log_x(ax, drawn: bool, ks: list, note: str) -> None:
    """An axis with nothing finite drawn gets explicit x limits (a log axis cannot autoscale on no data)
    and a note saying why it is empty."""
    if not drawn:
        ax.set_xlim(min(ks) / 1.5, max(ks) * 1.5)
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=7, color="0.4")


def _finite(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def _steps_axis(row: dict) -> float:
    """x of a sweep row: K, or the mean number of calls for a sampler that ignores K."""
    return row["steps"] if row["steps"] is not None else row["quality"]["mean_nfe"]


def plot_quality_vs_steps(rows: list[dict], path: str | Path, title: str | None = None) -> Path:
    r"""Quality versus steps, one column per language; lines are (sampler, length).

    Rows of panels:

    1. (if present) the data-direction excess :math:`E_M KL(q \Vert p_M)/L` in nats/token (paired Monte
       Carlo by teacher forcing; the quantity the Feng / Li & Cai theory bounds), log-log;
    2. generative perplexity :math:`\exp(E_p[-\log q]/L)` of the in-support samples (hollow markers where
       SER > 0, i.e. where the generative perplexity of *all* samples is infinite), with the optimal
       perplexity exp(H/L) dashed where it is known exactly;
    3. sequence error rate (Wilson 95% intervals).

    Error bars are 95% intervals (t-intervals of means, mapped through exp for perplexity), clamped to
    non-negative lengths. Panels with nothing finite to draw (every sample out of support, infinite or
    overflowing values) are left empty with a note instead of failing. Malformed rows raise
    :class:`~sims.validation.InvalidArgumentError` naming the row and the key.
    """
    rows = check_quality_rows(rows)
    langs = sorted({r["language"] for r in rows})
    has_excess = any(r.get("order_conditional_excess_nll_per_token") for r in rows)
    nrows = 3 if has_excess else 2
    with house_style():
        fig, axes = plt.subplots(
            nrows, len(langs), figsize=(3.5 * len(langs), 2.5 * nrows + 0.4), squeeze=False
        )
        for j, lang in enumerate(langs):
            sub = [r for r in rows if r["language"] == lang]
            groups = sorted({(r["sampler"], r["length"]) for r in sub})
            optimal_drawn = set()
            drawn_ex = drawn_ppl = False
            ax_ex, ax_ppl, ax_ser = (
                (axes[0, j], axes[1, j], axes[2, j]) if has_excess else (None, axes[0, j], axes[1, j])
            )
            for gi, (sampler, L) in enumerate(groups):
                pts = sorted(
                    (r for r in sub if r["sampler"] == sampler and r["length"] == L), key=_steps_axis
                )
                ks = [_steps_axis(r) for r in pts]
                q = [r["quality"] for r in pts]
                color = f"C{gi % 10}"
                label = f"{sampler}, L={L}" + (
                    " (ignores K: at its mean NFE)" if pts[0]["steps"] is None else ""
                )
                if has_excess:
                    ex = [
                        (k, r["order_conditional_excess_nll_per_token"])
                        for k, r in zip(ks, pts)
                        if r.get("order_conditional_excess_nll_per_token")
                    ]
                    # |excess| < 1e-12 nats/token is float64 noise around an exact zero (one token per
                    # step with the oracle); it cannot be drawn on a log axis and is omitted.
                    # Infinite means cannot be drawn either (they are in the data file).
                    ex = [(k, e) for k, e in ex if math.isfinite(e["mean"]) and e["mean"] > 1e-12]
                    if ex:
                        drawn_ex = True
                        ax_ex.errorbar(
                            [k for k, _ in ex],
                            [e["mean"] for _, e in ex],
                            yerr=[
                                [_bar(min(e["mean"] - e["ci_low"], 0.999 * e["mean"])) for _, e in ex],
                                [_bar(e["ci_high"] - e["mean"]) for _, e in ex],
                            ],
                            color=color,
                            marker="o",
                            label=label,
                            capsize=2,
                            lw=1,
                        )
                nll = [x["gen_nll_per_token_in_support"] or {} for x in q]
                ppl = [_exp(x["mean"]) if x.get("mean") is not None else math.nan for x in nll]
                lo = [_exp(x.get("ci_low", math.nan)) for x in nll]
                hi = [_exp(x.get("ci_high", math.nan)) for x in nll]
                drawn_ppl = drawn_ppl or any(math.isfinite(v) for v in ppl)
                yerr = [
                    [max(0.0, p - a) if math.isfinite(a) else 0 for p, a in zip(ppl, lo)],
                    [max(0.0, b - p) if math.isfinite(b) else 0 for p, b in zip(ppl, hi)],
                ]
                ax_ppl.errorbar(ks, ppl, yerr=yerr, color=color, marker="o", label=label, capsize=2, lw=1)
                bad = [x["sequence_error"]["p"] > 0 for x in q]
                ax_ppl.scatter(
                    [k for k, b in zip(ks, bad) if b],
                    [p for p, b in zip(ppl, bad) if b],
                    facecolors="white",
                    edgecolors=color,
                    zorder=3,
                    s=14,
                )
                opt = q[0].get("optimal_nll_per_token")
                if opt is not None and math.isfinite(_exp(opt)) and L not in optimal_drawn:
                    optimal_drawn.add(L)
                    ax_ppl.axhline(
                        math.exp(opt),
                        color="0.4",
                        ls=(0, (4, 1 + len(optimal_drawn))),
                        lw=0.8,
                        label=f"optimal exp(H/L), L={L}",
                    )
                ser = [x["sequence_error"] for x in q]
                p = [s["p"] for s in ser]
                ax_ser.errorbar(
                    ks,
                    p,
                    yerr=[  # Wilson bounds at p = 0 or 1 can miss p by one rounding: clamped
                        [_bar(a - s["ci_low"]) for a, s in zip(p, ser)],
                        [_bar(s["ci_high"] - a) for a, s in zip(p, ser)],
                    ],
                    color=color,
                    marker="o",
                    label=label,
                    capsize=2,
                    lw=1,
                )
            ks_lang = [_steps_axis(r) for r in sub]
            _finish_log_x(ax_ppl, drawn_ppl, ks_lang, "no finite perplexity\n(no in-support samples?)")
            if has_excess:
                _finish_log_x(ax_ex, drawn_ex, ks_lang, "no positive finite excess")
                if not drawn_ex:
                    ax_ex.set_ylim(1e-3, 1.0)
                ax_ex.set_title(lang)
                ax_ex.set_xscale("log", base=2)
                ax_ex.set_yscale("log")
                if j == 0:
                    ax_ex.set_ylabel("data-direction excess\n" + r"$E_M\,KL(q\Vert p_M)/L$ [nats/token]")
            else:
                ax_ppl.set_title(lang)
            ax_ppl.set_xscale("log", base=2)
            if j == 0:
                ax_ppl.set_ylabel("generative perplexity\n(in-support samples)")
            ax_ser.set_xscale("log", base=2)
            ax_ser.set_xlabel("number of steps K")
            if j == 0:
                ax_ser.set_ylabel("sequence error rate")
            ax_ser.set_ylim(-0.03, 1.03)
        axes[0, -1].legend(loc="upper right")
        axes[1 if has_excess else 0, -1].legend(loc="upper right")
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)
