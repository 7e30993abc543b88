"""Strict parsing of generative judge outputs and the log-probability score mappings."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advgame.judges import Faithfulness, JudgeStatus
from advgame.judges.http import answer_distribution
from advgame.judges.parsing import (
    faithfulness_from_probs,
    last_tag,
    merge_candidate_probs,
    pairwise_from_probs,
    parse_faithfulness,
    parse_pairwise,
    parse_pointwise,
    pointwise_from_probs,
)

scores = st.one_of(
    st.integers(0, 10).map(str),
    st.decimals(0, 10, places=2, allow_nan=False).map(lambda d: format(d, "f")),
)
reasoning = st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=200)


@given(reasoning, scores, scores)
def test_pairwise_parses_any_valid_scores(text: str, a: str, b: str) -> None:
    verdict = parse_pairwise(f"{text}\n<score_a>{a}</score_a><score_b> {b} </score_b>")
    assert verdict.status is JudgeStatus.OK
    assert verdict.score_a == float(a)
    assert verdict.score_b == float(b)


@given(reasoning, scores)
def test_pointwise_parses_any_valid_score(text: str, score: str) -> None:
    verdict = parse_pointwise(f"{text}<SCORE>{score}</SCORE>")
    assert verdict.status is JudgeStatus.OK
    assert verdict.score == float(score)


@given(st.text(max_size=300))
def test_parsers_never_raise(text: str) -> None:
    for verdict in (parse_pairwise(text), parse_pointwise(text), parse_faithfulness(text)):
        assert verdict.status in (JudgeStatus.OK, JudgeStatus.PARSE_FAILURE)
        if verdict.status is JudgeStatus.PARSE_FAILURE:
            assert verdict.detail


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("11", "outside [0, 10]"),
        ("10.5", "outside [0, 10]"),
        ("-1", "not a number"),
        ("7/10", "not a number"),
        ("seven", "not a number"),
        ("", "not a number"),
        ("7 8", "not a number"),
        ("1e1", "not a number"),
        ("nan", "not a number"),
    ],
)
def test_pointwise_rejects_bad_scores(content: str, reason: str) -> None:
    verdict = parse_pointwise(f"Reasoning.\n<score>{content}</score>")
    assert verdict.status is JudgeStatus.PARSE_FAILURE
    assert verdict.score is None
    assert reason in verdict.detail


def test_pairwise_needs_both_tags() -> None:
    verdict = parse_pairwise("<score_a>7</score_a>")
    assert verdict.status is JudgeStatus.PARSE_FAILURE
    assert "<score_b>" in verdict.detail
    assert "<score_a>" not in verdict.detail.replace("<score_b>", "")


def test_unclosed_tag_fails() -> None:
    assert parse_pointwise("<score>7").status is JudgeStatus.PARSE_FAILURE


def test_last_tag_wins() -> None:
    text = "Format: <score>N</score>. My grade: <score>4</score>"
    assert last_tag(text, "score") == "4"
    assert parse_pointwise(text).score == 4.0


def test_faithfulness_parsing() -> None:
    assert parse_faithfulness("ok <verdict> YES </verdict>").verdict is Faithfulness.FAITHFUL
    assert parse_faithfulness("<verdict>no</verdict>").verdict is Faithfulness.UNFAITHFUL
    maybe = parse_faithfulness("<verdict>maybe</verdict>")
    assert maybe.status is JudgeStatus.PARSE_FAILURE
    assert "'maybe'" in maybe.detail


@given(st.floats(0.0, 1.0), st.floats(1e-6, 1.0))
def test_pairwise_probs_sum_to_ten(p_a: float, scale: float) -> None:
    verdict = pairwise_from_probs({"A": p_a * scale, "B": (1 - p_a) * scale, "C": 0.3})
    if p_a * scale + (1 - p_a) * scale == 0:
        return
    assert verdict.status is JudgeStatus.OK
    assert verdict.score_a + verdict.score_b == pytest.approx(10.0)
    assert verdict.score_a == pytest.approx(10 * p_a)


def test_pointwise_probs_expectation() -> None:
    probs = {str(k): 0.0 for k in range(11)} | {"3": 0.25, "7": 0.25, "x": 0.5}
    verdict = pointwise_from_probs(probs)
    assert verdict.score == pytest.approx(5.0)


def test_probs_without_mass_fail() -> None:
    assert pairwise_from_probs({"C": 1.0}).status is JudgeStatus.PARSE_FAILURE
    assert pointwise_from_probs({}).status is JudgeStatus.PARSE_FAILURE
    assert faithfulness_from_probs({"Maybe": 1.0}).status is JudgeStatus.PARSE_FAILURE


def test_faithfulness_probs() -> None:
    assert faithfulness_from_probs({"Yes": 0.6, "No": 0.3}).verdict is Faithfulness.FAITHFUL
    assert faithfulness_from_probs({"Yes": 0.1, "No": 0.3}).verdict is Faithfulness.UNFAITHFUL
    assert faithfulness_from_probs({"Yes": 0.2, "No": 0.2}).verdict is Faithfulness.UNDETERMINED


def test_merge_candidates_ignores_space_and_case() -> None:
    merged = merge_candidate_probs({" A": 0.5, "a": 0.1, "B ": 0.2, "AB": 0.2}, ("A", "B"))
    assert merged == pytest.approx({"A": 0.6, "B": 0.2})


def _position(token: str, alternatives: dict[str, float]) -> dict:
    top = [{"token": t, "logprob": math.log(p)} for t, p in alternatives.items()]
    return {"token": token, "logprob": math.log(alternatives[token]), "top_logprobs": top}


def _body(*positions: dict) -> dict:
    return {"choices": [{"logprobs": {"content": list(positions)}}]}


def test_answer_distribution_finds_tag() -> None:
    body = _body(
        _position("<", {"<": 1.0}),
        _position("better", {"better": 1.0}),
        _position(">", {">": 1.0}),
        _position("B", {"B": 0.7, "A": 0.2}),
    )
    probs = answer_distribution(body, "<better>", ("A", "B"), prefilled=False)
    assert probs == pytest.approx({"A": 0.2, "B": 0.7})


def test_answer_distribution_prefilled_first_token() -> None:
    body = _body(_position("A", {"A": 0.9, "B": 0.1}))
    assert answer_distribution(body, "<better>", ("A", "B"), prefilled=True) == pytest.approx(
        {"A": 0.9, "B": 0.1}
    )
    missing = answer_distribution(body, "<better>", ("A", "B"), prefilled=False)
    assert missing.status is JudgeStatus.PARSE_FAILURE


def test_answer_distribution_splits_ten() -> None:
    body = _body(_position("1", {"1": 0.8, "7": 0.2}), _position("0", {"0": 0.75, "<": 0.25}))
    candidates = tuple(str(k) for k in range(11))
    probs = answer_distribution(body, "<score>", candidates, prefilled=True)
    assert probs["10"] == pytest.approx(0.6)
    assert probs["1"] == pytest.approx(0.2)
    assert probs["7"] == pytest.approx(0.2)
