"""Play rendered rounds with LM players: the quickest look at the game."""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console

from advgame.envs.seeds import load_seeds

logger = logging.getLogger(__name__)

# Prefills and stop strings that help an LM attacker keep each output format. The reply
# opens with the first tag, and generation stops at the closing tag. In plain format a blank
# line ends the attack, so it stays one paragraph.
ATTACKER_OPTIONS: dict[str, dict[str, Any]] = {
    "think": {"response_prefix": "<think>", "stop_strings": ("</prompt>",)},
    "nothink": {"response_prefix": "<prompt>", "stop_strings": ("</prompt>",)},
    "plain": {"response_prefix": "", "stop_strings": ("\n\n",)},
}


def attacker_agent_options(attacker_format: str) -> dict[str, Any]:
    """Return ``LMAgent`` keyword arguments that help an attacker keep ``attacker_format``."""
    return dict(ATTACKER_OPTIONS[attacker_format])


def play_rounds(
    *,
    rounds: int,
    seeds: Any = "builtin",
    attacker: str = "default",
    defender: str = "default",
    judge: Any = "embedding",
    attacker_format: str = "plain",
    max_new_tokens: int = 96,
    seed: int = 0,
    show_harmful: bool = False,
    console: Console | None = None,
) -> list[dict[str, float]]:
    """Play ``rounds`` rounds, render each with rich, and return the rewards of each round."""
    from advgame.agents import LMAgent, SamplingConfig
    from advgame.envs import ATTACKER, DEFENDER, AdvGameEnv
    from advgame.judges.factory import make_judge

    console = console or Console()
    options = attacker_agent_options(attacker_format)
    with console.status("loading models and judge"):
        attacker_agent = LMAgent(
            attacker,
            sampling=SamplingConfig(
                max_new_tokens=max_new_tokens, stop_strings=options["stop_strings"]
            ),
            response_prefix=options["response_prefix"],
            seed=seed,
        )
        defender_agent = LMAgent(
            defender, sampling=SamplingConfig(max_new_tokens=max_new_tokens), seed=seed + 1
        )
        env = AdvGameEnv(
            load_seeds(seeds),
            make_judge(judge),
            attacker_format=attacker_format,
            render_mode="human",
            show_harmful=show_harmful,
        )
    results = []
    observations, _ = env.reset(seed=seed)
    for round_index in range(rounds):
        if round_index:
            observations, _ = env.reset()
        rewards: dict[str, float] = {}
        with console.status(f"round {round_index + 1}/{rounds}"):
            while env.agents:
                actions = {}
                if ATTACKER in observations and env.last_node and not env.last_node.attacks:
                    actions[ATTACKER] = attacker_agent.predict(observations[ATTACKER])
                else:
                    actions[DEFENDER] = defender_agent.predict(observations[DEFENDER])
                observations, rewards, *_ = env.step(actions)
        results.append(rewards)
    return results
