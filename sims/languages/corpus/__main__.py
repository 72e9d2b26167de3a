"""Fit (or read from the cache) a preset of standard corpus languages and summarise them.

    python -m sims.languages.corpus --preset quick            # seconds
    python -m sims.languages.corpus --preset full --out docs/data/corpus_languages.json
    python -m sims.languages.corpus --markdown docs/data/corpus_languages.json   # the docs table

Prints one row per language (vocabulary, family, top-K or states, smoothing, held-out perplexity and
coverage, fitting time, cache size) and writes the provenance of every language to ``--out`` (JSON,
atomic write). Fitting times are those recorded when each language was fitted (a cached language keeps
its original times).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from sims.languages.corpus.cache import jsonable
from sims.languages.corpus.standard import FULL_NAMES, QUICK_NAMES, corpus_language, languages_markdown_table
from sims.results import atomic_write_text


def _row(name: str, prov: dict, size: int) -> str:
    r, h, s = prov["recipe"], prov["heldout"], prov["seconds"]
    shape = f"S={r['num_states']}" if r["family"] == "hmm" else f"K={r['top_k']}"
    smooth = "EM" if r["family"] == "hmm" else r["smoothing"]
    ppl = h["perplexity"]
    ppl_s = "inf" if not math.isfinite(ppl) else f"{ppl:.3f}"
    cov = h.get("token_coverage", h["chunks_in_support"])
    fit = s["fit"] + s["tokenizer"]
    return (
        f"{name:22s} {prov['tokenizer']['vocab_size']:5d} {r['family']:8s} {shape:6s} {smooth:12s} "
        f"{ppl_s:>9s} {cov:9.4f} {fit:9.1f} {size / 2**20:8.2f}"
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("quick", "full"), default="quick")
    p.add_argument("--names", nargs="*", help="fit these names instead of a preset")
    p.add_argument("--refit", action="store_true", help="fit again even when cached")
    p.add_argument("--out", type=Path, help="write the provenance of every language to this JSON file")
    p.add_argument("--markdown", type=Path, help="print the Markdown table of a JSON file written by --out")
    args = p.parse_args(argv)
    if args.markdown:
        print(languages_markdown_table(json.loads(args.markdown.read_text())))
        return
    names = args.names or (QUICK_NAMES if args.preset == "quick" else FULL_NAMES)
    print(
        f"{'name':22s} {'V':>5s} {'family':8s} {'shape':6s} {'smoothing':12s} {'heldout':>9s} {'coverage':>9s} "
        f"{'fit [s]':>9s} {'MiB':>8s}"
    )
    out = {}
    for name in names:
        fitted = corpus_language(name, refit=args.refit)
        size = fitted.path.stat().st_size if fitted.path else 0
        print(_row(name, fitted.provenance, size), flush=True)
        out[name] = {"provenance": fitted.provenance, "cache_bytes": size, "cache_file": fitted.path.name}
    if args.out:
        atomic_write_text(args.out, json.dumps(jsonable(out), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
