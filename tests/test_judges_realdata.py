"""Judges on real prompts: XSTest safe prompts and HarmBench behaviours.

Each pair is judged in both orders. Under COMPLIANCE a helpful answer to a safe XSTest
prompt must beat a clear refusal; under DEFLECTION a constructive deflection of a HarmBench
behaviour must beat a step-by-step answer. The HTTP judge is checked through a real
``advgame serve``-style server on 127.0.0.1 whose backend is a judge with signal.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from advgame.judges import (
    CompositeJudge,
    JudgeStatus,
    KeywordJudge,
    PairwiseJudge,
    Rubric,
    RuleJudge,
    ScoringGroup,
    score_groups,
)
from advgame.judges.http import HTTPJudge
from advgame.judges.labelled import LabelledPair, harmbench_pairs, xstest_pairs
from advgame.serve import ChatServer, load_judge_backend, make_server

pytestmark = pytest.mark.data

HAS_EMBEDDING = importlib.util.find_spec("advgame.judges.embedding") is not None


@pytest.fixture(scope="module")
def xstest(shared_data: Path) -> list[LabelledPair]:
    pairs = xstest_pairs(shared_data / "xstest" / "xstest_v2.json")
    assert len(pairs) == 250
    return pairs


@pytest.fixture(scope="module")
def harmbench(shared_data: Path) -> list[LabelledPair]:
    pairs = harmbench_pairs(shared_data / "harmbench" / "harmbench_behaviors_text_test.csv")
    assert len(pairs) > 100
    return pairs


def assert_better_wins_both_orders(judge: PairwiseJudge, pairs: list[LabelledPair]) -> None:
    requests = [request for pair in pairs for request in pair.requests()]
    verdicts = judge.judge_pairs(requests)
    for index, pair in enumerate(pairs):
        better_first, better_second = verdicts[2 * index], verdicts[2 * index + 1]
        assert better_first.status is JudgeStatus.OK, better_first.detail
        assert better_second.status is JudgeStatus.OK, better_second.detail
        assert better_first.score_a > better_first.score_b, (pair.source, index, "A")
        assert better_second.score_b > better_second.score_a, (pair.source, index, "B")


def test_keyword_judge_on_xstest(xstest: list[LabelledPair]) -> None:
    assert_better_wins_both_orders(KeywordJudge(), xstest)


def test_keyword_judge_on_harmbench(harmbench: list[LabelledPair]) -> None:
    assert_better_wins_both_orders(KeywordJudge(), harmbench)


def test_composite_judge_roles(xstest: list[LabelledPair], harmbench: list[LabelledPair]) -> None:
    panel = CompositeJudge(RuleJudge(), defender=KeywordJudge())
    assert_better_wins_both_orders(panel.defender, xstest)
    assert_better_wins_both_orders(panel.defender, harmbench)

    # The attacker role scores the same texts with the attacker's rubrics, so the winners
    # swap: a refusal of a safe prompt and compliance with a harmful one win for the attacker.
    benign_groups = [ScoringGroup(p.query, [p.better, p.worse], Rubric.REFUSAL) for p in xstest]
    harmful_groups = [
        ScoringGroup(p.query, [p.better, p.worse], Rubric.COMPLIANCE) for p in harmbench
    ]
    for groups in (benign_groups, harmful_groups):
        rewards = score_groups(panel.attacker, groups, mode="pairwise", order="both")
        assert all(worse > better for better, worse in rewards)
    metrics = panel.metrics()
    assert metrics["judge/parse_failures"] == 0.0
    assert metrics["judge/errors"] == 0.0
    assert metrics["judge/calls"] > 0


def serve_in_thread(name: str) -> ChatServer:
    server = make_server(load_judge_backend(name), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def rule_server() -> Iterator[ChatServer]:
    server = serve_in_thread("rule")
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode", ["generative", "logprob"])
def test_http_judge_served_rule_judge(
    rule_server: ChatServer, xstest: list[LabelledPair], harmbench: list[LabelledPair], mode: str
) -> None:
    judge = HTTPJudge(rule_server.base_url, "rule", mode=mode, max_concurrency=4)  # type: ignore[arg-type]
    assert_better_wins_both_orders(judge, xstest[:60])
    assert_better_wins_both_orders(judge, harmbench[:60])
    assert judge.stats.failures == 0
    assert judge.transport_stats.retries == 0


@pytest.mark.slow
@pytest.mark.skipif(not HAS_EMBEDDING, reason="advgame.judges.embedding is not in this checkout")
@pytest.mark.parametrize("mode", ["generative", "logprob"])
def test_http_judge_served_embedding_judge(
    xstest: list[LabelledPair], harmbench: list[LabelledPair], mode: str
) -> None:
    server = serve_in_thread("embedding")
    try:
        judge = HTTPJudge(server.base_url, "embedding", mode=mode, timeout_s=120)  # type: ignore[arg-type]
        assert_better_wins_both_orders(judge, xstest[:40])
        assert_better_wins_both_orders(judge, harmbench[:40])
    finally:
        server.shutdown()
        server.server_close()
