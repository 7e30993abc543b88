"""Preference judges: the reward of the game."""

from __future__ import annotations

from advgame.judges.base import (
    Faithfulness,
    FaithfulnessJudge,
    FaithfulnessRequest,
    FaithfulnessVerdict,
    Judge,
    JudgeStats,
    JudgeStatus,
    PairwiseJudge,
    PairwiseRequest,
    PairwiseVerdict,
    PointwiseJudge,
    PointwiseRequest,
    PointwiseVerdict,
)
from advgame.judges.composite import CompositeJudge, as_composite
from advgame.judges.embedder import SentenceEmbedder
from advgame.judges.embedding import EmbeddingJudge
from advgame.judges.groups import ScoringGroup, score_groups
from advgame.judges.rubrics import FAITHFULNESS_CRITERIA, RUBRIC_CRITERIA, Rubric
from advgame.judges.rule import RuleJudge

__all__ = [
    "FAITHFULNESS_CRITERIA",
    "RUBRIC_CRITERIA",
    "CompositeJudge",
    "EmbeddingJudge",
    "Faithfulness",
    "FaithfulnessJudge",
    "FaithfulnessRequest",
    "FaithfulnessVerdict",
    "Judge",
    "JudgeStats",
    "JudgeStatus",
    "PairwiseJudge",
    "PairwiseRequest",
    "PairwiseVerdict",
    "PointwiseJudge",
    "PointwiseRequest",
    "PointwiseVerdict",
    "Rubric",
    "RuleJudge",
    "ScoringGroup",
    "SentenceEmbedder",
    "as_composite",
    "score_groups",
]
