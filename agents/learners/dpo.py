"""AdvGame-DPO and AdvGame-IPO: preference learning on best-vs-worst pairs from each group.

Each player samples from its EMA copy (decay ``ema_decay`` per learner step), which is also
its reference model. In every group (the A attacks of a seed, the D responses to an
attack) the best and the worst sample form a pair. A group whose rewards tie gives no pair
and excluded samples are left out, but error samples (reward -1) take part, because an
error is a valid worst sample. With summed completion log-probabilities,

    Δ = [log π(y_w) − log π_ref(y_w)] − [log π(y_l) − log π_ref(y_l)]
    DPO:  L = −log σ(β Δ)
    IPO:  L = (Δ − 1 / (2β))²

averaged over the batch's pairs. The reference log-probabilities are those the sampler
reported (the EMA copy's temperature-1 log-probabilities of the sampled tokens); when a
backend reports none, they are recomputed with the EMA weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from advgame.agents.learners.base import Learner, Player, nan_metrics
from advgame.agents.learners.config import ROLES, LearnerConfig
from advgame.agents.learners.registry import register_learner
from advgame.agents.learners.samples import Pair, chunks, player_groups, select_pairs
from advgame.envs.tree import SeedNode
from advgame.errors import ConfigError

_METRICS = ("loss", "delta_mean", "accuracy", "reward_margin", "grad_norm")


def dpo_loss(delta: torch.Tensor, beta: float) -> torch.Tensor:
    """Return the DPO loss ``−log σ(β Δ)`` per pair; ``delta`` is ``(P,)``."""
    return -F.logsigmoid(beta * delta)


def ipo_loss(delta: torch.Tensor, beta: float) -> torch.Tensor:
    """Return the IPO loss ``(Δ − 1 / (2β))²`` per pair; ``delta`` is ``(P,)``."""
    return (delta - 1.0 / (2.0 * beta)) ** 2


@register_learner("dpo")
class AdvGameDPO(Learner):
    """AdvGame-DPO: off-policy DPO on best-vs-worst pairs, sampled from EMA copies."""

    samples_from_ema = True

    def check_config(self, config: LearnerConfig) -> None:
        for role in ROLES:
            cfg = config.player(role)
            if cfg.frozen:
                continue
            if cfg.beta <= 0:
                raise ConfigError(
                    f"Expects {role}.beta > 0 for {self.name}, actual: {cfg.beta}; "
                    "AdvGame uses beta: 0.1"
                )
            if cfg.group_size < 2:
                raise ConfigError(
                    f"Expects {role}.group_size >= 2 for {self.name}, actual: "
                    f"{cfg.group_size}; a preference pair needs two samples per group"
                )

    def loss(self, delta: torch.Tensor, beta: float) -> torch.Tensor:
        """Return the per-pair loss for log-ratio differences ``delta`` ``(P,)``."""
        return dpo_loss(delta, beta)

    def train_batch(self, player: Player, nodes: Sequence[SeedNode]) -> dict[str, float]:
        pairs = select_pairs(player_groups(nodes, player.role, include_errors=True))
        metrics = {"pairs": float(len(pairs)), **nan_metrics(*_METRICS)}
        if not pairs:
            return metrics

        # Reference: the EMA copy that sampled both sides of every pair.
        chosen = [p.chosen for p in pairs]
        rejected = [p.rejected for p in pairs]
        ref_chosen = self.sampler_token_logprobs(player, chosen, player.ema).sum(-1)  # (P,)
        ref_rejected = self.sampler_token_logprobs(player, rejected, player.ema).sum(-1)

        beta = player.config.beta
        pairs_per_chunk = max(1, player.config.micro_batch_size // 2)
        total_loss, deltas = 0.0, []
        for start, chunk in _indexed_chunks(pairs, pairs_per_chunk):
            n = len(chunk)
            logprobs, mask = self.token_logprobs(
                player, [p.chosen for p in chunk] + [p.rejected for p in chunk]
            )
            sums = (logprobs * mask).sum(-1)  # (2n,)
            policy_chosen, policy_rejected = sums[:n], sums[n:]  # (n,), (n,)
            delta = (policy_chosen - ref_chosen[start : start + n]) - (
                policy_rejected - ref_rejected[start : start + n]
            )  # (n,)
            loss = self.loss(delta, beta).sum() / len(pairs)
            loss.backward()
            total_loss += loss.item()
            deltas.append(delta.detach())

        grad_norm = self.optimizer_step(player)
        delta_all = torch.cat(deltas)  # (P,)
        margins = [p.chosen.reward - p.rejected.reward for p in pairs]
        metrics.update(
            loss=total_loss,
            delta_mean=delta_all.mean().item(),
            accuracy=(delta_all > 0).float().mean().item(),
            reward_margin=sum(margins) / len(margins),
            grad_norm=grad_norm,
        )
        return metrics


@register_learner("ipo")
class AdvGameIPO(AdvGameDPO):
    """AdvGame-IPO: the same pairs and EMA reference as AdvGame-DPO, with the IPO loss."""

    def loss(self, delta: torch.Tensor, beta: float) -> torch.Tensor:
        return ipo_loss(delta, beta)


def _indexed_chunks(pairs: list[Pair], size: int) -> list[tuple[int, Sequence[Pair]]]:
    return [(i * size, chunk) for i, chunk in enumerate(chunks(pairs, size))]
