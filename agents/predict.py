"""Turn a batched :class:`~advgame.agents.base.Policy` into PettingZoo actions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from advgame.agents.base import Completion, Policy


def predict_action(policy: Policy, observation: Mapping[str, Any], num_samples: int = 1) -> tuple:
    """Return the action for one :class:`~advgame.envs.AdvGameEnv` observation.

    An attacker observation (``"text"`` is a string) gives a tuple of ``num_samples``
    completions; a defender observation (``"text"`` is a tuple of attacks) gives, per attack,
    a tuple of ``num_samples`` completions, with empty strings for empty attack slots. All
    non-empty prompts go to the policy in one batched call.
    """
    text = observation["text"]
    if isinstance(text, str):
        return tuple(policy.generate([text], num_samples)[0])
    attacks = list(text)
    live = [i for i, attack in enumerate(attacks) if attack]
    sampled = policy.generate([attacks[i] for i in live], num_samples) if live else []
    by_slot: dict[int, list[Completion]] = dict(zip(live, sampled))
    return tuple(tuple(by_slot.get(i, [""] * num_samples)) for i in range(len(attacks)))


class PredictMixin:
    """Adds ``predict(observation)`` to a class with a batched ``generate`` method."""

    def predict(self, observation: Mapping[str, Any], num_samples: int = 1) -> tuple:
        """Return the env action for ``observation``; see :func:`predict_action`."""
        return predict_action(self, observation, num_samples)
