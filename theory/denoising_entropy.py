r"""Denoising entropy (Chen, Jiang, Sun, Lin, arXiv 2512.21336): Propositions 1-2 as exact identities.

What is known of the paper (research notes ``paper_statements.md`` §8, ``samplers_eb_entropy.md`` §2; the
proposition texts were not readable): the *state entropy* of a partially masked state z is
:math:`h_{DE}(z) = \frac{1}{|M(z)|}\sum_{l\in M(z)} H(p_\theta(x^l\mid z))` over all masked positions
(the official function copied in third-party code; bits there, nats here). Per the reviews,
Prop. 1 relates it to an upper bound on the joint entropy of the masked tokens and Prop. 2 makes it a
proxy for the instantaneous training loss, both assuming :math:`p_\theta = q`. Our exact forms
(derived here, :math:`q` the data law, all conditionals exact):

* **Prop. 1 (subadditivity).** :math:`|M|\,h^q_{DE}(z) = \sum_{l\in M} H(q(x^l\mid z)) \ge
  H(q(x^M\mid z))`, with gap exactly the conditional total correlation :math:`TC(x^M\mid z)` (at the
  revealed *values* of z, not averaged).
* **Prop. 2 (oracle loss).** :math:`E_{x\sim q(\cdot\mid z)}\big[-\sum_{l\in M}\log q(x^l\mid z)\big] =
  |M|\,h^q_{DE}(z)`; for a model the expected loss is :math:`\sum_l [H(q_l) + KL(q_l\Vert p_l)]`, while
  its state entropy is :math:`\sum_l H(p_l)`: they differ unless :math:`p = q` (per position), and the
  model's :math:`|M|h^p_{DE}` may even fall below :math:`H(q(x^M\mid z))` (an over-confident model).

:func:`state_entropy_table` enumerates every partial state of positive probability (all
:math:`(V+1)^L`) from a joint table; :func:`by_mask_size` averages over uniformly random masks of each size
(the forward process at a fixed number of masked tokens), where Prop. 2 reads: the oracle's expected
masked training loss at level k equals :math:`E[|M| h^q_{DE}]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
import torch

from sims.denoisers.base import Denoiser
from sims.enumeration import all_sequences
from sims.estimators.loss_table import mask_matrix


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(-1)


@dataclass
class StateEntropyTable:
    """One row per partial state z with :math:`q(z) > 0` (z = revealed values on a pattern).

    Attributes:
        tokens: ``(K, L)`` the states (mask id = V).
        prob: ``(K,)`` :math:`q(x_S = z_S)`, the probability of the revealed values.
        num_masked: ``(K,)`` :math:`|M(z)|`.
        joint_entropy: ``(K,)`` :math:`H(q(x^M \\mid z))`.
        sum_entropy: ``(K,)`` :math:`\\sum_{l\\in M} H(q(x^l\\mid z)) = |M| h^q_{DE}(z)`.
        total_correlation: ``(K,)`` :math:`TC(x^M\\mid z)` computed directly (sum of marginal entropies of
            the conditional law minus its entropy, from the conditional joint table).
        oracle_loss: ``(K,)`` :math:`E_{q(\\cdot\\mid z)}[-\\sum_l \\log q(x^l\\mid z)]` computed by summing over
            the completions x.
        model_sum_entropy, model_loss: the same two for ``model`` (its state entropy times |M| and its
            expected masked loss under q), or None.
    """

    tokens: np.ndarray
    prob: np.ndarray
    num_masked: np.ndarray
    joint_entropy: np.ndarray
    sum_entropy: np.ndarray
    total_correlation: np.ndarray
    oracle_loss: np.ndarray
    model_sum_entropy: np.ndarray | None
    model_loss: np.ndarray | None
    length: int


def state_entropy_table(
    log_joint: torch.Tensor, vocab_size: int, length: int, model: Denoiser | None = None
) -> StateEntropyTable:
    """Every partial state of positive probability, by explicit summation over completions."""
    V, L = int(vocab_size), int(length)
    q = torch.exp(torch.as_tensor(log_joint, dtype=torch.float64)).numpy()
    q_table = q.reshape((V,) * L)
    seqs = all_sequences(V, L).numpy()
    rows = {k: [] for k in ("tokens", "prob", "m", "H", "sumH", "tc", "loss", "msumH", "mloss")}
    model_states = []
    for S in range(2**L):
        revealed = mask_matrix(L)[S].numpy() == 0  # mask index S: bit set = masked
        masked = ~revealed
        key = (
            (seqs[:, revealed] * V ** np.arange(revealed.sum())).sum(1)
            if revealed.any()
            else np.zeros(len(seqs), int)
        )
        for kv in np.unique(key[q > 0]):
            sel = (key == kv) & (q > 0)
            w = q[sel]
            pz = w.sum()
            cond = w / pz
            sub = seqs[sel]
            H = float(_entropy_rows(cond))
            marg = np.zeros((L, V))
            for l in range(L):
                np.add.at(marg[l], sub[:, l], cond)
            hl = _entropy_rows(marg)[masked]
            with np.errstate(divide="ignore"):
                logm = np.log(marg)
            loss = (
                float(cond @ -np.stack([logm[l, sub[:, l]] for l in np.flatnonzero(masked)], 1).sum(1))
                if masked.any()
                else 0.0
            )
            state = np.where(revealed, sub[0], V)
            rows["tokens"].append(state)
            rows["prob"].append(pz)
            rows["m"].append(int(masked.sum()))
            rows["H"].append(H)
            rows["sumH"].append(float(hl.sum()))
            rows["tc"].append(_conditional_tc(q_table, state, V))
            rows["loss"].append(loss)
            model_states.append((state, sub, cond, masked))
    if model is not None:
        out = model(torch.as_tensor(np.array(rows["tokens"]))).log_probs.double().numpy()
        for i, (_state, sub, cond, masked) in enumerate(model_states):
            idx = np.flatnonzero(masked)
            lp = out[i, idx]  # (|M|, V)
            rows["msumH"].append(float(_entropy_rows(np.exp(lp)).sum()))
            rows["mloss"].append(
                float(cond @ -lp[np.arange(idx.size)[None, :], sub[:, idx]].sum(1)) if idx.size else 0.0
            )
    arr = {k: np.asarray(v) for k, v in rows.items()}
    return StateEntropyTable(
        arr["tokens"],
        arr["prob"],
        arr["m"],
        arr["H"],
        arr["sumH"],
        arr["tc"],
        arr["loss"],
        arr["msumH"] if model is not None else None,
        arr["mloss"] if model is not None else None,
        L,
    )


def _conditional_tc(q_table: np.ndarray, state, V: int) -> float:
    """:math:`TC(x^M\\mid z)` for one state from the conditional joint table (marginals by summing axes of
    the conditional law over :math:`\\mathcal V^{|M|}`; independent of the tabulation above)."""
    idx = tuple(slice(None) if int(s) == V else int(s) for s in state)
    cond = q_table[idx]
    cond = cond / cond.sum()
    k = cond.ndim
    marg_h = sum(float(_entropy_rows(cond.sum(axis=tuple(j for j in range(k) if j != i)))) for i in range(k))
    return marg_h - float(_entropy_rows(cond.reshape(-1)))


def by_mask_size(table: StateEntropyTable) -> dict:
    """Averages over x ~ q and a uniformly random mask of each size k = 1..L (the forward process at a
    fixed number of masked tokens): E|M| h_DE, E H(x^M|z), E TC, oracle and model expected losses."""
    out = {k: [] for k in ("k", "sum_entropy", "joint_entropy", "total_correlation", "oracle_loss")}
    model = table.model_sum_entropy is not None
    if model:
        out["model_sum_entropy"], out["model_loss"] = [], []
    L = table.length
    for k in range(1, L + 1):
        sel = table.num_masked == k
        w = table.prob[sel] / comb(L, k)
        out["k"].append(k)
        out["sum_entropy"].append(float(w @ table.sum_entropy[sel]))
        out["joint_entropy"].append(float(w @ table.joint_entropy[sel]))
        out["total_correlation"].append(float(w @ table.total_correlation[sel]))
        out["oracle_loss"].append(float(w @ table.oracle_loss[sel]))
        if model:
            out["model_sum_entropy"].append(float(w @ table.model_sum_entropy[sel]))
            out["model_loss"].append(float(w @ table.model_loss[sel]))
    return out
