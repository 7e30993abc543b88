"""AdvGame-GRPO: on-policy token-sum REINFORCE with a k3 KL penalty to the initial model.

Pointwise rewards are recommended (``Game(reward_mode="pointwise")``); with pairwise rewards
each sample's reward is the mean of its pairwise scores. For each player and batch, with
sample ``i`` of reward ``r_i`` and tokens ``t``:

    A_i   = r_i − mean(r)                  (mean over the batch, or over i's group)
    w_it  = min(exp(log π(y_it) − log μ(y_it)), cap), detached
    k3_it = exp(log π_ref − log π) − (log π_ref − log π) − 1
    L     = mean_i Σ_t [ −A_i · w_it · log π(y_it) + β · k3_it ]

``μ`` is the sampler: the policy before this step's updates, so ``w`` is 1 for the first
batch and corrects the second batch for the first batch's update. ``π_ref`` is the player's
weights when the learner was built. Excluded samples never enter the loss; samples with
reward -1 enter only with ``train_on_errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from advgame.agents.learners.base import Learner, Player, nan_metrics
from advgame.agents.learners.config import LearnerConfig
from advgame.agents.learners.registry import register_learner
from advgame.agents.learners.samples import Sample, player_groups
from advgame.envs.tree import SeedNode

logger = logging.getLogger(__name__)

_METRICS = ("loss", "kl", "advantage_abs", "ratio_mean", "grad_norm")


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Return the per-token k3 estimate of KL(π ‖ π_ref): ``e^x − x − 1`` with ``x = ref − π``."""
    log_ratio = ref_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1.0


def grpo_advantages(samples: Sequence[Sample], baseline: str) -> torch.Tensor:
    """Return ``reward − baseline`` per sample ``(N,)``: the batch mean or the group mean."""
    rewards = torch.tensor([s.reward for s in samples], dtype=torch.float32)  # (N,)
    if baseline == "batch":
        return rewards - rewards.mean()
    groups = torch.tensor([s.group for s in samples])  # (N,)
    advantages = torch.empty_like(rewards)
    for group in groups.unique():
        members = groups == group
        advantages[members] = rewards[members] - rewards[members].mean()
    return advantages


def grpo_loss(
    logprobs: torch.Tensor,
    sampler_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    ratio_cap: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the per-sample loss ``(N,)``, token-summed KL ``(N,)`` and ratios ``(N, T)``.

    Args:
        logprobs: policy log-probs with gradients, ``(N, T)``.
        sampler_logprobs: the sampler's log-probs, ``(N, T)``.
        ref_logprobs: the reference model's log-probs ``(N, T)``, or ``None`` without KL.
        advantages: ``(N,)``.
        mask: 1.0 on completion tokens, ``(N, T)``.
        beta: KL coefficient.
        ratio_cap: upper cap of the importance ratio.
    """
    ratio = torch.exp(logprobs - sampler_logprobs).clamp(max=ratio_cap).detach()  # (N, T)
    policy_term = -(advantages.unsqueeze(-1) * ratio * logprobs * mask).sum(-1)  # (N,)
    if ref_logprobs is None:
        kl = torch.zeros_like(policy_term)
    else:
        kl = (k3_kl(logprobs, ref_logprobs) * mask).sum(-1)  # (N,)
    return policy_term + beta * kl, kl, ratio


@register_learner("grpo")
class AdvGameGRPO(Learner):
    """AdvGame-GRPO: on-policy REINFORCE with a batch or group baseline and a k3 KL penalty."""

    uses_reference = True

    def check_config(self, config: LearnerConfig) -> None:
        if self.game.reward_mode == "pairwise":
            logger.info(
                "GRPO with pairwise rewards: each reward is a mean of pairwise scores; the "
                "AdvGame recipe trains GRPO on pointwise rewards"
            )

    def train_batch(self, player: Player, nodes: Sequence[SeedNode]) -> dict[str, float]:
        groups = player_groups(nodes, player.role, include_errors=self.config.train_on_errors)
        samples = [s for group in groups for s in group]
        metrics = {"samples": float(len(samples)), **nan_metrics(*_METRICS)}
        if not samples:
            return metrics

        advantages = grpo_advantages(samples, self.config.grpo_baseline)  # (N,)
        sampler = self.sampler_token_logprobs(player, samples, None)  # (N, T)
        reference = None
        if player.reference is not None:
            reference, _ = self.token_logprobs(player, samples, player.reference)  # (N, T)

        beta = player.config.beta
        size = player.config.micro_batch_size
        total_loss, total_kl, ratio_sum, tokens = 0.0, 0.0, 0.0, 0.0
        for start in range(0, len(samples), size):
            rows = slice(start, start + size)
            chunk = samples[rows]
            logprobs, mask = self.token_logprobs(player, chunk)  # (n, t)
            width = logprobs.shape[1]
            loss, kl, ratio = grpo_loss(
                logprobs,
                sampler[rows, :width],
                reference[rows, :width] if reference is not None else None,
                advantages[rows].to(logprobs.device),
                mask,
                beta,
                self.config.grpo_ratio_cap,
            )
            (loss.sum() / len(samples)).backward()
            total_loss += loss.sum().item() / len(samples)
            total_kl += kl.sum().item() / len(samples)
            ratio_sum += (ratio * mask).sum().item()
            tokens += mask.sum().item()

        metrics.update(
            loss=total_loss,
            kl=total_kl,
            advantage_abs=advantages.abs().mean().item(),
            ratio_mean=ratio_sum / max(tokens, 1.0),
            grad_norm=self.optimizer_step(player),
        )
        return metrics


__all__ = ["AdvGameGRPO", "grpo_advantages", "grpo_loss", "k3_kl"]
