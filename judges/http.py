"""A judge that asks an OpenAI-compatible chat server: vLLM, llama.cpp's server, hosted
providers, or ``advgame serve``.

Every judgment is one ``POST {base_url}/chat/completions``. Transport behaviour (retries,
backoff, cache, concurrency bound, API key) is described in
:mod:`advgame.judges.http_client`.

Statuses of failed verdicts:

* ERROR: no usable answer from the server: a request that still failed after its retries
  (timeouts, connection errors, 429, 5xx, bodies that are not JSON or have no ``choices``),
  a 4xx other than 429, a body without ``message.content`` in generative mode, or without
  ``logprobs`` in log-probability mode. These are faults of the server or its
  configuration.
* PARSE_FAILURE: the server answered, but the judge model did not write its verdict in the
  expected form (tags missing, a score outside [0, 10], no answer candidate among the
  returned top log-probabilities). These are faults of the judge model or its prompt.

Log-probability mode needs a server that returns ``logprobs`` with ``top_logprobs``. With
``prefill=True`` (default) the opening answer tag is sent as a final assistant message with
``continue_final_message: true`` and ``add_generation_prompt: false`` (request fields that
vLLM and ``advgame serve`` accept), and the answer is the first generated token. Servers
that ignore those fields, or ``prefill=False``, make the model write the tag itself; the
judge then finds the tag in the returned tokens and reads the position after it.

Example:
    >>> judge = HTTPJudge("http://127.0.0.1:8000/v1", "judge")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

from advgame.errors import ConfigError
from advgame.judges.base import JudgeStatus
from advgame.judges.chat import DEFAULT_MAX_FIELD_CHARS, BackendFailure, ChatJudge, ChatPrompt
from advgame.judges.http_client import ChatClient, RequestFailure
from advgame.judges.parsing import merge_candidate_probs
from advgame.judges.prompts import JudgeMode, JudgeTemplates

DEFAULT_API_KEY_ENV = "ADVGAME_JUDGE_API_KEY"


def _failure(outcome: RequestFailure) -> BackendFailure:
    detail = f"{outcome.detail} ({outcome.cause}, {outcome.attempts} attempts)"
    return BackendFailure(JudgeStatus.ERROR, detail)


def message_content(body: Mapping[str, Any]) -> str | BackendFailure:
    """Return ``choices[0].message.content`` of a chat completion body."""
    message = body["choices"][0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        return BackendFailure(
            JudgeStatus.ERROR, "malformed response body: no choices[0].message.content string"
        )
    return content


def _top_probs(position: Mapping[str, Any]) -> dict[str, float]:
    probs: dict[str, float] = {}
    top = position.get("top_logprobs")
    entries = list(top) if isinstance(top, list) else []
    entries.append({"token": position.get("token"), "logprob": position.get("logprob")})
    for entry in entries:
        # A server may send entries of other types or non-finite numbers; they carry no
        # probability, so they are skipped rather than read as certain.
        if not isinstance(entry, dict):
            continue
        token, logprob = entry.get("token"), entry.get("logprob")
        if isinstance(token, str) and _finite_number(logprob):
            probs[token] = math.exp(min(0.0, float(logprob)))
    return probs


def _finite_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def answer_distribution(
    body: Mapping[str, Any], answer_prefix: str, candidates: tuple[str, ...], prefilled: bool
) -> dict[str, float] | BackendFailure:
    """Return the probability of each candidate at the answer position of a chat
    completion body with ``logprobs``.

    The answer position follows the first occurrence of ``answer_prefix`` in the returned
    tokens; when the prefix is absent and the request was prefilled, it is the first token.
    Two-token ``"10"`` (``"1"`` then ``"0"``) is read from the next position only when the
    model actually wrote ``"1"`` there.
    """
    logprobs = body["choices"][0].get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        return BackendFailure(
            JudgeStatus.ERROR,
            "response has no logprobs.content; the server may not return log-probabilities, "
            "use mode='generative'",
        )
    if not all(isinstance(entry, dict) for entry in content):
        return BackendFailure(
            JudgeStatus.ERROR, "malformed response body: logprobs.content holds a non-object"
        )
    position = None
    text = ""
    for index, entry in enumerate(content):
        if text.rstrip().endswith(answer_prefix):
            position = index
            break
        text += str(entry.get("token", ""))
    if position is None and prefilled and answer_prefix not in text:
        position = 0
    if position is None:
        return BackendFailure(
            JudgeStatus.PARSE_FAILURE,
            f"answer tag {answer_prefix!r} not found in the {len(content)} returned tokens",
        )
    first = _top_probs(content[position])
    probs = merge_candidate_probs(first, candidates)
    wrote_one = str(content[position].get("token", "")).strip() == "1"
    # NOTE: when the model did not write "1" first, P(10) stays 0 and its mass counts for
    # "1", because the server returns the next position only along the written path.
    if "10" in candidates and probs["10"] == 0.0 and wrote_one and position + 1 < len(content):
        after = merge_candidate_probs(_top_probs(content[position + 1]), ("0",))["0"]
        probs["10"] = probs["1"] * after
        probs["1"] *= 1.0 - after
    return probs


class HTTPJudge(ChatJudge):
    """Judge that sends each prompt to an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: server root including the API version, such as
            ``"http://127.0.0.1:8000/v1"``.
        model: the model name the server expects in the ``model`` field.
        mode: ``"generative"`` or ``"logprob"``.
        api_key_env: environment variable holding the API key (never logged).
        timeout_s: limit of each connect, read and write, and of a whole attempt, in seconds.
        max_retries: retries after the first attempt of a request.
        backoff_s: wait before the first retry; doubles per retry.
        max_backoff_s: cap of one wait, also of a server's ``Retry-After``.
        max_concurrency: requests in flight at once.
        cache: answer repeated requests from memory.
        cache_dir: also keep responses in this folder across runs.
        temperature: sampling temperature of generative judgments.
        top_p: nucleus mass of generative judgments.
        max_tokens: token limit of a generative judgment.
        top_logprobs: alternatives per position in log-probability mode (OpenAI allows 20).
        prefill: send the opening answer tag as a final assistant message in
            log-probability mode (see the module docstring).
        extra_body: extra request fields, merged into every body (for example
            ``{"chat_template_kwargs": {...}}`` for vLLM).
        templates: prompt templates of ``mode``.
        num_samples: faithfulness samples per attack (majority vote); each sample is a
            separate request with ``seed`` set to the sample index.
        max_field_chars: see :class:`~advgame.judges.chat.ChatJudge`.
        max_failure_rate: see :class:`~advgame.judges.base.Judge`.
        min_calls_for_limit: see :class:`~advgame.judges.base.Judge`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        mode: JudgeMode = "generative",
        api_key_env: str = DEFAULT_API_KEY_ENV,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_concurrency: int = 8,
        cache: bool = True,
        cache_dir: str | Path | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 512,
        top_logprobs: int = 20,
        prefill: bool = True,
        extra_body: Mapping[str, Any] | None = None,
        templates: JudgeTemplates | None = None,
        num_samples: int = 1,
        max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
        max_failure_rate: float | None = 0.2,
        min_calls_for_limit: int = 20,
    ) -> None:
        super().__init__(
            mode=mode,
            templates=templates,
            num_samples=num_samples,
            max_field_chars=max_field_chars,
            max_failure_rate=max_failure_rate,
            min_calls_for_limit=min_calls_for_limit,
        )
        if not isinstance(model, str) or not model:
            raise ConfigError(f"Expects model to be a non-empty string, actual: {model!r}")
        if num_samples > 1 and temperature == 0:
            raise ConfigError(
                f"num_samples={num_samples} with temperature=0 asks for identical samples; "
                "set temperature > 0 (for example 0.7) or num_samples=1"
            )
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigError(f"Expects max_tokens to be a positive int, actual: {max_tokens!r}")
        if not isinstance(top_logprobs, int) or not 2 <= top_logprobs <= 20:
            raise ConfigError(f"Expects top_logprobs in [2, 20], actual: {top_logprobs!r}")
        self.client = ChatClient(
            base_url,
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            max_concurrency=max_concurrency,
            cache=cache,
            cache_dir=cache_dir,
        )
        self.model = model
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.max_tokens = max_tokens
        self.top_logprobs = top_logprobs
        self.prefill = prefill
        self.extra_body = dict(extra_body or {})

    @property
    def name(self) -> str:
        return f"HTTPJudge[{self.mode}]"

    @property
    def transport_stats(self):
        """Retry, cache and failure counts of the transport."""
        return self.client.stats

    def metrics(self) -> dict[str, float]:
        """Return verdict counts and transport counts under ``judge/``."""
        return {**self.stats.as_metrics("judge/"), **self.client.stats.as_metrics()}

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def _body(self, prompt: ChatPrompt, **fields: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": prompt.as_dicts(), **fields, **self.extra_body}

    def _generate(
        self, prompts: list[ChatPrompt], num_samples: int
    ) -> list[list[str] | BackendFailure]:
        bodies = []
        for prompt in prompts:
            for sample in range(num_samples):
                fields: dict[str, Any] = {
                    "temperature": self.temperature,
                    "top_p": self.top_p,
                    "max_tokens": self.max_tokens,
                }
                if num_samples > 1:
                    fields["seed"] = sample
                bodies.append(self._body(prompt, **fields))
        outcomes = self.client.post_many(bodies)
        results: list[list[str] | BackendFailure] = []
        for index in range(len(prompts)):
            texts: list[str] = []
            failure: BackendFailure | None = None
            for outcome in outcomes[index * num_samples : (index + 1) * num_samples]:
                content = (
                    _failure(outcome)
                    if isinstance(outcome, RequestFailure)
                    else message_content(outcome)
                )
                if isinstance(content, BackendFailure):
                    failure = failure or content
                else:
                    texts.append(content)
            # A sample that failed is left out of the vote; all failed fails the prompt.
            results.append(texts if texts else failure or _no_samples())
        return results

    def _answer_probs(self, prompts: list[ChatPrompt]) -> list[dict[str, float] | BackendFailure]:
        bodies = []
        for prompt in prompts:
            body = self._body(
                prompt,
                temperature=0.0,
                max_tokens=3 if self.prefill else 16,
                logprobs=True,
                top_logprobs=self.top_logprobs,
            )
            if self.prefill:
                body["messages"] = [
                    *body["messages"],
                    {"role": "assistant", "content": prompt.answer_prefix},
                ]
                body.setdefault("continue_final_message", True)
                body.setdefault("add_generation_prompt", False)
            bodies.append(body)
        results: list[dict[str, float] | BackendFailure] = []
        for prompt, outcome in zip(prompts, self.client.post_many(bodies)):
            if isinstance(outcome, RequestFailure):
                results.append(_failure(outcome))
            else:
                results.append(
                    answer_distribution(
                        outcome, prompt.answer_prefix, prompt.candidates, self.prefill
                    )
                )
        return results


def _no_samples() -> BackendFailure:
    return BackendFailure(JudgeStatus.ERROR, "no samples returned")
