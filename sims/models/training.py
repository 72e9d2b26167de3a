r"""Training loops for the small MDM (standard / P-POTS / MIRROR / both / two independent masks) and the
autoregressive baseline, on fresh samples of a registry language.

Conventions (recorded in every result):

* data: every step draws fresh sequences from the language (infinite data, float64 exact sampling); the
  data stream depends on (language, length, seed) only, the network initialisation on the seed only,
  so different methods with the same seed start from the same network;
* equal compute: ``batch_rows`` network rows per step for every method (MIRROR and "pair" use
  ``batch_rows / 2`` sequences with two masked copies each); the AR model sees ``batch_rows`` sequences;
* optimiser: AdamW (betas 0.9, 0.98), linear warm-up over ``warmup_frac`` of the steps, cosine decay to
  ``min_lr_frac`` of the peak, gradient-norm clipping at ``grad_clip`` (the paper's LLaDA runs clip at
  1.0; clipping interacts with estimator variance, set None to disable);
* loss: the per-token t-form estimator of :mod:`sims.models.objectives` with floor ``eps`` (LLaDA's
  1e-3); AR: mean token cross-entropy (exact per-token NLL);
* validation: fixed sequences and exact-k masks from fixed seeds (common random numbers across runs),
  :func:`sims.models.measure.mc_nelbo` (MDM) or exact NLL (AR) every ``eval_every`` steps, also as the
  paired gap to the true per-token NLL of the same sequences (``gap``, ``gap_se``: only mask noise and
  model error remain), optionally an exact enumeration at the end (``exact_eval``);
* variance: :func:`sims.models.measure.measure_estimator_variance` every ``measure_every`` steps
  (including step 0) on ``measure_examples`` fresh sequences;
* timing: ``train_seconds`` is the wall time of the optimisation steps only (data drawing included,
  evaluation and measurements excluded); ``train_cpu_seconds`` the process CPU time of the same
  steps (more stable than wall time on a shared machine);
* devices: ``device="auto"`` uses CUDA when present; all randomness comes from CPU generators, so the
  draws are identical on every device (network arithmetic may differ in the last bits).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from sims.categorical import make_generator
from sims.metrics import mean_estimate
from sims.models.config import KINDS, TrainConfig
from sims.models.denoiser import ARModel, ModelDenoiser
from sims.models.measure import (
    exact_ar_nll,
    exact_k_masks,
    exact_nelbo,
    mc_nelbo_per_sequence,
    measure_estimator_variance,
)
from sims.models.objectives import (
    ROWS_PER_EXAMPLE,
    draw_examples,
    example_losses,
    mask_scheme,
    pre_estimate_proposal,
    uses_proposal,
)
from sims.models.store import state_checksum
from sims.models.transformer import TransformerConfig, TransformerNet
from sims.registry import make_language
from sims.sweep import cell_seed

__all__ = ["KINDS", "VALIDATION_SEED", "TrainConfig", "TrainedModel", "TrainingDiverged", "train"]

#: Seeds of the validation set and its masks (shared by every run on the same language and length).
VALIDATION_SEED = 10_000_019


class TrainingDiverged(RuntimeError):
    """The training loss or the network became non-finite; nothing is cached."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def lr_factor(step: int, total: int, warmup_frac: float, min_frac: float) -> float:
    """Linear warm-up then cosine decay to ``min_frac`` (step counts from 0)."""
    warm = max(1, round(warmup_frac * total))
    if step < warm:
        return (step + 1) / warm
    prog = (step - warm) / max(1, total - warm)
    return min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, prog)))


