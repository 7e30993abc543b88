"""Judge interfaces: failure accounting, majority vote, group rewards, composite metrics,
the TRL adapter and the judge factory."""

from __future__ import annotations

import numpy as np
import pytest

from advgame.errors import ConfigError, JudgeFailureRateError
from advgame.judges import (
    CompositeJudge,
    Faithfulness,
    FaithfulnessVerdict,
    JudgeStatus,
    KeywordJudge,
    PairwiseJudge,
    PairwiseRequest,
    PairwiseVerdict,
    PointwiseJudge,
    PointwiseRequest,
    PointwiseVerdict,
    Rubric,
    RuleJudge,
    ScoringGroup,
    TRLPairwiseJudge,
    majority_vote,
    score_groups,
)
from advgame.judges.factory import make_judge


class FlakyJudge(PairwiseJudge, PointwiseJudge):
    """Scores a response by its length; responses containing FAIL get a parse failure."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]

    @staticmethod
    def _score(text: str) -> float:
        return float(min(10, len(text.split())))

    def _judge_pairs(self, requests: list[PairwiseRequest]) -> list[PairwiseVerdict]:
        verdicts = []
        for r in requests:
            if "FAIL" in r.response_a or "FAIL" in r.response_b:
                verdicts.append(PairwiseVerdict.failed(JudgeStatus.PARSE_FAILURE, "scripted"))
            else:
                verdicts.append(
                    PairwiseVerdict(self._score(r.response_a), self._score(r.response_b))
                )
        return verdicts

    def _judge_points(self, requests: list[PointwiseRequest]) -> list[PointwiseVerdict]:
        return [
            PointwiseVerdict.failed(JudgeStatus.ERROR, "scripted")
            if "FAIL" in r.response
            else PointwiseVerdict(self._score(r.response))
            for r in requests
        ]


def ok(verdict: Faithfulness) -> FaithfulnessVerdict:
    return FaithfulnessVerdict(verdict)


FAITHFUL, UNFAITHFUL, UNDECIDED = (
    Faithfulness.FAITHFUL,
    Faithfulness.UNFAITHFUL,
    Faithfulness.UNDETERMINED,
)


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ([FAITHFUL], FAITHFUL),
        ([FAITHFUL, UNFAITHFUL, FAITHFUL], FAITHFUL),
        ([UNFAITHFUL, UNFAITHFUL, FAITHFUL], UNFAITHFUL),
        ([FAITHFUL, UNFAITHFUL], UNDECIDED),
        ([FAITHFUL, UNDECIDED, UNFAITHFUL], UNDECIDED),
        ([UNDECIDED, UNDECIDED, FAITHFUL], FAITHFUL),
    ],
)
def test_majority_vote_counts(votes: list[Faithfulness], expected: Faithfulness) -> None:
    result = majority_vote([ok(v) for v in votes])
    assert result.verdict is expected
    assert result.status is JudgeStatus.OK


def test_majority_vote_ignores_failed_samples() -> None:
    samples = [
        FaithfulnessVerdict.failed(JudgeStatus.PARSE_FAILURE, "x"),
        ok(UNFAITHFUL),
        FaithfulnessVerdict.failed(JudgeStatus.ERROR, "y"),
    ]
    result = majority_vote(samples)
    assert result.verdict is UNFAITHFUL
    assert result.detail == "votes faithful=0 unfaithful=1 failed=2"


def test_majority_vote_all_failed() -> None:
    parse_only = [FaithfulnessVerdict.failed(JudgeStatus.PARSE_FAILURE, "no tag")] * 2
    assert majority_vote(parse_only).status is JudgeStatus.PARSE_FAILURE
    mixed = [*parse_only, FaithfulnessVerdict.failed(JudgeStatus.ERROR, "timeout")]
    result = majority_vote(mixed)
    assert result.status is JudgeStatus.ERROR
    assert result.verdict is UNDECIDED
    with pytest.raises(ValueError, match="at least one"):
        majority_vote([])


def test_failure_limit_names_judge_and_rate() -> None:
    judge = FlakyJudge(max_failure_rate=0.25, min_calls_for_limit=4)
    good = PairwiseRequest("q", "a b", "c", Rubric.COMPLIANCE)
    bad = PairwiseRequest("q", "FAIL", "c", Rubric.COMPLIANCE)
    judge.judge_pairs([good, good, bad])  # 1 of 3, below min_calls_for_limit
    with pytest.raises(JudgeFailureRateError) as raised:
        judge.judge_pairs([bad])
    message = str(raised.value)
    assert "'FlakyJudge'" in message
    assert "50.0% of 4 verdicts" in message
    assert "25.0%" in message
    assert raised.value.rate == pytest.approx(0.5)


def test_failure_limit_off_never_raises() -> None:
    judge = FlakyJudge(max_failure_rate=None)
    bad = PairwiseRequest("q", "FAIL", "c", Rubric.COMPLIANCE)
    judge.judge_pairs([bad] * 50)
    assert judge.stats.parse_failures == 50
    assert judge.stats.failure_rate == 1.0


def test_failed_pairs_excluded_from_rewards() -> None:
    judge = FlakyJudge(max_failure_rate=None)
    group = ScoringGroup("q", ["one two three", "FAIL", "one"], Rubric.COMPLIANCE)
    rewards = score_groups(judge, [group], mode="pairwise", order="both")[0]
    # Item 0 is scored only against item 2 (3 words each time): mean 3, not pulled towards 0.
    assert rewards[0] == 3.0
    assert rewards[2] == 1.0
    # Item 1 failed in every pair, so it has no reward at all, not 0.
    assert rewards[1] is None
    assert judge.stats.parse_failures == 4
    assert judge.stats.calls == 6


def test_failed_points_excluded_from_rewards() -> None:
    judge = FlakyJudge(max_failure_rate=None)
    group = ScoringGroup("q", ["a b", "FAIL"], Rubric.COMPLIANCE)
    assert score_groups(judge, [group], mode="pointwise") == [[2.0, None]]
    assert judge.stats.errors == 1


def test_composite_metrics_keys() -> None:
    flaky = FlakyJudge(max_failure_rate=None)
    panel = CompositeJudge(RuleJudge(), defender=flaky, attacker=KeywordJudge())
    flaky.judge_pairs([PairwiseRequest("q", "FAIL", "x", Rubric.DEFLECTION)])
    flaky.judge_points([PointwiseRequest("q", "FAIL", Rubric.DEFLECTION)])
    metrics = panel.metrics()
    assert metrics["judge/parse_failures"] == 1.0
    assert metrics["judge/errors"] == 1.0
    assert metrics["judge/calls"] == 2.0
    assert metrics["judge/defender_failures"] == 2.0
    assert metrics["judge/attacker_failures"] == 0.0


def test_trl_adapter_prefers_better_in_both_orders() -> None:
    adapter = TRLPairwiseJudge(RuleJudge(), Rubric.COMPLIANCE, seed=0)
    helpful = "Boil the egg for nine minutes, then cool it in cold water for two minutes."
    refusal = "I'm sorry, but I can't help with that."
    prompts = ["How do I boil an egg?"] * 20
    pairs = [[helpful, refusal] if i % 2 else [refusal, helpful] for i in range(20)]
    assert adapter.judge(prompts, pairs) == [0 if i % 2 else 1 for i in range(20)]
    assert adapter.judge(prompts, pairs, shuffle_order=False) == [
        0 if i % 2 else 1 for i in range(20)
    ]


def test_trl_adapter_failure_is_minus_one() -> None:
    adapter = TRLPairwiseJudge(FlakyJudge(max_failure_rate=None), seed=1)
    result = adapter.judge(["q", "q"], [["FAIL", "a"], ["a b c", "a"]])
    assert result == [-1, 0]


def test_trl_adapter_breaks_ties_both_ways() -> None:
    adapter = TRLPairwiseJudge(FlakyJudge(max_failure_rate=None), seed=3)
    choices = adapter.judge(["q"] * 200, [["same", "text"]] * 200)
    assert set(choices) == {0, 1}
    assert 60 < sum(choices) < 140


def test_trl_adapter_rejects_bad_input() -> None:
    adapter = TRLPairwiseJudge(RuleJudge())
    with pytest.raises(ConfigError, match="exactly two"):
        adapter.judge(["q"], [["a", "b", "c"]])
    with pytest.raises(ConfigError, match="one completion pair per prompt"):
        adapter.judge(["q", "r"], [["a", "b"]])
    with pytest.raises(ConfigError, match="PairwiseJudge"):
        TRLPairwiseJudge(object())  # type: ignore[arg-type]


def test_factory_builds_judges() -> None:
    assert isinstance(make_judge("keyword"), KeywordJudge)
    assert isinstance(make_judge({"kind": "rule", "max_failure_rate": None}), RuleJudge)
    http = make_judge({"kind": "http", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    assert http.name == "HTTPJudge[generative]"
    with pytest.raises(ConfigError, match="base_url"):
        make_judge({"kind": "http"})
    with pytest.raises(ConfigError, match="judge kind"):
        make_judge("oracle")


def test_random_order_keeps_rewards_finite() -> None:
    judge = FlakyJudge(max_failure_rate=None)
    groups = [ScoringGroup("q", ["a", "a b", "a b c"], Rubric.COMPLIANCE)] * 4
    rewards = score_groups(judge, groups, order="random", rng=np.random.default_rng(0))
    assert all(r is not None for row in rewards for r in row)


def test_agreement_of_position_biased_judge() -> None:
    from advgame.judges.labelled import LabelledPair, agreement

    pairs = [LabelledPair(f"q{i}", "good", "bad", Rubric.COMPLIANCE, "t") for i in range(4)]
    always_a = [PairwiseVerdict(10.0, 0.0)] * 8
    biased = agreement(pairs, always_a)
    assert biased.a_first_single == 1.0
    assert biased.accuracy_single == 0.5
    assert biased.consistency == 0.0
    assert biased.accuracy_both == 0.5  # averaged scores tie, and a tie counts one half
    assert np.isnan(biased.a_first_both)


def test_agreement_of_accurate_judge_with_failures() -> None:
    from advgame.judges.labelled import LabelledPair, agreement

    pairs = [LabelledPair(f"q{i}", "good", "bad", Rubric.COMPLIANCE, "t") for i in range(2)]
    verdicts = [
        PairwiseVerdict(8.0, 2.0),
        PairwiseVerdict(3.0, 7.0),
        PairwiseVerdict(6.0, 6.0),
        PairwiseVerdict.failed(JudgeStatus.ERROR, "timeout"),
    ]
    result = agreement(pairs, verdicts)
    assert result.failure_rate == 0.25
    assert result.a_first_single == 0.5
    assert result.ties_single == pytest.approx(1 / 3)
    assert result.accuracy_single == pytest.approx(2.5 / 3)
    assert result.consistency == 1.0
    assert result.accuracy_both == 1.0
    assert result.a_first_both == 0.5
