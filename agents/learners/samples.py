"""Training samples read from a scored rollout tree: groups, preference pairs, padding.

A player's *group* is the set of samples the judge compared with each other: the A attacks
of one seed for the attacker, the D responses to one attack for the defender. Excluded
samples (no reward, see :attr:`~advgame.envs.tree.Outcome.is_excluded`) never enter a group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from advgame.agents.base import Completion
from advgame.envs.tree import Outcome, SeedNode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One completion with its reward, ready for a loss.

    Attributes:
        prompt_ids: the chat-formatted prompt tokens.
        token_ids: the completion tokens (the training sequence after the prompt).
        sampler_logprobs: the sampler's temperature-1 log-probability of each token, or
            ``None`` when the backend did not report them.
        reward: the patched reward (-1 for errors, 0 to 10 when judged).
        truncated: generation hit the token limit.
        is_error: the sample was a parse error, truncation or unfaithful attack.
        group: index of the sample's group within the batch.
    """

    prompt_ids: list[int]
    token_ids: list[int]
    sampler_logprobs: list[float] | None
    reward: float
    truncated: bool
    is_error: bool
    group: int

    def cut(self, length: int) -> Sample:
        """Return the sample with its completion cut to ``length`` tokens."""
        logprobs = self.sampler_logprobs[:length] if self.sampler_logprobs is not None else None
        return replace(self, token_ids=self.token_ids[:length], sampler_logprobs=logprobs)


@dataclass(frozen=True)
class Pair:
    """A preference pair from one group: the best and the worst sample."""

    chosen: Sample
    rejected: Sample


def _sample(
    completion: Completion, outcome: Outcome | None, reward: float, group: int
) -> Sample | None:
    if not completion.token_ids:
        logger.warning("a sample has no token ids and is left out of the loss")
        return None
    logprobs = completion.logprobs
    if logprobs is not None and len(logprobs) != len(completion.token_ids):
        logprobs = None
    return Sample(
        prompt_ids=list(completion.prompt_ids),
        token_ids=list(completion.token_ids),
        sampler_logprobs=list(logprobs) if logprobs is not None else None,
        reward=float(reward),
        truncated=completion.truncated,
        is_error=outcome is not None and outcome.is_error,
        group=group,
    )


def _scored(
    items: Iterator[tuple[Completion, Outcome | None, float | None]], group: int, errors: bool
) -> list[Sample]:
    samples = []
    for completion, outcome, reward in items:
        excluded = reward is None or (outcome is not None and outcome.is_excluded)
        if excluded or (not errors and outcome is not None and outcome.is_error):
            continue
        sample = _sample(completion, outcome, reward, group)  # type: ignore[arg-type]
        if sample is not None:
            samples.append(sample)
    return samples


def player_groups(
    nodes: Sequence[SeedNode], role: str, *, include_errors: bool = True
) -> list[list[Sample]]:
    """Return the samples of ``role`` in ``nodes``, one list per group, excluded ones left out.

    Args:
        nodes: scored seed nodes of one batch.
        role: ``"attacker"`` (one group per seed) or ``"defender"`` (one per attack that
            received responses).
        include_errors: keep samples with reward -1; ``False`` leaves them out as well.
    """
    groups: list[list[Sample]] = []
    if role == "attacker":
        for node in nodes:
            items = ((a.completion, a.outcome, a.reward) for a in node.attacks)
            groups.append(_scored(items, len(groups), include_errors))
    elif role == "defender":
        for node in nodes:
            for attack in node.attacks:
                if attack.responses:
                    items = ((r.completion, r.outcome, r.reward) for r in attack.responses)
                    groups.append(_scored(items, len(groups), include_errors))
    else:
        raise ValueError(f"Expects role 'attacker' or 'defender', actual: {role!r}")
    return groups


def select_pairs(groups: Sequence[Sequence[Sample]]) -> list[Pair]:
    """Return one (best, worst) pair per group with at least two distinct rewards.

    The first sample wins ties for best and for worst, so the choice is deterministic. A
    group whose rewards are all equal gives no pair. When the rejected sample was truncated
    and is longer than the chosen one, it is cut to the chosen length, so the pair does not
    reward the chosen sample merely for being shorter.
    """
    pairs = []
    for group in groups:
        if len(group) < 2:
            continue
        best = max(group, key=lambda s: s.reward)
        worst = min(group, key=lambda s: s.reward)
        if best.reward == worst.reward:
            continue
        if worst.truncated and len(worst.token_ids) > len(best.token_ids):
            worst = worst.cut(len(best.token_ids))
        pairs.append(Pair(best, worst))
    return pairs


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """Yield consecutive slices of ``items`` with at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
