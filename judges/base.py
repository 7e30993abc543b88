"""Judge interfaces: pairwise, pointwise and faithfulness judgments with typed outcomes.

Every judge is batch-first: it takes a sequence of requests and returns one verdict per
request, in order. A verdict carries a :class:`JudgeStatus`; a failed judgment has
``None`` scores and is excluded from rewards, never turned into a number.

Subclasses implement the underscored methods (``_judge_pairs``, ``_judge_points``,
``_judge_faithfulness``). The public methods count outcomes in :attr:`Judge.stats` and raise
:class:`~advgame.errors.JudgeFailureRateError` once the failure share passes
``max_failure_rate``.
"""

from __future__ import annotations

import enum
import logging
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from advgame.errors import ConfigError, JudgeFailureRateError
from advgame.judges.rubrics import Rubric

logger = logging.getLogger(__name__)

SeedLabel = Literal["harmful", "benign"]


class JudgeStatus(str, enum.Enum):
    """Outcome of one judgment."""

    OK = "ok"
    PARSE_FAILURE = "parse_failure"
    ERROR = "error"


class Faithfulness(str, enum.Enum):
    """Whether an attack keeps the intent of its seed."""

    FAITHFUL = "faithful"
    UNFAITHFUL = "unfaithful"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True)
class PairwiseRequest:
    """Two responses to the same query, to be scored under one rubric."""

    query: str
    response_a: str
    response_b: str
    rubric: Rubric


@dataclass(frozen=True)
class PairwiseVerdict:
    """Scores in [0, 10] for both responses; ``None`` unless ``status`` is OK."""

    score_a: float | None
    score_b: float | None
    status: JudgeStatus = JudgeStatus.OK
    detail: str = ""

    @classmethod
    def failed(cls, status: JudgeStatus, detail: str) -> PairwiseVerdict:
        return cls(None, None, status, detail)


@dataclass(frozen=True)
class PointwiseRequest:
    """One response to a query, to be scored under one rubric."""

    query: str
    response: str
    rubric: Rubric


@dataclass(frozen=True)
class PointwiseVerdict:
    """A score in [0, 10]; ``None`` unless ``status`` is OK."""

    score: float | None
    status: JudgeStatus = JudgeStatus.OK
    detail: str = ""

    @classmethod
    def failed(cls, status: JudgeStatus, detail: str) -> PointwiseVerdict:
        return cls(None, status, detail)


@dataclass(frozen=True)
class FaithfulnessRequest:
    """A seed, its class, and the attacker's rewrite of it."""

    seed: str
    attack: str
    label: SeedLabel


@dataclass(frozen=True)
class FaithfulnessVerdict:
    """Faithfulness of one attack; UNDETERMINED when the judge could not decide."""

    verdict: Faithfulness
    status: JudgeStatus = JudgeStatus.OK
    detail: str = ""

    @classmethod
    def failed(cls, status: JudgeStatus, detail: str) -> FaithfulnessVerdict:
        return cls(Faithfulness.UNDETERMINED, status, detail)


@dataclass
class JudgeStats:
    """Running counts of a judge's verdicts, by status."""

    calls: int = 0
    parse_failures: int = 0
    errors: int = 0

    @property
    def failures(self) -> int:
        return self.parse_failures + self.errors

    @property
    def failure_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    def record(self, statuses: Sequence[JudgeStatus]) -> None:
        self.calls += len(statuses)
        self.parse_failures += sum(s is JudgeStatus.PARSE_FAILURE for s in statuses)
        self.errors += sum(s is JudgeStatus.ERROR for s in statuses)

    def as_metrics(self, prefix: str = "judge/") -> dict[str, float]:
        return {
            f"{prefix}calls": float(self.calls),
            f"{prefix}parse_failures": float(self.parse_failures),
            f"{prefix}errors": float(self.errors),
            f"{prefix}failure_rate": self.failure_rate,
        }


