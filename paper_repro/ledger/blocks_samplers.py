"""Generated blocks of ``docs/adaptive_samplers.md`` and of the README's fallback sentence.

Every block is a pure function of the figure data (:class:`~paper_repro.ledger.data.FigureDataFolder`);
``python -m paper_repro`` rewrites the blocks and ``tests/paper_repro/test_docs_numbers.py`` compares them
with the data. Registered through :data:`paper_repro.ledger.claims_samplers.DOC_BLOCKS`.
"""

from __future__ import annotations

import math

from paper_repro.samplers_common import family_order

ZERO = 1e-12
NEVER = "never revisits"


def _records(data, name):
    return list(data(name)["records"].values())


def _ser(r):
    return r["quality"]["sequence_error"]


def _num(v, spec=".3f") -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if abs(v) <= ZERO:
        return "0"
    return format(v, spec)


def _short(lang: str) -> str:
    return lang.split("_seed")[0].replace("_", " ")


# ---- Monte Carlo: calls versus quality --------------------------------------------------------------
def calls_quality_best(data) -> str:
    """Lowest SER of each family within call budgets (oracle, every language of the figure)."""
    cells = [r for r in _records(data, "samplers_calls_quality") if r["denoiser"] == "oracle"]
    L = cells[0]["length"]
    budgets = [L // 4, L // 2, L]
    lines = [
        f"Oracle, L = {L}, {_ser(cells[0])['n']} sequences per setting: the lowest sequence error of each family "
        "with at most the given mean number of calls (its calls in parentheses; — = no setting that cheap).",
        "",
        "| language | family | " + " | ".join(f"<= {b} calls" for b in budgets) + " | any |",
        "|---|---|" + "---|" * (len(budgets) + 1),
    ]
    for lang in sorted({r["language"] for r in cells}):
        fams = list(
            dict.fromkeys(
                r["family"] for r in sorted(cells, key=lambda r: r["family"]) if r["language"] == lang
            )
        )
        for fam in fams:
            pts = [r for r in cells if r["language"] == lang and r["family"] == fam]
            row = []
            for b in [*budgets, math.inf]:
                ok = [r for r in pts if r["nfe_mean"] <= b * (1 + 1e-9)]
                if not ok:
                    row.append("—")
                    continue
                best = min(ok, key=lambda r: (_ser(r)["p"], r["nfe_mean"]))
                row.append(f"{_ser(best)['p']:.2f} ({best['nfe_mean']:.1f})")
            lines.append(f"| {lang} | {fam} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def remask_rounds(data) -> str:
    """SER of random order in K = 8 and after remask-and-resample rounds (oracle)."""
    cells = [r for r in _records(data, "samplers_calls_quality") if r["denoiser"] == "oracle"]
    lines = ["| language | random order, K = 8 | " + " | ".join(
        f"+ {int(v)} rounds" for v in sorted({r["value"] for r in cells if r["family"].startswith("random K=8")})
    ) + " |"]  # fmt: skip
    lines.append("|---|---|" + "---|" * (len(lines[0].split("|")) - 4))
    for lang in sorted({r["language"] for r in cells}):
        base = next(
            r
            for r in cells
            if r["language"] == lang and r["family"] == "fixed-count random" and r["value"] == 8
        )
        rounds = sorted(
            (r for r in cells if r["language"] == lang and r["family"].startswith("random K=8")),
            key=lambda r: r["value"],
        )
        row = [f"{_ser(base)['p']:.2f} ({base['nfe_mean']:.0f} calls)"]
        row += [f"{_ser(r)['p']:.2f} ({r['nfe_mean']:.0f} calls)" for r in rounds]
        lines.append(f"| {lang} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def tie_break(data) -> str:
    block = data("samplers_conventions")["tie_break"]
    rows = block["rows"]
    lines = [
        f"Oracle, L = {block['length']}, {block['num_samples']} sequences per cell; SER with Wilson 95% intervals.",
        "",
        "| language | score | K | random ties | lowest-index ties |",
        "|---|---|---|---|---|",
    ]
    for lang, score, k in sorted({(r["language"], r["score"], r["steps"]) for r in rows}):
        cell = {
            r["tie_break"]: _ser(r)
            for r in rows
            if (r["language"], r["score"], r["steps"]) == (lang, score, k)
        }
        fmt = [
            f"{c['p']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}]"
            for c in (cell["random"], cell["lowest_index"])
        ]
        lines.append(f"| {lang} | {score} | {k} | {fmt[0]} | {fmt[1]} |")
    return "\n".join(lines)


# ---- exact -----------------------------------------------------------------------------------------
def bounds(data) -> str:
    rows = data("samplers_bounds")
    lines = [
        "EB (entropy proxy, lowest-index ties), oracle; nats; expectations along the data-induced path.",
        "",
        "| language | gamma | KL(q ‖ p) | E sum (sum H - max H) | gamma E[steps] | certificate / KL |",
        "|---|---|---|---|---|---|",
    ]
    for r in (x for x in rows if x["sampler"] == "EB entropy"):
        lines.append(
            f"| {_short(r['language'])} | {r['knob']:g} | {_num(r['kl'], '.3g')} | "
            f"{_num(r['expected_eb_certificate_data'], '.3g')} | {_num(r['knob'] * r['expected_steps'], '.3g')} | "
            f"{_num(r['eb_certificate_ratio'], '.3g')} |"
        )
    lines += [
        "",
        "Fast-dLLM threshold rule (lowest-index ties), oracle:",
        "",
        "| language | tau | KL(q ‖ p) | Theorem-1 certificate | certificate / KL |",
        "|---|---|---|---|---|",
    ]
    for r in (x for x in rows if x["sampler"] == "Fast-dLLM threshold"):
        lines.append(
            f"| {_short(r['language'])} | {r['knob']:g} | {_num(r['kl'], '.3g')} | "
            f"{_num(r['expected_fast_dllm_bound'], '.3g')} | {_num(r['fast_dllm_bound_ratio'], '.3g')} |"
        )
    return "\n".join(lines)


def _exact(data):
    return _records(data, "samplers_exact")


def sampled_confidence(data) -> str:
    rows = _exact(data)
    lines = [
        "Exact KL(q ‖ p) in nats at one token per step (K = L), oracle:",
        "",
        "| language | random order | max-prob | sampled-prob (LLaDA) |",
        "|---|---|---|---|",
    ]
    for lang in sorted({r["language"] for r in rows}):
        L = next(r["length"] for r in rows if r["language"] == lang)
        kl = {
            r["family"]: r["metrics"]["kl_data_to_sampler"]
            for r in rows
            if r["language"] == lang and r["knob"] == "K" and r["value"] == L
        }
        lines.append(
            f"| {_short(lang)} | {_num(kl['fixed-count random'], '.2g')} | {_num(kl['fixed-count max-prob'], '.2g')} | "
            f"{_num(kl['fixed-count sampled-prob'], '.3g')} |"
        )
    return "\n".join(lines)


def eb_parity(data) -> str:
    rows = sorted(
        (r for r in _exact(data) if r["language"] == "parity" and r["family"] == "EB entropy"),
        key=lambda r: r["value"],
    )
    lines = ["| gamma | mean calls | KL(q ‖ p) | SER |", "|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]
        lines.append(
            f"| {r['value']:g} | {r['nfe_mean']:.2f} | {_num(m['kl_data_to_sampler'])} | {_num(m['sequence_error'])} |"
        )
    return "\n".join(lines)


def few_calls(data) -> str:
    """Per family on the sparse bigram: the setting with the lowest KL among those with at most L calls."""
    rows = [r for r in _exact(data) if r["language"].startswith("bigram")]
    L = rows[0]["length"]
    lines = [
        f"Sparse bigram (L = {L}), oracle: for each family the setting with the lowest KL(q ‖ p) among those with at "
        f"most {L} mean calls (exact metrics; calls by Monte Carlo).",
        "",
        "| family | setting | mean calls | KL(q ‖ p) | SER |",
        "|---|---|---|---|---|",
    ]
    for fam in sorted({r["family"] for r in rows}, key=family_order):
        ok = [r for r in rows if r["family"] == fam and r["nfe_mean"] <= L + 1e-9]
        if not ok:
            continue
        b = min(ok, key=lambda r: (r["metrics"]["kl_data_to_sampler"], r["nfe_mean"]))
        m = b["metrics"]
        lines.append(
            f"| {fam} | {b['knob']} = {b['value']:g} | {b['nfe_mean']:.2f} | {_num(m['kl_data_to_sampler'], '.2g')} | "
            f"{_num(m['sequence_error'], '.3g')} |"
        )
    return "\n".join(lines)


# ---- entropy selection -------------------------------------------------------------------------------
def entropy_selection(data) -> str:
    rows = data("samplers_entropy_selection")
    lines = [
        "Sparse bigram (V = 3, L = 5); E-BoN exact, E-SMC Monte Carlo (4000 outputs; SER point estimate).",
        "",
        "| base | method | N | calls | KL(q ‖ p) | SER |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["sequence_error"]
        s = s if isinstance(s, float) else s["p"]
        kl = r.get("kl_data_to_sampler")
        lines.append(
            f"| {r['case']} | {r['method']} | {r['N']} | {r['calls']:.1f} | {_num(kl, '.3g') if kl is not None else '—'} | "
            f"{_num(s, '.3f')} |"
        )
    return "\n".join(lines)


# ---- correction ----------------------------------------------------------------------------------------
def correction(data) -> str:
    d = data("samplers_correction")
    corr = d["corrector"]
    shown = sorted({0, 1, 2, max(r["rounds"] for r in corr)})
    lines = [
        "Remask-and-resample after random order in K = 2 steps, oracle, exact TV(p_n, q) after n rounds (calls in "
        "parentheses):",
        "",
        "| language | r | " + " | ".join(f"n = {n}" for n in shown) + " |",
        "|---|---|" + "---|" * len(shown),
    ]
    for lang, r in sorted({(x["language"], x["r"]) for x in corr}):
        cells = {x["rounds"]: x for x in corr if x["language"] == lang and x["r"] == r}
        lines.append(
            f"| {_short(lang)} | {r} | "
            + " | ".join(f"{_num(cells[n]['tv'])} ({cells[n]['calls']})" for n in shown)
            + " |"
        )
    lines += [
        "",
        "ReMDM, largest exact |P(masked) - (1 - alpha(t))| over the steps:",
        "",
        "| variant | deviation |",
        "|---|---|",
    ]
    lines += [f"| {r['variant']} | {_num(r['max_abs_deviation'], '.2g')} |" for r in d["remdm"]]
    lines += [
        "",
        "Dyck insertion, TV to the uniform law:",
        "",
        "| N pairs | exact Bayes kernel | uniform slots |",
        "|---|---|---|",
    ]
    for n in sorted({r["pairs"] for r in d["dyck"]}):
        tv = {r["oracle"]: r["tv"] for r in d["dyck"] if r["pairs"] == n}
        lines.append(f"| {n} | {_num(tv[True], '.2g')} | {_num(tv[False], '.3f')} |")
    p = d["ap_mdm_parity"]
    lines += [
        "",
        f"AP-MDM parity process: {p['strings'] - p['wrong']} of {p['strings']} bit strings of length <= "
        f"{p['max_length']} reduced to the right terminal, in at most {p['max_g_steps_per_bit']:g} g-steps per bit.",
    ]
    return "\n".join(lines)


# ---- conventions ---------------------------------------------------------------------------------------
def fallback(data) -> str:
    c = data("samplers_conventions")
    ex, mc = c["fallback_exact"], c["fallback_monte_carlo"]
    lines = [
        f"Exact ({_short(ex['language'])}, L = {ex['length']}): SER with each fallback.",
        "",
        "| sampler | kind | min_violation | uniform | difference |",
        "|---|---|---|---|---|",
    ]
    for r in ex["rows"]:
        lines.append(
            f"| {r['case']} | {r['kind']} | {r['ser']['min_violation']:.4f} | {r['ser']['uniform']:.4f} | "
            f"{_num(r['difference'], '+.4f')} |"
        )
    lines += [
        "",
        f"Paired Monte Carlo (same seed under both fallbacks; L = {mc['length']}, {mc['num_samples']} sequences): SER "
        "with each fallback and the number of sequences whose error status changes.",
        "",
        "| language | sampler | kind | min_violation | uniform | changed |",
        "|---|---|---|---|---|---|",
    ]
    for r in mc["rows"]:
        lines.append(
            f"| {r['language']} | {r['case']} | {r['kind']} | {r['ser']['min_violation']['p']:.3f} | "
            f"{r['ser']['uniform']['p']:.3f} | {r['discordant']} |"
        )
    return "\n".join(lines)


def fallback_summary(data) -> str:
    """The README's sentence on how much SER depends on the fallback."""
    c = data("samplers_conventions")
    ex, mc = c["fallback_exact"]["rows"], c["fallback_monte_carlo"]
    never_ex = max(abs(r["difference"]) for r in ex if r["kind"] == NEVER)
    rev = [r for r in ex if r["kind"] != NEVER]
    rev_mc = [r for r in mc["rows"] if r["kind"] != NEVER]
    never_mc = [r for r in mc["rows"] if r["kind"] == NEVER]
    w_ex = max(rev, key=lambda r: abs(r["difference"]))
    w_mc = max(rev_mc, key=lambda r: abs(r["difference"]))
    ter = next(
        r for r in never_mc if r["case"].startswith("fixed-count random") and r["language"] == "ngram2"
    )
    t = ter["token_error_rate"]
    return (
        f"SER does not depend on the fallback for samplers that never revisit a token (exact, sparse bigram L = "
        f"{c['fallback_exact']['length']}: largest difference {never_ex:.0e}; paired Monte Carlo at L = {mc['length']}: "
        f"{sum(r['discordant'] for r in never_mc)} of {sum(r['num_samples'] for r in never_mc)} sequences change"
        + (
            ", all in "
            + ", ".join(sorted({r["case"] for r in never_mc if r["discordant"]}))
            + ", whose adaptive steps draw a different number of random numbers once a row has left the support"
            if any(r["discordant"] for r in never_mc)
            else ""
        )
        + "). "
        f"It does for samplers that remask or select runs: exactly up to {abs(w_ex['difference']):.3f} "
        f"({w_ex['case']}: {w_ex['ser']['min_violation']:.3f} with `min_violation`, {w_ex['ser']['uniform']:.3f} with "
        f"`uniform`), and by Monte Carlo up to {abs(w_mc['difference']):.2f} ({w_mc['language']}, {w_mc['case']}: "
        f"{w_mc['ser']['min_violation']['p']:.2f} vs {w_mc['ser']['uniform']['p']:.2f}). Per-token error rates depend "
        f"on it for every sampler (ngram2, L = {mc['length']}, random order K = 8: {t['min_violation']['mean']:.3f} "
        f"with `min_violation`, {t['uniform']['mean']:.3f} with `uniform`). Data: "
        "[samplers_conventions](figures/README.md#samplers_conventions)."
    )


def float32_race(data) -> str:
    rows = data("samplers_conventions")["float32_race"]
    lines = ["| weight w | exact w/(1+w) | float32 race | ratio |", "|---|---|---|---|"]
    lines += [f"| {r['weight']:g} | {r['exact']:.3g} | {r['float32']:.3g} | {r['ratio']:.3f} |" for r in rows]
    return "\n".join(lines)


DOC_BLOCKS = {
    "samplers.calls_quality_best": calls_quality_best,
    "samplers.remask_rounds": remask_rounds,
    "samplers.tie_break": tie_break,
    "samplers.bounds": bounds,
    "samplers.sampled_confidence": sampled_confidence,
    "samplers.eb_parity": eb_parity,
    "samplers.few_calls": few_calls,
    "samplers.entropy_selection": entropy_selection,
    "samplers.correction": correction,
    "samplers.fallback": fallback,
    "samplers.fallback_summary": fallback_summary,
    "samplers.float32_race": float32_race,
}
