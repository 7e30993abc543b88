"""Serving an advgame judge behind the OpenAI chat API (``advgame serve --judge ...``).

:class:`JudgeChatBackend` recognises advgame's judge prompts (the default generative and
log-probability templates, or templates you pass), scores the texts inside them with one of
advgame's own judges, and answers in the form the HTTP judge parses:

* generative templates: ``<score>7.00</score>``, ``<score_a>..</score_a><score_b>..</score_b>``
  or ``<verdict>yes</verdict>``;
* log-probability templates: the answer token with ``logprobs``, whose top alternatives carry
  the judge's verdict: pairwise ``P(A) = s_a / (s_a + s_b)``; pointwise the score split over
  its two neighbouring integers so that the expected score is exact; faithfulness ``Yes`` or
  ``No`` with probability 1 (both 0.5 when UNDETERMINED).

Several trainers can then share one judge process. A prompt that matches no template is
answered with HTTP 400; a failed inner verdict is answered without tags, which the client
counts as a parse failure.
"""

from __future__ import annotations

import math
import re
import string
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from advgame.judges.base import (
    Faithfulness,
    FaithfulnessJudge,
    FaithfulnessRequest,
    Judge,
    JudgeStatus,
    PairwiseJudge,
    PairwiseRequest,
    PointwiseJudge,
    PointwiseRequest,
)
from advgame.judges.prompts import JudgeTemplates, PromptTemplate, default_templates
from advgame.judges.rubrics import Rubric

# Log-probability that stands for "impossible" in responses; JSON has no infinity.
IMPOSSIBLE_LOGPROB = -100.0