class Judge:
    """Common state of every judge: a name, outcome counts and the failure-rate limit.

    Args:
        max_failure_rate: raise once more than this share of verdicts failed; ``None``
            disables the check.
        min_calls_for_limit: the limit applies only after this many verdicts, so one early
            failure does not stop a run.
    """

    def __init__(
        self, *, max_failure_rate: float | None = 0.2, min_calls_for_limit: int = 20
    ) -> None:
        if max_failure_rate is not None and not 0.0 <= max_failure_rate <= 1.0:
            raise ConfigError(
                f"Expects max_failure_rate to be in [0, 1] or None, actual: {max_failure_rate}; "
                "pass a share such as 0.2"
            )
        if min_calls_for_limit < 0:
            raise ConfigError(f"Expects min_calls_for_limit >= 0, actual: {min_calls_for_limit}")
        self.max_failure_rate = max_failure_rate
        self.min_calls_for_limit = min_calls_for_limit
        self.stats = JudgeStats()

    @property
    def name(self) -> str:
        return type(self).__name__

    def _account(self, statuses: Sequence[JudgeStatus]) -> None:
        self.stats.record(statuses)
        failed = [s for s in statuses if s is not JudgeStatus.OK]
        if failed:
            logger.warning(
                "judge %s: %d of %d verdicts failed in this batch (%d failed in total)",
                self.name,
                len(failed),
                len(statuses),
                self.stats.failures,
            )
        limit = self.max_failure_rate
        if (
            limit is not None
            and self.stats.calls >= self.min_calls_for_limit
            and self.stats.failure_rate > limit
        ):
            raise JudgeFailureRateError(self.name, self.stats.failure_rate, limit, self.stats.calls)


class PairwiseJudge(Judge):
    """Scores two responses to one query against each other."""

    def judge_pairs(self, requests: Sequence[PairwiseRequest]) -> list[PairwiseVerdict]:
        verdicts = self._judge_pairs(list(requests)) if requests else []
        _check_length(self, len(requests), len(verdicts))
        self._account([v.status for v in verdicts])
        return verdicts

    @abstractmethod
    def _judge_pairs(self, requests: list[PairwiseRequest]) -> list[PairwiseVerdict]: ...


class PointwiseJudge(Judge):
    """Scores one response to a query on its own."""

    def judge_points(self, requests: Sequence[PointwiseRequest]) -> list[PointwiseVerdict]:
        verdicts = self._judge_points(list(requests)) if requests else []
        _check_length(self, len(requests), len(verdicts))
        self._account([v.status for v in verdicts])
        return verdicts

    @abstractmethod
    def _judge_points(self, requests: list[PointwiseRequest]) -> list[PointwiseVerdict]: ...


class FaithfulnessJudge(Judge):
    """Decides whether an attack keeps the intent of its seed."""

    def judge_faithfulness(
        self, requests: Sequence[FaithfulnessRequest]
    ) -> list[FaithfulnessVerdict]:
        verdicts = self._judge_faithfulness(list(requests)) if requests else []
        _check_length(self, len(requests), len(verdicts))
        self._account([v.status for v in verdicts])
        return verdicts

    @abstractmethod
    def _judge_faithfulness(
        self, requests: list[FaithfulnessRequest]
    ) -> list[FaithfulnessVerdict]: ...


def majority_vote(samples: Sequence[FaithfulnessVerdict]) -> FaithfulnessVerdict:
    """Combine several faithfulness samples of one attack into one verdict.

    Only samples with status OK vote, and an UNDETERMINED sample votes for neither side.
    The side with more votes wins. A tie, including zero decided votes among OK samples,
    gives UNDETERMINED with status OK: the judge answered but did not decide. When no
    sample has status OK, the result is a failed verdict, with status ERROR if any sample
    was an error and PARSE_FAILURE otherwise.

    Args:
        samples: the verdicts of one attack, one per judge sample.

    Returns:
        One verdict whose ``detail`` records the vote count, for example
        ``"votes faithful=2 unfaithful=1 failed=0"``.
    """
    if not samples:
        raise ValueError("Expects at least one faithfulness sample to vote on, actual: none")
    valid = [s for s in samples if s.status is JudgeStatus.OK]
    faithful = sum(s.verdict is Faithfulness.FAITHFUL for s in valid)
    unfaithful = sum(s.verdict is Faithfulness.UNFAITHFUL for s in valid)
    detail = f"votes faithful={faithful} unfaithful={unfaithful} failed={len(samples) - len(valid)}"
    if not valid:
        errored = any(s.status is JudgeStatus.ERROR for s in samples)
        status = JudgeStatus.ERROR if errored else JudgeStatus.PARSE_FAILURE
        return FaithfulnessVerdict.failed(status, f"{detail}; first: {samples[0].detail}")
    if faithful > unfaithful:
        return FaithfulnessVerdict(Faithfulness.FAITHFUL, detail=detail)
    if unfaithful > faithful:
        return FaithfulnessVerdict(Faithfulness.UNFAITHFUL, detail=detail)
    return FaithfulnessVerdict(Faithfulness.UNDETERMINED, detail=detail)


def _check_length(judge: Judge, expected: int, actual: int) -> None:
    if expected != actual:
        raise RuntimeError(
            f"judge {judge.name} returned {actual} verdicts for {expected} requests; "
            "a judge must return exactly one verdict per request, in order"
        )
