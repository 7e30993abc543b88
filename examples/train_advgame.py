"""Train the defender with a hand-written REINFORCE loop on the AdvGame PettingZoo env.

This is how third-party code plugs its own learner into the game: play episodes through
``reset``/``step`` with ``predict``, read per-sample rewards from ``infos``, and update the
model with any loss. The attacker is a scripted test double, so only the defender learns.
Each episode is one seed; the defender's D responses to an attack form a group, and the
group mean is the REINFORCE baseline.

Run (about two minutes on two CPU cores with the defaults):

    python examples/train_advgame.py --episodes 10
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from advgame.agents import Completion, LMAgent, SamplingConfig, ScriptedAttacker
from advgame.envs import ATTACKER, DEFENDER, AdvGameEnv
from advgame.judges import RuleJudge


def reinforce_step(
    agent: LMAgent,
    optimizer: torch.optim.Optimizer,
    groups: list[tuple[list[Completion], list[float | None]]],
) -> float | None:
    """Take one REINFORCE step on groups of (completions, rewards); return the loss."""
    samples, advantages = [], []
    for completions, rewards in groups:
        scored = [(c, r) for c, r in zip(completions, rewards) if r is not None]
        if len(scored) < 2:
            continue  # one sample has no baseline to compare with
        baseline = float(np.mean([r for _, r in scored]))
        for completion, reward in scored:
            samples.append(completion)
            advantages.append(reward - baseline)
    if not samples or not any(advantages):
        return None

    logprobs, mask = agent.token_logprobs(
        [c.prompt_ids for c in samples], [c.token_ids for c in samples]
    )
    sequence_logprobs = (logprobs * mask).sum(-1)  # (N,)
    loss = -(torch.tensor(advantages) * sequence_logprobs).mean()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(agent.trainable_parameters(), 1.0)
    optimizer.step()
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10, help="episodes (seeds) to play")
    parser.add_argument("--responses", type=int, default=4, help="defender responses per attack")
    parser.add_argument("--max-new-tokens", type=int, default=96, help="defender token limit")
    parser.add_argument("--lr", type=float, default=3e-5, help="AdamW learning rate")
    args = parser.parse_args()

    env = AdvGameEnv(judge=RuleJudge(), num_attacks=1, num_responses=args.responses)
    attacker = ScriptedAttacker()
    sampling = SamplingConfig(temperature=0.9, max_new_tokens=args.max_new_tokens)
    # Responses that hit the token limit score -1 and tie with each other. A system prompt
    # that requests brief replies leaves more responses finished, so more groups train.
    brief = "Answer briefly, in at most three sentences."
    defender = LMAgent("default", sampling=sampling, system_prompt=brief, seed=0)
    optimizer = torch.optim.AdamW(defender.trainable_parameters(), lr=args.lr)

    for episode in range(args.episodes):
        observations, infos = env.reset(seed=0 if episode == 0 else None)
        label = infos[ATTACKER]["seed_label"]
        attack = attacker.predict(observations[ATTACKER])
        observations, rewards, _, _, infos = env.step({ATTACKER: attack})
        if DEFENDER not in env.agents:
            print(f"episode {episode:3d} ({label}): no valid attack, attacker reward "
                  f"{rewards[ATTACKER]:.1f}")  # fmt: skip
            continue

        action = defender.predict(observations[DEFENDER], num_samples=args.responses)
        _, rewards, _, _, infos = env.step({DEFENDER: action})
        groups = [
            (list(responses), rewards_per_response)
            for responses, rewards_per_response in zip(action, infos[DEFENDER]["sample_rewards"])
            if rewards_per_response
        ]
        loss = reinforce_step(defender, optimizer, groups)
        loss_text = f"{loss:+.3f}" if loss is not None else "n/a (tied rewards)"
        print(
            f"episode {episode:3d} ({label}): defender reward {rewards[DEFENDER]:.2f}, "
            f"attacker reward {rewards[ATTACKER]:.2f}, loss {loss_text}"
        )
    env.close()


if __name__ == "__main__":
    main()