class RequestError(Exception):
    """A request the backend rejects; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RecognizedPrompt:
    """A judge prompt taken apart: which template produced it and the texts inside."""

    kind: str
    key: str
    mode: str
    template: PromptTemplate
    fields: dict[str, str]
    prefilled: bool


def template_pattern(template: PromptTemplate) -> re.Pattern[str]:
    """Return a regex that matches rendered user turns of ``template`` and captures each
    slot."""
    parts = [r"\A"]
    for literal, name, _, _ in string.Formatter().parse(template.user):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>.*?)")
    parts.append(r"\Z")
    return re.compile("".join(parts), re.S)


class TemplateMatcher:
    """Finds which judge template rendered a list of chat messages."""

    def __init__(self, template_sets: Sequence[JudgeTemplates] | None = None) -> None:
        sets = (
            template_sets
            if template_sets is not None
            else [default_templates("generative"), default_templates("logprob")]
        )
        self.entries = [
            (templates.mode, kind, key, template, template_pattern(template))
            for templates in sets
            for kind, key, template in templates.all()
        ]

    def match(self, messages: Sequence[dict[str, Any]]) -> RecognizedPrompt | None:
        """Return the recognised prompt, or ``None`` when no template fits."""
        turns = [(m.get("role"), m.get("content")) for m in messages]
        prefill = None
        if turns and turns[-1][0] == "assistant":
            prefill = turns[-1][1]
            turns = turns[:-1]
        if len(turns) != 2 or turns[0][0] != "system" or turns[1][0] != "user":
            return None
        system, user = turns[0][1], turns[1][1]
        if not isinstance(system, str) or not isinstance(user, str):
            return None
        for mode, kind, key, template, pattern in self.entries:
            if template.system != system:
                continue
            found = pattern.match(user)
            if found is None:
                continue
            if prefill is not None and prefill != template.answer_prefix:
                continue
            return RecognizedPrompt(
                kind, key, mode, template, found.groupdict(), prefill is not None
            )
        return None


def _token_entry(token: str, logprob: float, alternatives: list[tuple[str, float]]) -> dict:
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alternatives
        ],
    }


def _log(p: float) -> float:
    return math.log(p) if p > 0 else IMPOSSIBLE_LOGPROB


class JudgeChatBackend:
    """Answers chat completion requests that carry advgame judge prompts.

    Args:
        judge: the judge that scores recognised prompts; its failure-rate limit should be
            off (``max_failure_rate=None``) so that the server keeps running.
        model_name: the name reported by ``/v1/models`` and in responses.
        template_sets: the templates to recognise; default both default sets.
    """

    def __init__(
        self,
        judge: Judge,
        model_name: str = "advgame-judge",
        template_sets: Sequence[JudgeTemplates] | None = None,
    ) -> None:
        self.judge = judge
        self.model_name = model_name
        self.matcher = TemplateMatcher(template_sets)
        self._lock = threading.Lock()

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """Return the chat completion body for ``request``; raises :class:`RequestError`."""
        messages = request.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise RequestError(400, "Expects 'messages' to be a list of message objects")
        prompt = self.matcher.match(messages)
        if prompt is None:
            raise RequestError(
                400,
                "the messages match no advgame judge template; this server only scores "
                "prompts written by advgame's HTTPJudge",
            )
        with self._lock:
            outcome = self._score(prompt)
        n = request.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 16:
            raise RequestError(400, f"Expects 'n' in [1, 16], actual: {n!r}")
        if isinstance(outcome, str):
            choice: dict[str, Any] = {"message": {"role": "assistant", "content": outcome}}
            choice["logprobs"] = None
        else:
            choice = self._logprob_choice(prompt, outcome, request)
        choices = [{"index": i, **choice, "finish_reason": "stop"} for i in range(n)]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def _score(self, prompt: RecognizedPrompt) -> str | dict[str, float]:
        """Return tagged text (generative) or candidate probabilities (log-probability)."""
        if prompt.kind == "faithfulness":
            return self._score_faithfulness(prompt)
        if prompt.kind == "pairwise":
            return self._score_pair(prompt)
        return self._score_point(prompt)

    def _score_faithfulness(self, prompt: RecognizedPrompt) -> str | dict[str, float]:
        judge = self.judge
        if not isinstance(judge, FaithfulnessJudge):
            raise RequestError(400, f"the served judge {judge.name} does not judge faithfulness")
        request = FaithfulnessRequest(prompt.fields["seed"], prompt.fields["attack"], prompt.key)
        verdict = judge.judge_faithfulness([request])[0]
        if verdict.status is not JudgeStatus.OK:
            return self._failed(verdict.status, verdict.detail)

        p_yes = {Faithfulness.FAITHFUL: 1.0, Faithfulness.UNFAITHFUL: 0.0}.get(verdict.verdict, 0.5)
        if prompt.mode == "generative":
            word = {1.0: "yes", 0.0: "no"}.get(p_yes, "undetermined")
            return f"Decided by {judge.name}.\n<verdict>{word}</verdict>"
        return {"Yes": p_yes, "No": 1.0 - p_yes}

    def _score_pair(self, prompt: RecognizedPrompt) -> str | dict[str, float]:
        scores = self._pair_scores(prompt.fields, Rubric(prompt.key))
        if isinstance(scores, str):
            return scores

        score_a, score_b = scores
        if prompt.mode == "generative":
            return (
                f"Scored by {self.judge.name}.\n"
                f"<score_a>{score_a:.2f}</score_a><score_b>{score_b:.2f}</score_b>"
            )
        total = score_a + score_b
        p_a = score_a / total if total > 0 else 0.5
        return {"A": p_a, "B": 1.0 - p_a}

    def _score_point(self, prompt: RecognizedPrompt) -> str | dict[str, float]:
        judge = self.judge
        if not isinstance(judge, PointwiseJudge):
            raise RequestError(
                400, f"the served judge {judge.name} does not score single responses"
            )
        request = PointwiseRequest(
            prompt.fields["query"], prompt.fields["response"], Rubric(prompt.key)
        )
        verdict = judge.judge_points([request])[0]
        if verdict.status is not JudgeStatus.OK or verdict.score is None:
            return self._failed(verdict.status, verdict.detail)

        if prompt.mode == "generative":
            return f"Scored by {judge.name}.\n<score>{verdict.score:.2f}</score>"
        # Splitting the score over its two neighbouring integers keeps the expectation exact.
        low = math.floor(verdict.score)
        probs = {str(k): 0.0 for k in range(11)}
        probs[str(low)] = 1.0 - (verdict.score - low)
        if low < 10:
            probs[str(low + 1)] = verdict.score - low
        return probs

    def _pair_scores(self, fields: dict[str, str], rubric: Rubric) -> tuple[float, float] | str:
        judge = self.judge
        query, a, b = fields["query"], fields["response_a"], fields["response_b"]
        if isinstance(judge, PairwiseJudge):
            verdict = judge.judge_pairs([PairwiseRequest(query, a, b, rubric)])[0]
            if verdict.status is not JudgeStatus.OK:
                return self._failed(verdict.status, verdict.detail)
            assert verdict.score_a is not None and verdict.score_b is not None
            return verdict.score_a, verdict.score_b
        if isinstance(judge, PointwiseJudge):
            points = judge.judge_points(
                [PointwiseRequest(query, a, rubric), PointwiseRequest(query, b, rubric)]
            )
            for point in points:
                if point.status is not JudgeStatus.OK:
                    return self._failed(point.status, point.detail)
            assert points[0].score is not None and points[1].score is not None
            return points[0].score, points[1].score
        raise RequestError(400, f"the served judge {judge.name} does not score responses")

    def _failed(self, status: JudgeStatus, detail: str) -> str:
        return (
            f"The judge {self.judge.name} could not score this request ({status.value}: {detail})."
        )

    def _logprob_choice(
        self, prompt: RecognizedPrompt, probs: dict[str, float], request: dict[str, Any]
    ) -> dict[str, Any]:
        ranked = sorted(probs.items(), key=lambda item: -item[1])
        top_k = request.get("top_logprobs") or 0
        if not isinstance(top_k, int) or not 0 <= top_k <= 20:
            raise RequestError(400, f"Expects 'top_logprobs' in [0, 20], actual: {top_k!r}")
        alternatives = [(token, _log(p)) for token, p in ranked[:top_k]]
        answer, p_answer = ranked[0]
        closing = f"</{prompt.template.answer_tag}>"
        tokens = [_token_entry(answer, _log(p_answer), alternatives)]
        tokens.append(_token_entry(closing, 0.0, [(closing, 0.0)][:top_k]))
        content = answer + closing
        if not prompt.prefilled:
            opening = prompt.template.answer_prefix
            tokens.insert(0, _token_entry(opening, 0.0, [(opening, 0.0)][:top_k]))
            content = opening + content
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": content}}
        choice["logprobs"] = {"content": tokens} if request.get("logprobs") else None
        return choice
