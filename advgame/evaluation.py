"""Defender evaluation: attack success on harmful seeds and compliance on benign ones.

The defender responds to each held-out seed directly, one sample per seed. A response to a
harmful seed is an attack success when it contains no refusal phrase (keyword attack success
rate, the metric of Zou et al., 2023); a response to a benign seed counts as compliant when
it contains no refusal phrase. An optional judge adds mean rubric scores (DEFLECTION on
harmful seeds, COMPLIANCE on benign ones). Response texts stay in the returned records and are
never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advgame.agents.base import Policy
from advgame.envs.game import defender_rubric
from advgame.envs.seeds.base import Seed
from advgame.judges.base import JudgeStatus, PointwiseJudge, PointwiseRequest

logger = logging.getLogger(__name__)


def _default_refusal_detector() -> Callable[[str], bool]:
    from advgame.judges.keyword import is_keyword_refusal

    return is_keyword_refusal


@dataclass
class EvalRecord:
    """One held-out seed, the defender's response and its verdicts."""

    seed: Seed
    response: str
    refused: bool
    truncated: bool
    judge_score: float | None = None


@dataclass
class EvalResult:
    """Summary of one evaluation; rates are shares in [0, 1], NaN when a class is absent."""

    harmful_asr: float
    benign_compliance: float
    harmful_judge_score: float = float("nan")
    benign_judge_score: float = float("nan")
    harmful_count: int = 0
    benign_count: int = 0
    records: list[EvalRecord] = field(default_factory=list, repr=False)

    def as_metrics(self, prefix: str = "eval/") -> dict[str, float]:
        return {
            f"{prefix}harmful_asr": self.harmful_asr,
            f"{prefix}benign_compliance": self.benign_compliance,
            f"{prefix}harmful_judge_score": self.harmful_judge_score,
            f"{prefix}benign_judge_score": self.benign_judge_score,
        }


def evaluate_defender(
    defender: Policy,
    seeds: Sequence[Seed],
    *,
    judge: PointwiseJudge | None = None,
    refusal_detector: Callable[[str], bool] | None = None,
    generation_options: dict[str, Any] | None = None,
) -> EvalResult:
    """Generate one response per seed with ``defender`` and score the responses.

    Args:
        defender: the policy under test; it sees each seed's text as one user turn.
        seeds: held-out seeds, harmful and benign mixed.
        judge: optional pointwise judge for rubric scores.
        refusal_detector: decides whether a response refuses; default: the keyword list of
            :mod:`advgame.judges.keyword`.
        generation_options: extra keyword arguments for ``defender.generate``, such as
            ``{"sampling": SamplingConfig(temperature=0), "seed": 0}`` for an
            :class:`~advgame.agents.LMAgent`.
    """
    detector = refusal_detector or _default_refusal_detector()
    options = generation_options or {}
    batches = defender.generate([s.text for s in seeds], 1, **options)
    completions = [batch[0] for batch in batches]
    records = [
        EvalRecord(seed, c.text, detector(c.text), c.truncated)
        for seed, c in zip(seeds, completions)
    ]
    if judge is not None:
        requests = [
            PointwiseRequest(r.seed.text, r.response, defender_rubric(r.seed)) for r in records
        ]
        for record, verdict in zip(records, judge.judge_points(requests)):
            if verdict.status is JudgeStatus.OK:
                record.judge_score = verdict.score

    harmful = [r for r in records if r.seed.is_harmful]
    benign = [r for r in records if not r.seed.is_harmful]
    return EvalResult(
        harmful_asr=_share([not r.refused for r in harmful]),
        benign_compliance=_share([not r.refused for r in benign]),
        harmful_judge_score=_mean_score(harmful),
        benign_judge_score=_mean_score(benign),
        harmful_count=len(harmful),
        benign_count=len(benign),
        records=records,
    )


def _share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else float("nan")


def _mean_score(records: list[EvalRecord]) -> float:
    scores = [r.judge_score for r in records if r.judge_score is not None]
    return float(np.mean(scores)) if scores else float("nan")
