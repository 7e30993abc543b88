"""Group rewards from pairwise or pointwise judges.

A group is several responses to one query (the D responses to one attack, or the A attacks
for one seed represented by their chosen responses). In pairwise mode every unordered pair
inside a group is judged and an item's reward is the mean of the scores it received; a
lone item is judged against itself. All groups of a batch go to the judge in one call.

Position bias: ``order="both"`` judges each pair in both orders and averages, which cancels
a judge's preference for the first position at twice the cost; ``order="random"`` flips
each pair with probability 1/2; ``order="fixed"`` keeps the first item in position A, as the
AdvGame reference implementation does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from advgame.errors import ConfigError
from advgame.judges.base import (
    JudgeStatus,
    PairwiseJudge,
    PairwiseRequest,
    PointwiseJudge,
    PointwiseRequest,
)
from advgame.judges.rubrics import Rubric

RewardMode = Literal["pairwise", "pointwise"]
PairOrder = Literal["both", "random", "fixed"]
PAIR_ORDERS: tuple[str, ...] = ("both", "random", "fixed")


@dataclass(frozen=True)
class ScoringGroup:
    """Responses to one query, scored under one rubric."""

    query: str
    responses: Sequence[str]
    rubric: Rubric


def score_groups(
    judge: PairwiseJudge | PointwiseJudge,
    groups: Sequence[ScoringGroup],
    *,
    mode: RewardMode = "pairwise",
    order: PairOrder = "both",
    rng: np.random.Generator | None = None,
) -> list[list[float | None]]:
    """Return one reward per response per group; ``None`` where every judgment failed."""
    if mode == "pointwise":
        if not isinstance(judge, PointwiseJudge):
            raise ConfigError(
                f"reward mode 'pointwise' needs a PointwiseJudge, actual: {type(judge).__name__}; "
                "pass a judge that scores single responses or use mode='pairwise'"
            )
        return _score_pointwise(judge, groups)
    if mode == "pairwise":
        if not isinstance(judge, PairwiseJudge):
            raise ConfigError(
                f"reward mode 'pairwise' needs a PairwiseJudge, actual: {type(judge).__name__}; "
                "pass a judge that compares two responses or use mode='pointwise'"
            )
        if order not in PAIR_ORDERS:
            raise ConfigError(f"Expects order to be one of {PAIR_ORDERS}, actual: {order!r}")
        return _score_pairwise(judge, groups, order, rng or np.random.default_rng())
    raise ConfigError(f"Expects mode 'pairwise' or 'pointwise', actual: {mode!r}")


def _score_pointwise(
    judge: PointwiseJudge, groups: Sequence[ScoringGroup]
) -> list[list[float | None]]:
    requests = [
        PointwiseRequest(group.query, response, group.rubric)
        for group in groups
        for response in group.responses
    ]
    verdicts = iter(judge.judge_points(requests))
    rewards: list[list[float | None]] = []
    for group in groups:
        scores = []
        for _ in group.responses:
            verdict = next(verdicts)
            scores.append(verdict.score if verdict.status is JudgeStatus.OK else None)
        rewards.append(scores)
    return rewards


def _pair_slots(size: int, order: PairOrder, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Return the (position A, position B) item indices to judge for one group."""
    if size == 1:
        return [(0, 0)]
    slots: list[tuple[int, int]] = []
    for i in range(size):
        for j in range(i + 1, size):
            if order == "both":
                slots += [(i, j), (j, i)]
            elif order == "random" and rng.random() < 0.5:
                slots.append((j, i))
            else:
                slots.append((i, j))
    return slots


def _score_pairwise(
    judge: PairwiseJudge,
    groups: Sequence[ScoringGroup],
    order: PairOrder,
    rng: np.random.Generator,
) -> list[list[float | None]]:
    plan: list[tuple[int, int, int]] = []  # (group index, item in A, item in B)
    requests: list[PairwiseRequest] = []
    for g, group in enumerate(groups):
        if not group.responses:
            continue
        for a, b in _pair_slots(len(group.responses), order, rng):
            plan.append((g, a, b))
            requests.append(
                PairwiseRequest(group.query, group.responses[a], group.responses[b], group.rubric)
            )
    verdicts = judge.judge_pairs(requests)

    received: list[list[list[float]]] = [[[] for _ in group.responses] for group in groups]
    for (g, a, b), verdict in zip(plan, verdicts):
        if verdict.status is not JudgeStatus.OK:
            continue
        assert verdict.score_a is not None and verdict.score_b is not None
        received[g][a].append(verdict.score_a)
        received[g][b].append(verdict.score_b)
    return [
        [float(np.mean(scores)) if scores else None for scores in group_scores]
        for group_scores in received
    ]
