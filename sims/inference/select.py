r"""Automatic choice of the forward-backward engine by problem size and device.

Both fast engines are exact to rounding in float64 (:mod:`sims.inference.linear`), so the choice only
affects speed. Cost model, per call with batch B, n = T - 1 chain steps and S states:

.. math::
    t_{\text{scaled}} \approx n\,(o + d\,B S^2 + e\,B S), \qquad
    t_{\text{scan}} \approx n\,B\,(a\,S^3 + b\,S^2 + c).

The sequential engine pays a fixed dispatch overhead :math:`o` per step (a few torch ops), the scan
pays :math:`\approx S/2` times more arithmetic in small batched matrix products but has only
:math:`O(\log n)` dependent levels. The scan is chosen when its predicted time is lower, its memory
(:math:`\approx 1.5\,n S^2` numbers per sequence) fits the default budget, and the chain is small enough
to densify.

The CPU constants were fitted (relative least squares) to ``python benchmarks/bench_oracle.py
--crossover`` on the development machine (AMD EPYC, 2 vCPUs, torch 2.13 CPU, one thread, shared
with other jobs, L = 2048, B in {1..256}, S in {2..64}); the fitted model reproduces the measured
winner except within ~20% of the break-even line (docs/oracle_performance.md has the table). The CUDA
constants are **assumptions, not measurements** (no GPU was available): ~50 us of kernel launches per
sequential step and ~10 TFLOP/s on small batched matmuls. Re-measure before relying on them.

Sparse token chains (:meth:`~sims.inference.chain.LiftedChain.sparse_token_transition`) take the sparse
engine (:mod:`sims.inference.sparse`) under ``"auto"`` without a cost comparison
(:func:`sims.inference.engine.resolve_method`): its work per message vector is
:math:`O(\mathrm{nnz}(S) + V)` against :math:`O(V^2)`, it computes only the distinct messages of a batch
(never more than one per masked position), and the dense engines would first form the
:math:`V \times V` matrix. Measured against the dense engine in ``benchmarks/bench_sparse.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sims.inference.linear import DENSE_MAX_STATES
from sims.inference.scan import DEFAULT_MAX_BYTES, scan_bytes_per_sequence


@dataclass(frozen=True)
class CostModel:
    """Seconds per step: sequential ``o + d B S^2 + e B S``; scan per sequence ``a S^3 + b S^2 + c``."""

    o: float
    d: float
    e: float
    a: float
    b: float
    c: float

    def scaled(self, batch: int, steps: int, states: int) -> float:
        return steps * (self.o + self.d * batch * states**2 + self.e * batch * states)

    def scan(self, batch: int, steps: int, states: int) -> float:
        return steps * batch * (self.a * states**3 + self.b * states**2 + self.c)


#: Fitted on the development CPU (float64, one thread); see the module docstring.
CPU_MODEL = CostModel(o=6.8e-6, d=3.2e-11, e=4.5e-8, a=3.0e-11, b=7.9e-9, c=2.5e-7)
#: Unmeasured assumption for CUDA devices (see the module docstring).
CUDA_MODEL = CostModel(o=5.0e-5, d=1.0e-13, e=1.0e-12, a=2.0e-13, b=1.0e-12, c=1.0e-10)
#: Below this many chain steps the sequential loop is cheap anyway.
MIN_SCAN_STEPS = 32


def select_method(batch: int, num_nodes: int, num_states: int, device, precision: str = "float64") -> str:
    """``"scan"`` or ``"scaled"`` for a forward-backward call of this size on ``device``."""
    n = max(num_nodes - 1, 0)
    S = num_states
    dtype = torch.float64 if precision == "float64" else torch.float32
    if S > DENSE_MAX_STATES or n < MIN_SCAN_STEPS:
        return "scaled"
    if scan_bytes_per_sequence(n, S, dtype) > DEFAULT_MAX_BYTES:
        return "scaled"
    model = CUDA_MODEL if torch.device(device).type == "cuda" else CPU_MODEL
    return "scan" if model.scan(batch, n, S) < model.scaled(batch, n, S) else "scaled"