@dataclass
class TrainedModel:
    """A trained network with its config, history and timings."""

    net: TransformerNet
    config: TrainConfig
    history: dict = field(default_factory=dict)
    train_seconds: float = 0.0
    total_seconds: float = 0.0
    device: str = "cpu"
    train_cpu_seconds: float | None = None

    def info(self) -> dict:
        final = self.history.get("final", {})
        return {
            "training": self.config.to_dict(),
            "final": final,
            "train_seconds": self.train_seconds,
            "device": self.device,
        }

    def denoiser(self) -> ModelDenoiser:
        return ModelDenoiser(self.net, info=self.info())

    def ar(self) -> ARModel:
        return ARModel(self.net, info=self.info())


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def train(
    config: TrainConfig, device: str | torch.device | None = "auto", progress: bool = False
) -> TrainedModel:
    """Run one training run (see module docstring); returns the trained network and its history."""
    t_start = time.perf_counter()
    dev = resolve_device(device)
    lang = make_language(config.language)
    V, L = lang.vocab_size, lang.check_length(config.length)
    is_ar = config.kind == "ar"
    arch = TransformerConfig(V, L, config.d_model, config.n_layers, config.n_heads, config.d_ff, causal=is_ar)
    net = TransformerNet(arch, make_generator(cell_seed("init", config.seed))).to(dev)
    opt = torch.optim.AdamW(
        net.parameters(), lr=config.lr, betas=(0.9, 0.98), weight_decay=config.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, config.steps, config.warmup_frac, config.min_lr_frac)
    )
    g_data = make_generator(cell_seed(f"data|{config.language}|{L}", config.seed))
    g_mask = make_generator(cell_seed(f"mask|{config.method}", config.seed))
    g_meas = make_generator(cell_seed(f"measure|{config.method}", config.seed))
    g_ppots = make_generator(cell_seed(f"ppots|{config.method}", config.seed))
    x_val = lang.sample(config.num_val, L, make_generator(VALIDATION_SEED))
    val_masks = exact_k_masks(config.num_val, L, make_generator(VALIDATION_SEED + 1))
    ar_model = ARModel(net) if is_ar else None
    den = None if is_ar else ModelDenoiser(net)
    history: dict = {"eval": [], "measure": [], "proposal": [], "conventions": _conventions(config, dev)}
    sampler = None

    def refit():
        nonlocal sampler
        xs = lang.sample(config.ppots_num_x, L, g_ppots)
        sampler, curve = pre_estimate_proposal(
            net,
            xs,
            config.eps,
            config.ppots_grid,
            config.ppots_num_masks,
            V,
            g_ppots,
            config.ppots_uniform_mix,
            config.ppots_loss_max,
        )
        history["proposal"].append(
            {
                "step": step,
                "grid": curve["grid"].tolist(),
                "w": curve["w"].tolist(),
                "g": curve["g"].tolist(),
                "v": curve["v"].tolist(),
            }
        )

    val_ref = -lang.log_prob(x_val) / L  # true per-token NLL of each validation sequence

    def evaluate():
        per = (-ar_model.log_prob(x_val) / L) if is_ar else mc_nelbo_per_sequence(den, x_val, val_masks)
        est, gap = mean_estimate(per), mean_estimate(per - val_ref)
        history["eval"].append(
            {
                "step": step,
                "value": est.mean,
                "se": est.stderr,
                "gap": gap.mean,
                "gap_se": gap.stderr,
                "train_seconds": train_seconds,
                "lr": sched.get_last_lr()[0],
                "train_loss": run_loss / max(1, run_n),
            }
        )

    def measure():
        if is_ar:
            return
        xs = lang.sample(config.measure_examples, L, g_meas)
        m = measure_estimator_variance(net, xs, config.method, config.eps, sampler, V, g_meas)
        history["measure"].append({"step": step, **m.to_dict()})

    def exact_point():
        ex = exact_ar_nll(lang, ar_model, L) if is_ar else exact_nelbo(lang, den, L)
        history["exact_curve"].append(
            {"step": step, "gap": ex["gap"], "value": ex.get("nelbo", ex.get("nll"))}
        )

    if config.exact_every:
        history["exact_curve"] = []
    init_checksum = state_checksum(net.state_dict())
    step, train_seconds, train_cpu_seconds, run_loss, run_n = 0, 0.0, 0.0, 0.0, 0
    if config.exact_every:
        exact_point()
    if not is_ar and uses_proposal(config.method):
        refit()
    if config.measure_every:
        measure()
    n_ex = config.batch_rows // ROWS_PER_EXAMPLE[config.method]
    steps = range(1, config.steps + 1)
    if progress:
        steps = tqdm(steps, desc=config.name(), leave=False)
    net.train()
    for step in steps:
        if (
            not is_ar
            and uses_proposal(config.method)
            and config.ppots_refit_every
            and step > 1
            and (step - 1) % config.ppots_refit_every == 0
        ):
            refit()
        _sync(dev)
        t0, c0 = time.perf_counter(), time.process_time()
        x = lang.sample(n_ex, L, g_data)
        if is_ar:
            xd = x.to(dev)
            logits = net(ar_model.inputs(xd))
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), xd.reshape(-1))
        else:
            ex = draw_examples(x, config.method, config.eps, sampler, V, g_mask).to(dev)
            loss = example_losses(net, ex).mean()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            _diverged(config, step, f"the training loss is {loss_value}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip))
            if not math.isfinite(norm):
                _diverged(config, step, f"the gradient norm is {norm}")
        opt.step()
        sched.step()
        _sync(dev)
        train_seconds += time.perf_counter() - t0
        train_cpu_seconds += time.process_time() - c0
        run_loss += loss_value
        run_n += 1
        if step % config.eval_every == 0 or step == config.steps:
            evaluate()
            run_loss, run_n = 0.0, 0
        if config.measure_every and (step % config.measure_every == 0 or step == config.steps):
            measure()
        if config.exact_every and (step % config.exact_every == 0 or step == config.steps):
            exact_point()
    _check_trained(net, init_checksum, config)
    final = dict(history["eval"][-1])
    if config.exact_eval:
        final["exact"] = (
            exact_ar_nll(lang, ar_model, L)
            if is_ar
            else exact_nelbo(lang, den, L, config.eps, sampler, mask_scheme(config.method))
        )
    try:
        final["entropy_per_token"] = lang.entropy_per_token(L)
    except NotImplementedError:  # HMM observation entropy is exact only for enumerable V**L
        final["entropy_per_token"] = None
    history["final"] = final
    net.eval()
    return TrainedModel(
        net, config, history, train_seconds, time.perf_counter() - t_start, str(dev), train_cpu_seconds
    )


def _diverged(config: TrainConfig, step: int, what: str):
    raise TrainingDiverged(
        f"training {config.name()} diverged at step {step}: {what}; nothing was cached. Lower the learning "
        f"rate (lr={config.lr}) or clip the gradient norm (grad_clip={config.grad_clip})"
    )


def _check_trained(net: TransformerNet, init_checksum: str, config: TrainConfig) -> None:
    """Refuse a network whose weights are non-finite or unchanged since initialisation."""
    for name, p in net.named_parameters():
        if not bool(torch.isfinite(p).all()):
            _diverged(config, config.steps, f"parameter {name} is not finite")
    if state_checksum(net.state_dict()) == init_checksum:
        raise TrainingDiverged(
            f"training {config.name()} left every weight at its initial value; nothing was cached"
        )


def _conventions(config: TrainConfig, dev: torch.device) -> dict:
    return {
        "estimator": "per-token t-form w(u) c/(L pi), pi = eps + (1-eps) u"
        if config.kind == "mdm"
        else "AR mean token cross-entropy",
        "rows_per_step": config.batch_rows,
        "rows_per_example": ROWS_PER_EXAMPLE[config.method],
        "data": "fresh samples every step",
        "validation": "fixed set, exact-k masks (MDM) / exact NLL (AR)",
        "optimizer": "AdamW(0.9, 0.98), warm-up + cosine",
        "device": str(dev),
        "ppots": "paper pre-estimate -> histogram on [0,1] + uniform mix"
        if uses_proposal(config.method)
        else None,
    }
