"""The leaderboard's files: ``leaderboard.csv`` (quality at matched NFE), ``runs.csv`` (every run with
every metric), ``pareto.csv`` and ``leaderboard.md`` (ranking, verdicts against random order, matched-NFE
tables, Pareto fronts).

``runs.csv`` columns, one row per cell: the run's mean NFE (and K); SER with its Wilson interval; both
perplexity directions per token with their intervals -- the *sampler* direction ``gen_nll`` (generative
NLL of the samples under the language, in-support samples; t-interval) and the *data* direction
``excess_nll`` (the data's NLL under the sampler minus the entropy rate: exact by replay, else an upper
bound, its ``excess_kind`` says which); Tang et al.'s transition KL / TV rates; and on the exact tier
the exact ``KL(q||p)``, ``KL(p||q)`` (nats per token), TV and SER of the policy's exact law.

Everything is rendered from :func:`sims.bench.leaderboard.build`'s plain data, so the same text can be
regenerated from ``leaderboard.json`` (e.g. for a generated block of ``docs/bench.md``).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from sims.results import atomic_write_text

#: Markdown symbols of the verdicts against random order.
SYMBOL = {
    "beats": "beats",
    "loses": "**loses**",
    "mixed": "mixed",
    "no difference": "=",
    "not comparable": "—",
}


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"
    return str(v)


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c) for c in columns})
    return buf.getvalue()


RUN_COLUMNS = [
    "tier",
    "language",
    "length",
    "policy",
    "setting",
    "status",
    "steps",
    "nfe_mean",
    "ser",
    "ser_lo",
    "ser_hi",
    "gen_nll",
    "gen_nll_lo",
    "gen_nll_hi",
    "excess_nll",
    "excess_nll_lo",
    "excess_nll_hi",
    "excess_kind",
    "transition_kl_rate",
    "transition_tv_rate",
    "exact_kl_data_to_sampler",
    "exact_kl_sampler_to_data",
    "exact_tv",
    "exact_ser",
    "exact_method",
]


def run_row(record: dict) -> dict:
    """The ``runs.csv`` row of one cell record (module docstring); per-token values divide by L."""
    row = {k: record.get(k) for k in ("tier", "language", "length", "policy", "setting", "status", "steps")}
    if record.get("status") != "ok":
        return row
    L = record["length"]
    ser, gen, exc = record["ser"], record.get("gen_nll_in_support"), record.get("excess")
    row |= {
        "nfe_mean": record["nfe_mean"],
        "ser": ser["p"],
        "ser_lo": ser["ci_low"],
        "ser_hi": ser["ci_high"],
    }
    if gen:
        row |= {"gen_nll": gen["mean"], "gen_nll_lo": gen["ci_low"], "gen_nll_hi": gen["ci_high"]}
    if exc:
        row |= {
            "excess_nll": exc["mean"],
            "excess_nll_lo": exc["ci_low"],
            "excess_nll_hi": exc["ci_high"],
            "excess_kind": exc["kind"],
        }
    if record.get("transitions"):
        row |= {
            "transition_kl_rate": record["transitions"]["kl_rate"],
            "transition_tv_rate": record["transitions"]["tv_rate"],
        }
    if record.get("exact"):
        e = record["exact"]
        row |= {
            "exact_kl_data_to_sampler": e["kl_data_to_sampler"] / L,
            "exact_kl_sampler_to_data": e["kl_sampler_to_data"] / L,
            "exact_tv": e["total_variation"],
            "exact_ser": e["sequence_error"],
            "exact_method": e["method"],
        }
    return row


def write_runs_csv(records: list[dict], out: Path) -> Path:
    """``runs.csv``: :func:`run_row` of every record, in the records' order."""
    path = Path(out) / "runs.csv"
    atomic_write_text(path, _csv([run_row(r) for r in records], RUN_COLUMNS))
    return path


def write_csvs(board: dict, out: Path) -> list[Path]:
    """``leaderboard.csv`` (one row per tier, language, budget, policy) and ``pareto.csv``."""
    base = {
        (r["tier"], r["language"], r["budget"]): r
        for r in board["matched"]
        if r["policy"] == board["baseline"]
    }
    rows = []
    for r in board["matched"]:
        b = base.get((r["tier"], r["language"], r["budget"]))
        rows.append(
            {**r, "baseline_value": None if b is None else b["value"], "metric": board["metrics"][r["tier"]]}
        )
    lb = Path(out) / "leaderboard.csv"
    cols = ["tier", "language", "budget", "policy", "value", "lo", "hi", "rank", "baseline_value", "metric"]
    atomic_write_text(lb, _csv(rows, cols))
    front_rows = [
        {"tier": f["tier"], "language": f["language"], **p} for f in board["pareto"] for p in f["front"]
    ]
    pf = Path(out) / "pareto.csv"
    atomic_write_text(
        pf, _csv(front_rows, ["tier", "language", "policy", "setting", "nfe", "value", "lo", "hi"])
    )
    return [lb, pf]


