"""PPO for both players: a value head, GAE over completion tokens, a clipped ratio.

Not part of the AdvGame recipes; it trains on the same rollout tree and rewards. Each
completion is an episode whose only reward ``r`` arrives at its last token. A linear value
head reads the policy's last hidden state before each token. Per player and batch:

    δ_t   = r_t + γ V_{t+1} − V_t,     A_t = δ_t + γ λ A_{t+1},     R_t = A_t + V_t
    ρ_t   = exp(log π(y_t) − log π_old(y_t))
    L     = mean_t [ max(−A_t ρ_t, −A_t clip(ρ_t, 1 − ε, 1 + ε))
                     + c_v · ½ (V_t − R_t)² + β · k3_t ]

``π_old`` is the sampler, ``k3`` the KL estimate to the initial weights (as in GRPO, off
when ``beta`` is 0), and the mean runs over the tokens of a minibatch. Each batch is used
for ``ppo_epochs`` passes in shuffled minibatches of ``ppo_minibatch_size`` sequences, with
one optimizer step per minibatch. The value loss also trains the shared model body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from advgame.agents.learners.base import Learner, Player, nan_metrics
from advgame.agents.learners.grpo import k3_kl
from advgame.agents.learners.registry import register_learner
from advgame.agents.learners.samples import Sample, chunks, player_groups
from advgame.agents.lm_agent import LMAgent
from advgame.envs.tree import SeedNode
from advgame.errors import ConfigError

_METRICS = ("loss", "policy_loss", "value_loss", "kl", "clip_fraction", "value_mean", "grad_norm")


class ValueHead(torch.nn.Module):
    """A scalar value per token from the last hidden state; starts at 0 everywhere."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.float()).squeeze(-1)  # (N, T, H) -> (N, T)


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return GAE advantages and returns, both ``(N, T)``, zero on padding.

    Args:
        rewards: per-token rewards ``(N, T)``.
        values: per-token value estimates ``(N, T)``.
        mask: 1.0 on completion tokens ``(N, T)``; each row's episode ends at its last 1.0.
        gamma: discount per token.
        lam: GAE lambda.
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])  # (N,)
    width = rewards.shape[1]
    for t in reversed(range(width)):
        alive = mask[:, t + 1] if t + 1 < width else torch.zeros_like(running)  # (N,)
        next_value = values[:, t + 1] * alive if t + 1 < width else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running * alive) * mask[:, t]
        advantages[:, t] = running
    returns = (advantages + values) * mask
    return advantages, returns


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return ``values`` shifted and scaled to zero mean and unit variance over ``mask``."""
    count = mask.sum().clamp(min=1.0)
    mean = (values * mask).sum() / count
    var = (((values - mean) * mask) ** 2).sum() / count
    return (values - mean) * torch.rsqrt(var + 1e-8) * mask


def ppo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return per-token clipped policy loss, value loss and clip indicator, all ``(N, T)``."""
    ratio = torch.exp(logprobs - old_logprobs)  # (N, T)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
    policy = torch.maximum(unclipped, clipped) * mask  # (N, T)
    value = 0.5 * (values - returns) ** 2 * mask  # (N, T)
    was_clipped = ((ratio - 1.0).abs() > clip_eps).float() * mask
    return policy, value, was_clipped


