"""LMJudge and the LM chat server on the embedded SmolLM2-135M model.

The 135M model has no judging signal, so these tests check mechanics only: batching,
both orders, candidate probabilities, parsing and failure accounting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from advgame.errors import ConfigError, JudgeFailureRateError
from advgame.judges import (
    Faithfulness,
    FaithfulnessRequest,
    JudgeStatus,
    PairwiseRequest,
    PointwiseRequest,
    Rubric,
)
from advgame.judges.http import HTTPJudge
from advgame.judges.lm import LMJudge, candidate_probs, plan_candidates
from advgame.judges.prompts import SCORE_CANDIDATES
from advgame.serve import ChatServer, make_server
from advgame.serve_lm import LMChatBackend

pytestmark = pytest.mark.slow

HELPFUL = "Run `kill PID`, or `pkill -f script.py` to match by name."
REFUSAL = "I'm sorry, but I can't help with that."


@pytest.fixture(scope="module")
def embedded() -> tuple[Any, Any]:
    from advgame.agents.models import load_causal_lm

    model, tokenizer = load_causal_lm("default")
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def logprob_judge(embedded: tuple[Any, Any]) -> LMJudge:
    return LMJudge(*embedded, mode="logprob", batch_size=4, max_failure_rate=None)


def pairs(count: int) -> list[PairwiseRequest]:
    queries = [f"How do I stop process number {i} on Linux?" for i in range(count)]
    return [
        PairwiseRequest(
            q,
            HELPFUL if i % 2 else REFUSAL,
            REFUSAL if i % 2 else HELPFUL + " x" * i,
            Rubric.COMPLIANCE,
        )
        for i, q in enumerate(queries)
    ]


def test_candidate_plan_on_digit_split_tokenizer(embedded: tuple[Any, Any]) -> None:
    _, tokenizer = embedded
    scores = plan_candidates(tokenizer, "<score>", SCORE_CANDIDATES)
    one = tokenizer("<score>1", add_special_tokens=False).input_ids[-1]
    assert scores.extension == one
    assert list(scores.second) == [10]
    letters = plan_candidates(tokenizer, "<better>", ("A", "B"))
    assert letters.extension is None
    assert len(set(letters.first)) == 2
    with pytest.raises(ConfigError, match="at most two tokens"):
        plan_candidates(tokenizer, "<answer>", ("Yes", "antidisestablishmentarianism"))


def test_candidate_probs_split_one_and_ten(embedded: tuple[Any, Any]) -> None:
    import torch

    _, tokenizer = embedded
    plan = plan_candidates(tokenizer, "<score>", SCORE_CANDIDATES)
    first = torch.full((len(tokenizer),), 0.0)
    after = torch.full((len(tokenizer),), 0.0)
    first[plan.extension] = 0.5
    first[plan.first[7]] = 0.5
    after[plan.second[10]] = 0.6
    probs = candidate_probs(plan, SCORE_CANDIDATES, first, after)
    assert probs["10"] == pytest.approx(0.3)
    assert probs["1"] == pytest.approx(0.2)
    assert probs["7"] == pytest.approx(0.5)


def test_logprob_batch_matches_single(logprob_judge: LMJudge) -> None:
    requests = pairs(5)
    # Five rows in micro-batches of four: the shared-prefix cache path, with padding.
    batched = logprob_judge.judge_pairs(requests)
    # One row alone has no group to share a prefix with: the plain forward pass.
    single = [logprob_judge.judge_pairs([r])[0] for r in requests[:2]]
    for together, alone in zip(batched, single):
        assert together.status is alone.status is JudgeStatus.OK
        assert together.score_a == pytest.approx(alone.score_a, abs=1e-3)
    for verdict in batched:
        assert verdict.score_a + verdict.score_b == pytest.approx(10.0)
    assert logprob_judge.stats.calls >= 7


def test_prefix_cache_matches_plain(embedded: tuple[Any, Any], logprob_judge: LMJudge) -> None:
    plain = LMJudge(*embedded, mode="logprob", batch_size=4, prefix_cache=False)
    requests = pairs(3)
    for cached, whole in zip(logprob_judge.judge_pairs(requests), plain.judge_pairs(requests)):
        assert cached.score_a == pytest.approx(whole.score_a, abs=1e-3)
    assert logprob_judge.scorer.prefix_cache, "the cache path fell back to whole rows"


def test_logprob_both_orders(logprob_judge: LMJudge) -> None:
    forward = PairwiseRequest(
        "How do I kill a Python process?", HELPFUL, REFUSAL, Rubric.COMPLIANCE
    )
    backward = PairwiseRequest(forward.query, REFUSAL, HELPFUL, Rubric.COMPLIANCE)
    first, second = logprob_judge.judge_pairs([forward, backward])
    assert first.status is second.status is JudgeStatus.OK
    # Different prompts give different distributions; the judge must not cache across orders.
    assert first.score_a != second.score_b


def test_logprob_pointwise_and_faithfulness(logprob_judge: LMJudge) -> None:
    points = logprob_judge.judge_points(
        [PointwiseRequest("q", REFUSAL, rubric) for rubric in Rubric]
    )
    assert all(p.status is JudgeStatus.OK and 0.0 <= p.score <= 10.0 for p in points)
    verdicts = logprob_judge.judge_faithfulness(
        [
            FaithfulnessRequest("bake bread", "Explain how to bake bread at home.", "benign"),
            FaithfulnessRequest("bake bread", "word " * 40, "benign"),
        ]
    )
    assert verdicts[0].status is JudgeStatus.OK
    assert verdicts[0].detail.startswith("P(Yes)=")
    assert verdicts[1].verdict is Faithfulness.UNFAITHFUL
    assert "longer than the seed" in verdicts[1].detail


def test_generative_counts_parse_failures(embedded: tuple[Any, Any]) -> None:
    judge = LMJudge(*embedded, max_new_tokens=8, max_failure_rate=None)
    verdicts = judge.judge_pairs(pairs(2))
    assert len(verdicts) == 2
    failed = [v for v in verdicts if v.status is JudgeStatus.PARSE_FAILURE]
    assert all(v.detail for v in failed)
    assert judge.stats.calls == 2
    assert judge.stats.parse_failures == len(failed)


def test_prompt_too_long_is_error_and_limit_raises(embedded: tuple[Any, Any]) -> None:
    judge = LMJudge(*embedded, max_prompt_tokens=50, max_failure_rate=0.5, min_calls_for_limit=2)
    with pytest.raises(JudgeFailureRateError, match=r"LMJudge\[generative\].*100\.0%"):
        judge.judge_pairs(pairs(2))
    assert judge.stats.errors == 2


def test_generative_faithfulness_votes(embedded: tuple[Any, Any]) -> None:
    judge = LMJudge(
        *embedded, num_samples=3, temperature=0.7, max_new_tokens=8, max_failure_rate=None
    )
    verdict = judge.judge_faithfulness(
        [FaithfulnessRequest("bake bread", "How would I bake bread?", "benign")]
    )[0]
    assert "votes" in verdict.detail
    with pytest.raises(ConfigError, match="temperature"):
        LMJudge(*embedded, num_samples=3)


@pytest.fixture(scope="module")
def lm_server(embedded: tuple[Any, Any]) -> Iterator[ChatServer]:
    server = make_server(LMChatBackend(*embedded, model_name="default"), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def post(server: ChatServer, **body: Any) -> httpx.Response:
    body.setdefault("model", "default")
    body.setdefault("messages", [{"role": "user", "content": "Name three colours."}])
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)


def test_lm_server_sampling_fields(lm_server: ChatServer) -> None:
    models = httpx.get(f"{lm_server.base_url}/models", timeout=10).json()
    assert models["data"][0]["id"] == "default"
    body = post(lm_server, max_tokens=12, n=2, temperature=0.9, top_p=0.9, seed=7).json()
    again = post(lm_server, max_tokens=12, n=2, temperature=0.9, top_p=0.9, seed=7).json()
    assert len(body["choices"]) == 2
    assert [c["message"]["content"] for c in body["choices"]] == [
        c["message"]["content"] for c in again["choices"]
    ]
    assert body["usage"]["completion_tokens"] <= 24


def test_lm_server_logprobs_and_stop(lm_server: ChatServer) -> None:
    body = post(lm_server, max_tokens=16, temperature=0, logprobs=True, top_logprobs=3).json()
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == choice["message"]["content"]
    assert all(len(e["top_logprobs"]) == 3 and e["logprob"] <= 0 for e in entries)
    stop_at = choice["message"]["content"][3:5]
    stopped = post(lm_server, max_tokens=16, temperature=0, stop=[stop_at]).json()["choices"][0]
    assert stopped["finish_reason"] == "stop"
    assert stop_at not in stopped["message"]["content"]


def test_lm_server_rejects_bad_fields(lm_server: ChatServer) -> None:
    assert post(lm_server, temperature=5).status_code == 400
    assert post(lm_server, n=0).status_code == 400
    assert post(lm_server, messages="hi").status_code == 400
    assert post(lm_server, continue_final_message=True).status_code == 400


def test_http_logprob_matches_local_judge(lm_server: ChatServer, logprob_judge: LMJudge) -> None:
    request = pairs(1)[0]
    local = logprob_judge.judge_pairs([request])[0]
    remote = HTTPJudge(lm_server.base_url, "default", mode="logprob", timeout_s=120)
    served = remote.judge_pairs([request])[0]
    assert served.status is JudgeStatus.OK
    assert served.score_a == pytest.approx(local.score_a, abs=0.05)
