"""Adapters that give advgame judges the call shapes of other libraries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advgame.errors import ConfigError
from advgame.judges.base import JudgeStatus, PairwiseJudge, PairwiseRequest
from advgame.judges.rubrics import Rubric

FAILED_INDEX = -1


class TRLPairwiseJudge:
    """Wraps a :class:`~advgame.judges.base.PairwiseJudge` in TRL's pairwise judge call shape.

    TRL's ``BasePairwiseJudge.judge(prompts, completions, shuffle_order=True)`` returns, per
    prompt, the index (0 or 1) of the preferred of two completions, or -1 when judging
    failed. TRL exported its judges from the top-level ``trl`` package up to its 0.x
    releases; huggingface/trl pull request 4439 moved them to ``trl.experimental.judges`` on
    the way to TRL 1.0, and the maintainers said that they may remove them (huggingface/trl
    issue 4400). This adapter keeps that call shape without importing TRL.

    Ties (equal scores) are broken by a coin flip from the adapter's own generator, so they
    carry no position preference.

    Args:
        judge: any advgame pairwise judge.
        rubric: the rubric every pair is scored under.
        seed: seed of the generator that shuffles orders and breaks ties.

    Example:
        >>> from advgame.judges import RuleJudge, Rubric
        >>> trl_judge = TRLPairwiseJudge(RuleJudge(), Rubric.COMPLIANCE, seed=0)
        >>> trl_judge.judge(["Name a prime."], [["I can't help with that.", "Seven is prime."]])
        [1]
    """

    def __init__(
        self, judge: PairwiseJudge, rubric: Rubric = Rubric.COMPLIANCE, *, seed: int | None = None
    ) -> None:
        if not isinstance(judge, PairwiseJudge):
            raise ConfigError(
                f"Expects a PairwiseJudge, actual: {type(judge).__name__}; pass a judge that "
                "compares two responses"
            )
        self.judge_impl = judge
        self.rubric = Rubric(rubric)
        self.rng = np.random.default_rng(seed)

    def judge(
        self,
        prompts: Sequence[str],
        completions: Sequence[Sequence[str]],
        shuffle_order: bool = True,
    ) -> list[int]:
        """Return, per prompt, 0 or 1 for the preferred completion, or -1 on failure.

        Args:
            prompts: the queries.
            completions: one pair of completions per prompt.
            shuffle_order: show each pair in random order to the judge, which spreads a
                position bias evenly over both completions.
        """
        if len(prompts) != len(completions):
            raise ConfigError(
                f"Expects one completion pair per prompt, actual: {len(prompts)} prompts and "
                f"{len(completions)} pairs"
            )
        for index, pair in enumerate(completions):
            if isinstance(pair, str) or len(pair) != 2:
                raise ConfigError(
                    f"Expects completions[{index}] to hold exactly two completions, actual: "
                    f"{pair!r}"
                )
        flips = [bool(self.rng.random() < 0.5) if shuffle_order else False for _ in prompts]
        requests = [
            PairwiseRequest(
                prompt, pair[1] if flip else pair[0], pair[0] if flip else pair[1], self.rubric
            )
            for prompt, pair, flip in zip(prompts, completions, flips)
        ]
        choices: list[int] = []
        for verdict, flip in zip(self.judge_impl.judge_pairs(requests), flips):
            if verdict.status is not JudgeStatus.OK:
                choices.append(FAILED_INDEX)
                continue
            assert verdict.score_a is not None and verdict.score_b is not None
            if verdict.score_a == verdict.score_b:
                shown = int(self.rng.integers(2))
            else:
                shown = 0 if verdict.score_a > verdict.score_b else 1
            choices.append(1 - shown if flip else shown)
        return choices