def ranking_table(board: dict, top: int | None = None) -> list[str]:
    tiers = board["tiers"]
    lines = [
        "| # | policy | mean rank | matched cells | "
        + " | ".join(f"rank {t}" for t in tiers)
        + " | runs vs random: better / tie / worse |",
        "|---|---|---|---|" + "---|" * len(tiers) + "---|",
    ]
    for i, r in enumerate(board["ranking"][:top] if top else board["ranking"], 1):
        per = " | ".join(_fmt(r["tiers"].get(t)) for t in tiers)
        vs = (
            "(baseline)" if r["policy"] == board["baseline"] else f"{r['better']} / {r['tie']} / {r['worse']}"
        )
        lines.append(f"| {i} | `{r['policy']}` | {r['mean_rank']:.2f} | {r['cells']} | {per} | {vs} |")
    return lines


def verdict_table(board: dict, languages: list[str]) -> list[str]:
    lines = ["| policy | " + " | ".join(languages) + " |", "|---|" + "---|" * len(languages)]
    order = [r["policy"] for r in board["ranking"] if r["policy"] != board["baseline"]]
    order += sorted(p for p in board["verdicts"] if p not in order)
    for policy in order:
        v = board["verdicts"].get(policy, {})
        cells = [SYMBOL[v[lang]["verdict"]] if lang in v else "—" for lang in languages]
        lines.append(f"| `{policy}` | " + " | ".join(cells) + " |")
    return lines


def matched_tables(board: dict, languages: list[str]) -> list[str]:
    """Per tier: policies x languages at the tier's middle budget."""
    lines = []
    for tier in board["tiers"]:
        rows = [r for r in board["matched"] if r["tier"] == tier]
        if not rows:
            continue
        budgets = sorted({r["budget"] for r in rows})
        mid = budgets[len(budgets) // 2]
        lines += [
            f"**{tier}**, {board['metrics'][tier]} at NFE = {mid} (matched; — = outside the policy's range)",
            "",
        ]
        lines += ["| policy | " + " | ".join(languages) + " |", "|---|" + "---|" * len(languages)]
        for policy in [r["policy"] for r in board["ranking"]]:
            vals = {r["language"]: r for r in rows if r["budget"] == mid and r["policy"] == policy}
            lines.append(
                f"| `{policy}` | "
                + " | ".join(_fmt(vals[lang]["value"]) if lang in vals else "—" for lang in languages)
                + " |"
            )
        lines.append("")
    return lines


def pareto_lines(board: dict) -> list[str]:
    lines = []
    for f in board["pareto"]:
        pts = ", ".join(
            f"`{p['policy']}` [{p['setting']}] ({p['nfe']:.3g}, {_fmt(p['value'])})" for p in f["front"]
        )
        lines.append(f"- {f['tier']}, {f['language']}: {pts}")
    return lines


def render_markdown(board: dict, meta: dict) -> str:
    languages = meta["languages"]
    lines = [
        "# Decoding-policy bench: leaderboard",
        "",
        f"Preset `{meta['preset']}`; languages {', '.join(f'`{x}`' for x in languages)}; tiers "
        f"{', '.join(board['tiers'])}; {meta['cells']} cells; seed {meta['seed']}. Oracle denoiser (exact "
        "posterior marginals). Metrics: " + "; ".join(f"{t}: {m}" for t, m in board["metrics"].items()) + ". "
        "Matched NFE: nearest run within 5%, else interpolation in log2 NFE between the bracketing runs "
        f"(no extrapolation). Baseline: `{board['baseline']}` (random order). See docs/bench.md.",
        "",
        "## Ranking (mean rank at matched NFE, lower is better)",
        "",
        *ranking_table(board),
        "",
        "## Beats random order at equal NFE?",
        "",
        "Each run against the baseline read at the run's own NFE (exact tier: exact KL; other tiers: SER "
        "intervals must separate); pooled over tiers.",
        "",
        *verdict_table(board, languages),
        "",
        "## Quality at matched NFE",
        "",
        *matched_tables(board, languages),
        "## Pareto fronts (NFE, metric)",
        "",
        *pareto_lines(board),
        "",
    ]
    if board["over_budget"]:
        lines += [f"Runs stopped over budget: {len(board['over_budget'])} (listed in leaderboard.json).", ""]
    if board["no_exact_law"]:
        lines += [
            f"Exact-tier runs without an exact law (kernel too large, or randomised selection without a kernel): {len(board['no_exact_law'])}.",
            "",
        ]
    return "\n".join(lines)


def write_markdown(board: dict, meta: dict, out: Path) -> Path:
    path = Path(out) / "leaderboard.md"
    atomic_write_text(path, render_markdown(board, meta))
    return path
