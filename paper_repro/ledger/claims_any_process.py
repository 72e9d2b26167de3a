"""Claims of Yang et al., "On Powerful Ways to Generate" (AP-MDM, arXiv 2510.06190) on its parity task with
the official test format ``[BOS] bits [EOS]``.

Provenance (``../shared/research/paper_statements.md`` §7 A3, §10 item 5): the 7 training transitions, the
test format and the expected final states are read in the official generator
``dataset/parity/parity_generator.py`` ("official code"); how the length-3 model is applied to long inputs
was not read (our reading: on the prefix window, :mod:`theory.parity_eos`). The EOS-free process is claim
``samplers.ap_mdm_parity_process``. Verdicts read ``ap_mdm_parity_eos.json``: integer counts over every
input, no tolerance.
"""

from __future__ import annotations

from paper_repro.ledger.doc_tables import claims_table
from paper_repro.ledger.model import Claim, Verdict

PAPER = "Yang et al., arXiv 2510.06190"
WHERE = "parity_generator.py (test set, 7 transitions)"
T = "tests/theory/test_parity_eos.py"
FIG = ("ap_mdm_parity_eos",)


def _rows(data, conv):
    return data("ap_mdm_parity_eos")["conventions"][conv]


def _literal(data) -> Verdict:
    rows = _rows(data, "official") + _rows(data, "lone_zero_completion")
    hit = sum(r["literal_correct"] for r in rows)
    total = sum(r["strings"] for r in rows)
    key = f"{hit} of {total} runs end literally at [BOS] / [BOS] 1"
    if hit == total:
        return Verdict("holds", key, "")
    return Verdict(
        "contradicted" if hit == 0 else "qualified",
        key,
        "g deletes only masks and no transition remasks EOS, so the final state keeps EOS; the expected final "
        "state is reached only once an evaluator strips EOS",
    )


def _official_complete(data) -> Verdict:
    rows = _rows(data, "official")
    last = rows[-1]
    stuck = sum(r["stuck_lone_zero"] for r in rows)
    key = (
        f"n = {last['length']}: {last['stuck_lone_zero']} of {last['strings']} inputs stuck at [BOS] 0 [EOS] "
        f"({last['stuck_lone_zero'] / last['strings']:.3f})"
    )
    if stuck == 0 and all(r["correct_modulo_eos"] == r["strings"] for r in rows):
        return Verdict("holds", key, "")
    return Verdict(
        "contradicted",
        key,
        "modulo EOS; the stuck inputs are exactly those whose pair reduction leaves a lone 0 (e.g. 0, 000), "
        "counted independently by the pair automaton; no training transition covers [BOS] 0 [EOS]",
    )


def _completion(data) -> Verdict:
    rows = _rows(data, "lone_zero_completion")
    ok = all(r["correct_modulo_eos"] == r["strings"] for r in rows)
    within = all(r["max_g_steps"] <= 2 * max(r["length"], 1) for r in rows)
    key = f"every input up to n = {rows[-1]['length']}; max g steps {rows[-1]['max_g_steps']}"
    if ok and within:
        return Verdict("holds", key, "modulo EOS, within 2n g steps")
    return Verdict("contradicted", key, "some input fails or needs more than 2n g steps")


CLAIMS = [
    Claim(
        "ap_mdm.parity_eos_literal_final_state",
        PAPER,
        WHERE,
        "Iterating g with the parity transitions turns a test input [BOS] bits [EOS] into the generator's "
        "expected final state [BOS] (even) or [BOS] 1 (odd), written without EOS.",
        "official code",
        "exact",
        (f"{T}::test_study_counts", f"{T}::test_controls_reproduce_each_transition_through_g"),
        FIG,
        _literal,
        notes="A format mismatch of the official data, not a statement of the paper's text.",
    ),
    Claim(
        "ap_mdm.parity_eos_official_transitions_complete",
        PAPER,
        WHERE,
        "The 7 transitions of the official training data, applied on the window [BOS] a b, reduce every test "
        "input [BOS] bits [EOS] to the expected final state (EOS dropped).",
        "official code",
        "exact",
        (f"{T}::test_stuck_inputs_are_exactly_those_ending_with_a_pending_zero", f"{T}::test_study_counts"),
        FIG,
        _official_complete,
        notes="Our reading of how the length-3 policy meets long inputs; a trained model may generalise "
        "beyond its 7 training states.",
    ),
    Claim(
        "ap_mdm.parity_eos_completion",
        "suite",
        "",
        "With the lone-zero completion written with EOS ([BOS] 0 [EOS] -> [BOS] M [EOS] -> [BOS] [EOS]) every "
        "test input reaches the expected final state modulo EOS within 2n g steps, running exactly like the "
        "suite's EOS-free controls.",
        "suite finding",
        "exact",
        (f"{T}::test_completion_with_eos_runs_like_the_suites_eos_free_controls", f"{T}::test_study_counts"),
        FIG,
        _completion,
    ),
]


def _claims_block(data) -> str:
    return claims_table(CLAIMS, data)


DOC_BLOCKS = {"ap_mdm.parity_eos_claims": _claims_block}
