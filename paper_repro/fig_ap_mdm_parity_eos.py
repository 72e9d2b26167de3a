"""AP-MDM (Yang et al., arXiv 2510.06190) parity task on the official test format ``[BOS] bits [EOS]``:
the generator's 7 training transitions, iterated with g, on every input up to a length.

Thin module: the computation is :mod:`theory.parity_eos`.
"""

from __future__ import annotations

from pathlib import Path

from paper_repro.ledger import FigureSpec
from sims.plot_style import house_style, label_panels, new_figure
from sims.plotting import save_figure
from sims.results import write_json
from theory.parity_eos import parity_eos_study

DESCRIPTION = "AP-MDM parity with EOS: official 7 transitions vs lone-zero completion, every input"

FIGURE = FigureSpec(
    name="ap_mdm_parity_eos",
    title="AP-MDM parity on the official test format [BOS] bits [EOS]",
    caption="Every input [BOS] b_1..b_n [EOS] with n bits (2^n inputs per n) is reduced by iterating AP-MDM's "
    "map g with a policy acting on the window [BOS] a b: 'official' = the 7 transitions of the official "
    "training data (01 -> M1 -> 1, 10 -> 1M -> 1, 00 / 11 -> MM -> empty; stop where none applies), "
    "'completion' = plus [BOS] 0 [EOS] -> [BOS] M [EOS] -> [BOS] [EOS]. (a) fraction of inputs whose final "
    "state equals the generator's expected final state ([BOS] or [BOS] 1) once a trailing EOS is dropped, "
    "and fraction stuck at [BOS] 0 [EOS], with the pair automaton's count of inputs ending on a pending 0 "
    "(dynamic programming, crosses); literally (with EOS kept) no input reaches it. (b) largest number of g "
    "steps against n, and 2n.",
    shows="The 7 official transitions never touch EOS, so the literal expected final state is never reached "
    "and an evaluator must strip EOS; modulo EOS they leave about one input in six stuck on a lone 0, "
    "which the lone-zero completion repairs, within 2n g steps.",
    claims=(
        "ap_mdm.parity_eos_literal_final_state",
        "ap_mdm.parity_eos_official_transitions_complete",
        "ap_mdm.parity_eos_completion",
    ),
    caveats=(
        "How the length-3 model is applied to long inputs was not read: the policy acting on the prefix "
        "window is our reading. A trained model may do anything on windows outside its 7 training states.",
    ),
)

PRESETS = {"quick": {"max_length": 12}, "full": {"max_length": 16}}


def run(preset: str, out_dir: Path, progress: bool = True) -> list[Path]:
    data = parity_eos_study(PRESETS[preset]["max_length"])
    stem = Path(out_dir) / ("ap_mdm_parity_eos" + ("" if preset == "quick" else f"_{preset}"))
    write_json(stem.with_suffix(".json"), data)
    return [_plot(data, stem.with_suffix(".png")), stem.with_suffix(".json")]


STYLES = {
    "official": {"color": "#d95f02", "marker": "o"},
    "lone_zero_completion": {"color": "k", "marker": "s"},
}
LABELS = {
    "official": "official 7 transitions: correct",
    "lone_zero_completion": "with lone-zero completion: correct",
}


def _plot(data: dict, path: Path) -> Path:
    with house_style():
        fig, axes = new_figure(1, 2, width=7.6, height=3.4)
        axes = axes[0]
        ax = axes[0]
        for conv, rows in data["conventions"].items():
            st = STYLES[conv]
            n = [r["length"] for r in rows]
            ax.plot(n, [r["correct_modulo_eos"] / r["strings"] for r in rows], "-", **st, label=LABELS[conv])
        rows = data["conventions"]["official"]
        n = [r["length"] for r in rows]
        ax.plot(
            n,
            [r["stuck_lone_zero"] / r["strings"] for r in rows],
            ":",
            color="#d95f02",
            marker="v",
            label="official: stuck at [BOS] 0 [EOS]",
        )
        ax.plot(
            n,
            [z / 2**k for k, z in enumerate(data["pending_zero"])],
            "x",
            color="0.3",
            ms=7,
            label="pending-0 count (DP)",
        )
        ax.set_xlabel("bits $n$")
        ax.set_ylabel("fraction of the $2^n$ inputs")
        ax.set_ylim(-0.03, 1.05)
        ax.legend(fontsize=8, loc="center right")
        ax = axes[1]
        for conv, rows in data["conventions"].items():
            ax.plot(
                [r["length"] for r in rows],
                [r["max_g_steps"] for r in rows],
                "-",
                **STYLES[conv],
                label=LABELS[conv],
            )
        ax.plot(n, [2 * k for k in n], "--", color="0.5", label="$2n$")
        ax.set_xlabel("bits $n$")
        ax.set_ylabel("largest number of g steps")
        ax.legend(fontsize=8)
        label_panels(axes)
        return save_figure(fig, path)
