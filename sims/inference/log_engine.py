r"""The reference engine: batched log-space forward-backward over a lifted chain.

Recursions (see :mod:`sims.inference.chain`): normalised forward messages
:math:`\hat\alpha_t \propto e_t \cdot (\hat\alpha_{t-1} A)` and backward messages
:math:`\hat\beta_t \propto A (e_{t+1} \hat\beta_{t+1})`, stored as logarithms; every product is a guarded
log-matmul (:func:`~sims.inference.chain.log_matmul_exp`), exact to float64 rounding. The fast engines
(:mod:`sims.inference.scaled`, :mod:`sims.inference.scan`) recompute the rows they cannot certify with
these functions.
"""

from __future__ import annotations

import torch

from sims.inference.chain import ChainPosterior, LiftedChain, log_normalize


def forward_log_evidence_log(chain: LiftedChain, tokens: torch.Tensor) -> torch.Tensor:
    """Reference log-space forward pass (exact; one guarded log-matmul per node)."""
    first, rest = chain.evidence(tokens)
    msg, log_z = log_normalize(chain.log_initial.unsqueeze(0) + first)
    for t in range(rest.shape[1]):
        dead = ~torch.isfinite(log_z)
        if bool(dead.any()):
            msg = torch.where(dead.unsqueeze(-1), torch.zeros_like(msg), msg)  # keep the row finite
        msg, c = log_normalize(chain.add_evidence(chain.propagate_forward(msg), rest[:, t]))
        log_z = log_z + c
    return torch.where(torch.isfinite(log_z), log_z, torch.full_like(log_z, -torch.inf))


def forward_backward_log(chain: LiftedChain, tokens: torch.Tensor) -> ChainPosterior:
    """Reference batched log-space forward-backward; see the module docstring for the recursions."""
    first, rest = chain.evidence(tokens)
    batch, n_rest = first.shape[0], rest.shape[1]
    S = chain.num_states
    uniform = torch.full(
        (S,),
        -float(torch.log(torch.tensor(float(S), dtype=torch.float64))),
        dtype=torch.float64,
        device=first.device,
    )

    alphas = torch.empty((batch, n_rest + 1, S), dtype=torch.float64, device=first.device)
    msg, log_z = log_normalize(chain.log_initial.unsqueeze(0) + first)
    impossible = ~torch.isfinite(log_z)
    msg = torch.where(impossible.unsqueeze(-1), uniform, msg)
    alphas[:, 0] = msg
    for t in range(n_rest):
        msg, c = log_normalize(chain.add_evidence(chain.propagate_forward(msg), rest[:, t]))
        dead = ~torch.isfinite(c)
        impossible = impossible | dead
        msg = torch.where(dead.unsqueeze(-1), uniform, msg)
        log_z = log_z + torch.where(dead, torch.zeros_like(c), c)
        alphas[:, t + 1] = msg

    betas = torch.empty_like(alphas)
    beta = torch.zeros((batch, S), dtype=torch.float64, device=first.device)
    betas[:, n_rest] = beta
    for t in range(n_rest - 1, -1, -1):
        beta, c = log_normalize(chain.propagate_backward(chain.add_evidence(beta, rest[:, t])))
        beta = torch.where(torch.isfinite(c).unsqueeze(-1), beta, torch.zeros_like(beta))
        betas[:, t] = beta

    log_gamma, norm = log_normalize(alphas + betas)
    bad = ~torch.isfinite(norm)  # only possible in impossible rows
    impossible = impossible | bad.any(-1)
    log_gamma = torch.where(impossible[:, None, None], uniform, log_gamma)
    log_z = torch.where(impossible, torch.full_like(log_z, -torch.inf), log_z)
    return ChainPosterior(log_evidence=log_z, log_gamma=log_gamma, impossible=impossible)
