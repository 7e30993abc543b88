"""Agent-side types shared by the environment and the learners.

Nothing here imports torch, so the environment and the test doubles stay light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class Completion:
    """One sampled completion of a prompt.

    Attributes:
        text: the decoded completion, without special tokens.
        token_ids: the generated token ids, without the prompt and without padding; the
            end-of-sequence token is included when the model emitted one.
        prompt_ids: the token ids of the chat-formatted prompt.
        logprobs: the sampler's log-probability of each generated token under the model's
            unscaled distribution (temperature 1, no top-p), or ``None`` when the backend
            does not report them.
        truncated: ``True`` when generation stopped at the token limit before the model
            ended its turn.
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    prompt_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    truncated: bool = False


@runtime_checkable
class Policy(Protocol):
    """Anything that can sample completions for a batch of user-turn prompts.

    ``generate(prompts, num_samples)`` returns, for each prompt, a list of ``num_samples``
    completions. The policy applies its own chat template: prompts are the text of one user
    turn.
    """

    def generate(self, prompts: Sequence[str], num_samples: int = 1) -> list[list[Completion]]: ...


def as_completion(action: Any) -> Completion:
    """Wrap a plain string action as a :class:`Completion`; pass completions through."""
    if isinstance(action, Completion):
        return action
    if isinstance(action, str):
        return Completion(text=action)
    raise TypeError(
        f"Expects an action to be a str or a Completion, actual: {type(action).__name__}"
    )
