"""Register a new learner in a few lines and train both players with it.

``@register_learner("reinforce")`` makes the class available to ``make_learner`` and to
``advgame train`` run files (``learner: reinforce``). The base :class:`Learner` draws the
seeds, plays the batched rollout tree, calls ``train_batch`` once per player for the
harmful and then the benign batch, steps the schedules and writes checkpoints. The new
class only defines its loss.

Run (a few minutes on two CPU cores with the defaults):

    python examples/custom_learner.py --steps 2
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import torch

from advgame.agents import LMAgent, SamplingConfig
from advgame.agents.learners import (
    Learner,
    LearnerConfig,
    Player,
    PlayerConfig,
    make_learner,
    player_groups,
    register_learner,
)
from advgame.envs import Game, SeedNode
from advgame.envs.seeds import load_default_seeds
from advgame.judges import RuleJudge


@register_learner("reinforce")
class GroupReinforce(Learner):
    """REINFORCE with a group-mean baseline, no KL penalty and no importance ratio."""

    def train_batch(self, player: Player, nodes: Sequence[SeedNode]) -> dict[str, float]:
        samples, advantages = [], []
        for group in player_groups(nodes, player.role):
            if len(group) < 2:
                continue
            baseline = sum(s.reward for s in group) / len(group)
            samples += group
            advantages += [s.reward - baseline for s in group]
        if not any(advantages):
            return {"samples": 0.0}

        logprobs, mask = self.token_logprobs(player, samples)  # (N, T)
        advantage = torch.tensor(advantages, device=logprobs.device)  # (N,)
        loss = -(advantage * (logprobs * mask).sum(-1)).mean()
        loss.backward()
        return {
            "samples": float(len(samples)),
            "loss": loss.item(),
            "grad_norm": self.optimizer_step(player),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="learner steps")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="token limit per sample")
    args = parser.parse_args()

    sampling = SamplingConfig(temperature=0.9, max_new_tokens=args.max_new_tokens)
    # The small model keeps the attack format far more often with a "<prompt>" prefill
    # and the nothink format.
    attacker = LMAgent(
        "default",
        response_prefix="<prompt>",
        sampling=SamplingConfig(
            temperature=0.9, max_new_tokens=args.max_new_tokens, stop_strings=("</prompt>",)
        ),
        seed=1,
    )
    defender = LMAgent("default", sampling=sampling, seed=2)
    config = LearnerConfig(
        attacker=PlayerConfig(lr=3e-5, group_size=2),
        defender=PlayerConfig(lr=3e-5, group_size=2),
        total_steps=args.steps,
        harmful_batch=2,
        benign_batch=2,
    )
    game = Game(RuleJudge(), attacker_format="nothink")
    learner = make_learner("reinforce", game, attacker, defender, load_default_seeds(), config)

    def report(step: int, metrics: dict[str, float]) -> None:
        keys = ("attacker/reward_mean", "defender/reward_mean", "attacker/parse_error_rate")
        # A mean over no samples is NaN, for example when no attack reached the defender.
        summary = ", ".join(
            f"{key} {metrics[key]:.2f}" if math.isfinite(metrics[key]) else f"{key} n/a"
            for key in keys
        )
        print(f"step {step}: {summary} ({metrics['train/step_seconds']:.0f} s)")

    learner.learn(args.steps, callback=report)


if __name__ == "__main__":
    main()
