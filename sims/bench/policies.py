"""The policies a bench runs: every registered sampler, knob grids for adaptive rules, and plugins.

A *policy* is a name and a family of samplers:

* a registry key (:data:`sims.registry.SAMPLERS`): a sampler that uses the step count K is run at K chosen
  to hit each NFE budget (:mod:`sims.bench.cells`); one that ignores K (adaptive rules) is run at each
  setting of its knob grid (:data:`KNOB_GRIDS`; entries without a grid run their registered setting) and
  placed at its measured NFE;
* a plugin, ``path/to/file.py:Class`` or ``module:Class`` (:mod:`sims.bench.plugins`): constructed as
  ``Class(K)`` when its capabilities say it uses K, else ``Class()``; a class method ``bench_grid()``
  returning ``{label: sampler}`` gives an adaptive plugin its knob grid.

:func:`resolve` turns a policy name into a :class:`Policy` in any process (workers rebuild policies from
their names, so items stay small and picklable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sims.bench.plugins import load_plugin, plugin_factory, plugin_grid
from sims.registry import SAMPLERS
from sims.sampling.apd import APDSampler
from sims.sampling.base import Sampler
from sims.sampling.credit import CreditDecodingSampler
from sims.sampling.dus import DUSSampler
from sims.sampling.eb import EBSampler
from sims.sampling.fast_dllm import FastDLLMSampler
from sims.sampling.frechet import FrechetSampler
from sims.sampling.klass import KLASSSampler
from sims.sampling.local_leap import LocalLeapSampler
from sims.sampling.saber import SaberSampler
from sims.sampling.slowfast import SlowFastSampler
from sims.sampling.ssd import SelfSpeculativeSampler
from sims.sampling.wino import WINOSampler
from sims.validation import InvalidArgumentError

#: Knob grids of the registered adaptive rules: ``{key: {label: factory}}`` (the papers' knobs).
KNOB_GRIDS: dict[str, dict[str, Callable[[], Sampler]]] = {
    "eb_entropy_g0.3": {
        f"gamma={g:g}": (lambda g=g: EBSampler(g, "entropy")) for g in (0.01, 0.1, 0.3, 1.0, 3.0)
    },
    "eb_max_prob_g0.3": {
        f"gamma={g:g}": (lambda g=g: EBSampler(g, "max_prob")) for g in (0.01, 0.1, 0.3, 1.0, 3.0)
    },
    "fast_dllm_threshold_t0.9": {
        f"tau={t:g}": (lambda t=t: FastDLLMSampler("threshold", t)) for t in (0.5, 0.7, 0.9, 0.99)
    },
    "fast_dllm_factor_f1": {
        f"f={f:g}": (lambda f=f: FastDLLMSampler("factor", factor=f)) for f in (0.5, 1.0, 2.0, 4.0)
    },
    # the policies of docs/decoding_policies.md: each paper's main knob around its default
    "dus_b2": {f"base={b}": (lambda b=b: DUSSampler(base=b)) for b in (2, 3, 4)},
    "fast_dllm_pp_frechet_d0.25": {
        f"delta={d:g}": (lambda d=d: FrechetSampler(d)) for d in (0.0, 0.1, 0.25, 0.5)
    },
    "local_leap_t0.9_r0.75_w4": {
        f"tau={t:g},r={r:g}": (lambda t=t, r=r: LocalLeapSampler(t, r, 4))
        for t, r in ((0.5, 0.3), (0.7, 0.5), (0.9, 0.75))
    },
    "klass_c0.9_kl0.01_h2": {
        f"conf={c:g}": (lambda c=c: KLASSSampler(c, 0.01, 2)) for c in (0.5, 0.7, 0.9, 0.99)
    },
    "credit_t0.9_a0.7": {
        f"tau={t:g}": (lambda t=t: CreditDecodingSampler(t, 0.7)) for t in (0.5, 0.7, 0.9, 0.99)
    },
    "slowfast_k6_t0.9": {f"tau={t:g}": (lambda t=t: SlowFastSampler(threshold=t)) for t in (0.5, 0.7, 0.9)},
    "wino_t0.7_b0.9": {f"tau={t:g}": (lambda t=t: WINOSampler(t, 0.9)) for t in (0.5, 0.7, 0.9)},
    "saber_n2": {f"n={n}": (lambda n=n: SaberSampler(n)) for n in (1, 2, 4)},
    "ssd_m4": {f"m={m}": (lambda m=m: SelfSpeculativeSampler(m)) for m in (2, 4, 8)},
    "apd_r0.7_m100": {f"R={r:g}": (lambda r=r: APDSampler(r)) for r in (0.3, 0.5, 0.7, 0.9)},
}


#: The settings of each grid that ``knobs="quick"`` runs.
QUICK_KNOBS = {
    "eb_entropy_g0.3": ("gamma=0.1", "gamma=1"),
    "eb_max_prob_g0.3": ("gamma=0.1", "gamma=1"),
    "fast_dllm_threshold_t0.9": ("tau=0.7", "tau=0.9"),
    "fast_dllm_factor_f1": ("f=1", "f=2"),
    "dus_b2": ("base=2", "base=4"),
    "fast_dllm_pp_frechet_d0.25": ("delta=0", "delta=0.25"),
    "local_leap_t0.9_r0.75_w4": ("tau=0.5,r=0.3", "tau=0.9,r=0.75"),
    "klass_c0.9_kl0.01_h2": ("conf=0.5", "conf=0.9"),
    "credit_t0.9_a0.7": ("tau=0.5", "tau=0.9"),
    "slowfast_k6_t0.9": ("tau=0.5", "tau=0.9"),
    "wino_t0.7_b0.9": ("tau=0.5", "tau=0.7"),
    "saber_n2": ("n=2", "n=4"),
    "ssd_m4": ("m=2", "m=4"),
    "apd_r0.7_m100": ("R=0.5", "R=0.7"),
}


@dataclass(frozen=True)
class Policy:
    """A policy of the bench: ``make(K)`` for step-count policies, ``grid`` (label -> factory) otherwise."""

    name: str
    uses_steps: bool
    make: Callable[[int], Sampler] | None
    grid: dict[str, Callable[[], Sampler]]
    source: str
    #: its samplers declare ``capabilities.needs_eos``: the bench runs it on EOS languages only
    needs_eos: bool = False

    def settings(self, budgets: tuple[int, ...], knobs: str = "full") -> list[str]:
        """Setting labels of one tier: ``budget=b`` per budget, or the knob grid's labels (``knobs="quick"``:
        the subset :data:`QUICK_KNOBS`, where one is declared)."""
        if self.uses_steps:
            return [f"budget={b}" for b in budgets]
        if knobs == "quick" and self.name in QUICK_KNOBS:
            return [k for k in self.grid if k in QUICK_KNOBS[self.name]]
        return list(self.grid)

    def sampler(self, setting: str, steps: int | None = None) -> Sampler:
        """The sampler of a setting (``steps`` = K for step-count policies)."""
        if self.uses_steps:
            if steps is None:
                raise InvalidArgumentError(f"{self.name}: a step-count policy needs K")
            return self.make(steps)
        if setting not in self.grid:
            raise InvalidArgumentError(f"{self.name}: unknown setting {setting!r}; known {sorted(self.grid)}")
        return self.grid[setting]()


def is_plugin(name: str) -> bool:
    return ":" in name


def resolve(name: str) -> Policy:
    """The :class:`Policy` named ``name`` (a registry key, or a plugin ``path.py:Class`` / ``module:Class``)."""
    if is_plugin(name):
        cls = load_plugin(name)
        make, uses_steps = plugin_factory(cls)
        grid = {} if uses_steps else plugin_grid(cls)
        sample = make(1) if uses_steps else (next(iter(grid.values()))() if grid else None)
        eos = sample is not None and sample.capabilities.needs_eos
        return Policy(name, uses_steps, make if uses_steps else None, grid, f"plugin {name}", eos)
    if name not in SAMPLERS:
        raise InvalidArgumentError(
            f"unknown policy {name!r}; choose from {sorted(SAMPLERS)} or give a plugin"
        )
    entry = SAMPLERS[name]
    eos = entry.make(entry.test_steps).capabilities.needs_eos
    if entry.uses_steps:
        return Policy(name, True, entry.make, {}, "registry", eos)
    grid = KNOB_GRIDS.get(name, {"registered": (lambda e=entry: e.make(None))})
    return Policy(name, False, None, dict(grid), "registry", eos)


def policy_names(policies: tuple[str, ...] | None, plugins: tuple[str, ...]) -> list[str]:
    """Registered keys to run (all by default) plus plugins, each once, in order."""
    names = list(SAMPLERS) if policies is None else list(policies)
    for name in names:
        if name not in SAMPLERS:
            raise InvalidArgumentError(f"unknown policy {name!r}; choose from {sorted(SAMPLERS)}")
    return list(dict.fromkeys([*names, *plugins]))