@register_learner("ppo")
class PPO(Learner):
    """PPO with a per-player value head on the policy's hidden states."""

    uses_reference = True

    def create_modules(self, role: str, agent: LMAgent) -> dict[str, torch.nn.Module]:
        if not hasattr(agent.backend, "token_logprobs_and_hidden"):
            raise ConfigError(
                f"Expects the {role}'s backend to provide token_logprobs_and_hidden for the "
                f"value head, actual: {type(agent.backend).__name__}; use the HFBackend"
            )
        device = next(agent.model.parameters()).device
        return {"value_head": ValueHead(int(agent.model.config.hidden_size)).to(device)}

    def extra_param_groups(self, player: Player) -> list[dict[str, Any]]:
        lr = self.config.ppo_value_lr or player.config.lr
        head = player.modules["value_head"]
        return [{"params": list(head.parameters()), "weight_decay": 0.0, "lr": lr}]

    def _forward(
        self, player: Player, samples: Sequence[Sample]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return log-probs, mask and values ``(n, t)`` of ``samples`` under grad mode."""
        backend: Any = player.agent.backend
        logprobs, mask, hidden = backend.token_logprobs_and_hidden(
            [s.prompt_ids for s in samples],
            [s.token_ids for s in samples],
            batch_size=player.config.micro_batch_size,
        )
        return logprobs, mask, player.modules["value_head"](hidden) * mask

    def train_batch(self, player: Player, nodes: Sequence[SeedNode]) -> dict[str, float]:
        groups = player_groups(nodes, player.role, include_errors=self.config.train_on_errors)
        samples = [s for group in groups for s in group]
        metrics = {"samples": float(len(samples)), **nan_metrics(*_METRICS)}
        if not samples:
            return metrics

        # Rollout statistics, fixed for every epoch.
        old_logprobs = self.sampler_token_logprobs(player, samples, None)  # (N, T)
        with torch.no_grad():
            _, mask, old_values = self._forward(player, samples)  # (N, T)
        reference = None
        if player.reference is not None:
            reference, _ = self.token_logprobs(player, samples, player.reference)  # (N, T)
        rewards = torch.zeros_like(mask)  # (N, T)
        for i, sample in enumerate(samples):
            rewards[i, len(sample.token_ids) - 1] = sample.reward
        cfg = self.config
        advantages, returns = gae(rewards, old_values, mask, cfg.ppo_gamma, cfg.ppo_gae_lambda)
        if cfg.ppo_whiten_advantages:
            advantages = whiten(advantages, mask)

        totals = dict.fromkeys(("policy_loss", "value_loss", "kl", "clip_fraction"), 0.0)
        norms: list[float] = []
        all_tokens = 0.0
        for _ in range(cfg.ppo_epochs):
            order = self.rng.permutation(len(samples)).tolist()
            for minibatch in chunks(order, cfg.ppo_minibatch_size):
                tokens = mask[minibatch].sum().clamp(min=1.0)
                for micro in chunks(minibatch, player.config.micro_batch_size):
                    parts = self._micro_losses(
                        player, samples, micro, old_logprobs, advantages, returns, reference
                    )
                    loss = (
                        parts["policy_loss"]
                        + cfg.ppo_value_coef * parts["value_loss"]
                        + player.config.beta * parts["kl"]
                    ) / tokens
                    loss.backward()
                    for key in totals:
                        totals[key] += parts[key].item()
                all_tokens += tokens.item()
                norms.append(self.optimizer_step(player))

        for key in totals:
            metrics[key] = totals[key] / all_tokens
        metrics["loss"] = (
            metrics["policy_loss"]
            + cfg.ppo_value_coef * metrics["value_loss"]
            + player.config.beta * metrics["kl"]
        )
        metrics["value_mean"] = ((old_values * mask).sum() / mask.sum()).item()
        metrics["grad_norm"] = sum(norms) / len(norms)
        return metrics

    def _micro_losses(
        self,
        player: Player,
        samples: Sequence[Sample],
        rows: Sequence[int],
        old_logprobs: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor,
        reference: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """Return token-summed loss terms of the samples at ``rows``."""
        index = list(rows)
        logprobs, mask, values = self._forward(player, [samples[i] for i in index])  # (n, t)
        width = logprobs.shape[1]
        policy, value, was_clipped = ppo_loss(
            logprobs,
            old_logprobs[index, :width],
            advantages[index, :width],
            values,
            returns[index, :width],
            mask,
            self.config.ppo_clip_eps,
        )
        kl = torch.zeros((), device=logprobs.device)
        if reference is not None:
            kl = (k3_kl(logprobs, reference[index, :width]) * mask).sum()
        return {
            "policy_loss": policy.sum(),
            "value_loss": value.sum(),
            "kl": kl,
            "clip_fraction": was_clipped.sum(),
        }
