"""Worked example of ``docs/extending.md``: a language, a denoiser, a sampler and a figure, end to end.

The test suite runs this file (``tests/test_extending_example.py``): it puts the language and the sampler
through the same conformance checks as the registered ones, checks the denoiser against brute force, and
runs the figure at its small size. So the guide cannot rot. Run it yourself with::

    python docs/examples/extending.py --out /tmp/extending_demo

Nothing here is special-cased by the suite: each piece only implements the public interfaces.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from sims.categorical import sample_from_log_probs
from sims.denoisers.base import Denoiser, DenoiserOutput
from sims.denoisers.oracle import OracleDenoiser
from sims.exact import exact_log_joint, exact_sampler_law, kl_divergence
from sims.languages import HMMLanguage
from sims.plot_style import STEPS_LABEL, house_style, label_panels, new_figure, style_for
from sims.plotting import save_figure
from sims.registry import BadArgument, LanguageEntry, SamplerEntry
from sims.results import write_json
from sims.sampling.base import NO_TIME, Capabilities, Conventions, Sampler, check_steps, check_temperature
from sims.sampling.fixed_count import FixedCountSampler, llada_counts
from sims.sampling.kernels import masked_positions, reveal_values
from sims.sampling.runtime import RunState, commit_reveals, tempered
from sims.validation import check_positive_int


# ---- 1. a language ---------------------------------------------------------------------------------------
def noisy_cycle_language() -> HMMLanguage:
    """An HMM whose hidden state walks a 3-cycle and emits its own token, or the next one with
    probability 0.2: exact zeros in transitions and emissions, so SER is meaningful."""
    initial = [1 / 3, 1 / 3, 1 / 3]
    transition = [[0.1, 0.9, 0.0], [0.0, 0.1, 0.9], [0.9, 0.0, 0.1]]
    emission = [[0.8, 0.2, 0.0], [0.0, 0.8, 0.2], [0.2, 0.0, 0.8]]
    return HMMLanguage(initial, transition, emission)


#: What you would add to ``sims.registry.LANGUAGES`` (the conformance suite then tests it).
LANGUAGE_ENTRY = LanguageEntry(noisy_cycle_language, "noisy 3-cycle HMM (docs/examples/extending.py)", 4)


# ---- 2. a denoiser ---------------------------------------------------------------------------------------
class WindowedOracle(Denoiser):
    r"""The exact posterior of each position given only the revealed tokens within distance ``window``:
    :math:`p(x_i \mid x_{R \cap [i-w, i+w]})`, a limited-context denoiser (one oracle call per position).

    With ``window >= L - 1`` it is the oracle itself. Tokens outside the window are treated as masked, so
    the output is a posterior of the language and never leaves its support because of the window.
    """

    time_conditioned = False

    def __init__(self, oracle: OracleDenoiser, window: int):
        self.oracle = oracle
        self.vocab_size = oracle.vocab_size
        self.window = check_positive_int(window, "window", minimum=0)

    def predict(self, tokens: torch.Tensor, t: torch.Tensor | None = None) -> DenoiserOutput:
        B, L = tokens.shape
        pos = torch.arange(L, device=tokens.device)
        log_probs = torch.empty((B, L, self.vocab_size), dtype=torch.float64, device=tokens.device)
        impossible = torch.zeros(B, dtype=torch.bool, device=tokens.device)
        for i in range(L):
            far = (pos - i).abs() > self.window
            seen = torch.where(far.unsqueeze(0), torch.full_like(tokens, self.vocab_size), tokens)
            out = self.oracle(seen)
            log_probs[:, i] = out.log_probs[:, i]
            impossible |= out.impossible
        return DenoiserOutput(log_probs, impossible)

    def describe(self) -> dict:
        return {"type": "WindowedOracle", "window": self.window, "oracle": self.oracle.describe()}


# ---- 3. a sampler ----------------------------------------------------------------------------------------
class StridedSampler(Sampler):
    """Fixed counts (LLaDA's rule: floor(L/K) per step, the remainder on the first steps) revealed in the
    deterministic order 0, s, 2s, ..., 1, 1+s, ... (stride ``stride``). The order does not look at the
    denoiser, so the reveal schedule is value-independent and the exact kernel is one subset per step.

    Calls: one per step (every step reveals at least one position while K <= L).
    """

    def __init__(self, steps: int, stride: int = 2, temperature: float = 1.0):
        super().__init__("float64")
        self.steps = check_steps(steps)
        self.stride = check_positive_int(stride, "stride")
        self.temperature = check_temperature(temperature)
        self.name = f"strided_s{self.stride}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            value_independent_schedule=True, exact_kernel=True, revisits=False, uses_steps=True
        )

    def num_steps(self, length: int) -> int:
        check_positive_int(length, "length")
        if self.steps > length:
            raise ValueError(f"steps {self.steps} must be at most the length {length}")
        return self.steps

    def conventions(self) -> Conventions:
        return Conventions(
            sampler=self.name,
            steps=f"K = {self.steps}",
            time_direction=NO_TIME,
            schedule="none (fixed counts)",
            step_rule="LLaDA counts: floor(L/K) per step, remainder on the first steps",
            position_rule=f"deterministic stride-{self.stride} order",
            tie_break="none (no ranking)",
            last_step="the counts sum to L",
            temperature=self.temperature,
            categorical_precision=self.categorical_precision,
            nfe_rule="one call per step",
            source="docs/examples/extending.py (an example, not a published policy)",
            extras={"stride": self.stride},
        )

    def order(self, length: int) -> list[int]:
        return sorted(range(length), key=lambda i: (i % self.stride, i))

    def plan(self, length: int) -> list[list[int]]:
        """The positions revealed at each step."""
        order, out, start = self.order(length), [], 0
        for c in llada_counts(length, self.num_steps(length)):
            out.append(order[start : start + c])
            start += c
        return out

    def step(self, state: RunState, k: int, generator: torch.Generator) -> None:
        x, V = state.x, state.vocab_size
        masked = x == V
        state.trace.step_num_masked[:, k] = masked.sum(1)
        reveal = torch.zeros_like(masked)
        reveal[:, self.plan(x.shape[1])[k]] = True
        rows = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        lp = state.cache.get(x, rows)
        values = sample_from_log_probs(lp, generator, self.categorical_precision, self.temperature)
        state.trace.record_step_entropy(k, rows, lp, masked)
        commit_reveals(x, rows, reveal, values, state.trace, k, tempered(lp, self.temperature), state.cache)

    def reveal_schedule(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        out = torch.empty(length, dtype=torch.long)
        for k, positions in enumerate(self.plan(length)):
            out[positions] = k
        return out.expand(batch, length).clone()

    def exact_transitions(self, state, step, log_probs, length):
        positions = tuple(
            i for i in self.plan(length)[step] if i in masked_positions(state, log_probs.shape[-1])
        )
        return reveal_values(state, positions, log_probs, 1.0, self.temperature)


#: What you would add to ``sims.registry.SAMPLERS`` (key = the sampler's name).
SAMPLER_ENTRY = SamplerEntry(
    make=lambda k: StridedSampler(2 if k is None else k),
    uses_steps=True,
    description="fixed counts in a stride-2 order (docs/examples/extending.py)",
    test_steps=2,
    test_length=4,
    variants={"stride3_K3": lambda: StridedSampler(3, stride=3)},
    bad_arguments=(BadArgument("stride", lambda: StridedSampler(2, stride=0)),),
)


# ---- 4. a figure -----------------------------------------------------------------------------------------
def exact_kl_by_steps(length: int = 6) -> dict:
    """Exact KL(q || p_K) per token of the strided and the random-order fixed-count sampler on the noisy
    cycle, K = 1..L (exact laws over all 3**L sequences)."""
    lang = noisy_cycle_language()
    oracle = OracleDenoiser(lang, on_impossible="uniform")
    log_q = exact_log_joint(lang, length)
    q = torch.exp(log_q)
    rows = []
    for k in range(1, length + 1):
        for name, sampler in (("strided_s2", StridedSampler(k)), ("fixed_random", FixedCountSampler(k))):
            law = exact_sampler_law(sampler, oracle, length)
            rows.append({"sampler": name, "K": k, "kl_per_token": kl_divergence(q, law) / length})
    return {"length": length, "rows": rows}


def run(out_dir: Path, length: int = 6) -> list[Path]:
    """Compute, write the strict-JSON data and draw the figure (house style)."""
    out_dir = Path(out_dir)
    data = exact_kl_by_steps(length)
    js = write_json(out_dir / "extending_example.json", data)
    with house_style():
        fig, axes = new_figure(1, 1, width=4.0)
        ax = axes[0, 0]
        for name in ("strided_s2", "fixed_random"):
            pts = [(r["K"], r["kl_per_token"]) for r in data["rows"] if r["sampler"] == name]
            ax.plot(*zip(*pts), label=name, **style_for(name))
        ax.set_xlabel(STEPS_LABEL)
        ax.set_ylabel("exact KL(q || p) per token (nats)")
        ax.legend()
        label_panels(axes)
        png = save_figure(fig, out_dir / "extending_example.png")
    plt.close("all")
    return [png, js]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--length", type=int, default=6)
    args = p.parse_args(argv)
    for path in run(args.out, args.length):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
