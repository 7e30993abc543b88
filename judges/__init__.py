"""Preference judges: the reward of the game.

Light judges and types import eagerly. :class:`LMJudge` (torch, transformers) and
:class:`HTTPJudge` (httpx) load on first access, so ``import advgame.judges`` stays free of
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from advgame.judges.adapters import TRLPairwiseJudge
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
    majority_vote,
)
from advgame.judges.composite import CompositeJudge, as_composite
from advgame.judges.embedder import SentenceEmbedder
from advgame.judges.embedding import EmbeddingJudge
from advgame.judges.groups import ScoringGroup, score_groups
from advgame.judges.keyword import TEST_PREFIXES, KeywordJudge, keyword_attack_success
from advgame.judges.prompts import (
    JudgeTemplates,
    PromptTemplate,
    build_templates,
    default_templates,
)
from advgame.judges.rubrics import FAITHFULNESS_CRITERIA, RUBRIC_CRITERIA, Rubric
from advgame.judges.rule import RuleJudge

if TYPE_CHECKING:
    from advgame.judges.http import HTTPJudge
    from advgame.judges.lm import LMJudge

_LAZY = {"LMJudge": "advgame.judges.lm", "HTTPJudge": "advgame.judges.http"}

__all__ = [
    "FAITHFULNESS_CRITERIA",
    "RUBRIC_CRITERIA",
    "TEST_PREFIXES",
    "CompositeJudge",
    "EmbeddingJudge",
    "Faithfulness",
    "FaithfulnessJudge",
    "FaithfulnessRequest",
    "FaithfulnessVerdict",
    "HTTPJudge",
    "Judge",
    "JudgeStats",
    "JudgeStatus",
    "JudgeTemplates",
    "KeywordJudge",
    "LMJudge",
    "PairwiseJudge",
    "PairwiseRequest",
    "PairwiseVerdict",
    "PointwiseJudge",
    "PointwiseRequest",
    "PointwiseVerdict",
    "PromptTemplate",
    "Rubric",
    "RuleJudge",
    "ScoringGroup",
    "SentenceEmbedder",
    "TRLPairwiseJudge",
    "as_composite",
    "build_templates",
    "default_templates",
    "keyword_attack_success",
    "majority_vote",
    "score_groups",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advgame.judges' has no attribute {name!r}")
