"""A judge that runs a local Hugging Face causal LM in-process.

Two modes share one class:

* ``mode="generative"``: the judge model writes a short reasoning, then its verdict in tags
  (see :mod:`advgame.judges.parsing`). Generation is batched and greedy by default.
* ``mode="logprob"``: one forward pass per prompt and no generation. The prompt ends with
  the opening answer tag (``<better>``, ``<score>`` or ``<answer>``) in the assistant turn,
  and the verdict is read from the next-token distribution over the answer candidates.
  When a candidate takes two tokens (``"10"`` is ``"1"``, ``"0"`` in tokenizers that split
  digits), the shared first token is appended to the input, so that the same forward pass
  also returns the distribution after it: ``P(10) = P("1") P("0" | "1")`` and
  ``P(1) = P("1") (1 - P("0" | "1"))``.

These modes are meant for capable judge models (7B to 70B on a GPU). The embedded
SmolLM2-135M-Instruct model runs both modes, but its verdicts carry no judging signal; the
tests use it for mechanics only, and ``benchmarks/judge_bias.py`` measures its agreement
with known labels.

Example:
    >>> judge = LMJudge.from_pretrained("default", mode="logprob")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advgame.errors import ConfigError
from advgame.judges.base import JudgeStatus
from advgame.judges.chat import DEFAULT_MAX_FIELD_CHARS, BackendFailure, ChatJudge, ChatPrompt
from advgame.judges.prompts import JudgeMode, JudgeTemplates

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidatePlan:
    """Token ids that carry each answer candidate after the answer prefix.

    Attributes:
        first: the first token id of each candidate, in candidate order.
        second: for two-token candidates, candidate index -> second token id.
        extension: the first token shared by the two-token candidates; it is appended to
            the input so one forward pass also yields the distribution after it.
    """

    first: tuple[int, ...]
    second: dict[int, int]
    extension: int | None


def plan_candidates(tokenizer: Any, prefix: str, candidates: tuple[str, ...]) -> CandidatePlan:
    """Find the token ids of ``candidates`` when they follow ``prefix``.

    Raises:
        ConfigError: when a candidate is not a token continuation of the prefix, takes
            more than two tokens, or two candidates cannot be told apart by this scheme.
    """

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False).input_ids)

    prefix_ids = encode(prefix)
    pieces: list[list[int]] = []
    for candidate in candidates:
        ids = encode(prefix + candidate)
        if ids[: len(prefix_ids)] != prefix_ids or len(ids) == len(prefix_ids):
            raise ConfigError(
                f"the tokenizer merges the answer prefix {prefix!r} with the candidate "
                f"{candidate!r}; end the template's answer tag with a character that the "
                "tokenizer keeps separate, such as '>'"
            )
        pieces.append(ids[len(prefix_ids) :])
    if any(len(p) > 2 for p in pieces):
        raise ConfigError(
            f"answer candidates must take at most two tokens after {prefix!r}, actual: "
            f"{dict(zip(candidates, pieces))}"
        )
    shared = {p[0] for p in pieces if len(p) == 2}
    singles = [p[0] for p in pieces if len(p) == 1]
    if len(shared) > 1 or len(set(singles)) != len(singles):
        raise ConfigError(
            f"answer candidates {list(candidates)} cannot be told apart from one forward pass "
            f"with this tokenizer (token ids {pieces}); use single-token candidates"
        )
    second = {i: p[1] for i, p in enumerate(pieces) if len(p) == 2}
    return CandidatePlan(tuple(p[0] for p in pieces), second, next(iter(shared), None))


def candidate_probs(
    plan: CandidatePlan, candidates: tuple[str, ...], first: Any, after: Any | None
) -> dict[str, float]:
    """Combine the next-token probabilities ``first`` (and ``after``, the distribution after
    the shared first token) into one probability per candidate."""
    continued = sum(float(after[t]) for t in plan.second.values()) if after is not None else 0.0
    probs: dict[str, float] = {}
    for index, candidate in enumerate(candidates):
        p_first = float(first[plan.first[index]])
        if index in plan.second:
            assert after is not None
            probs[candidate] = p_first * float(after[plan.second[index]])
        elif plan.first[index] == plan.extension:
            probs[candidate] = p_first * max(0.0, 1.0 - continued)
        else:
            probs[candidate] = p_first
    return probs


class LMJudge(ChatJudge):
    """Judge backed by a local causal LM; see the module docstring for the two modes.

    Args:
        model: a loaded ``transformers`` causal LM.
        tokenizer: its tokenizer, with a chat template.
        mode: ``"generative"`` or ``"logprob"``.
        templates: prompt templates of ``mode``; default ones when ``None``.
        batch_size: prompts per generation or forward-pass micro-batch.
        max_new_tokens: token limit of a generative judgment; an output cut at the limit
            without its score tags is a parse failure.
        temperature: sampling temperature in generative mode; 0 is greedy.
        top_p: nucleus mass in generative mode when ``temperature > 0``.
        num_samples: faithfulness samples per attack (majority vote); needs
            ``temperature > 0``.
        max_prompt_tokens: prompts longer than this get an ERROR verdict; default the
            model's context length minus ``max_new_tokens``.
        seed: base seed of generative sampling; each call uses the next seed.
        max_field_chars: see :class:`~advgame.judges.chat.ChatJudge`.
        max_failure_rate: see :class:`~advgame.judges.base.Judge`.
        min_calls_for_limit: see :class:`~advgame.judges.base.Judge`.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        mode: JudgeMode = "generative",
        templates: JudgeTemplates | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 384,
        temperature: float = 0.0,
        top_p: float = 1.0,
        num_samples: int = 1,
        max_prompt_tokens: int | None = None,
        seed: int = 0,
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
        from advgame.agents.sampling import SamplingConfig

        if num_samples > 1 and temperature == 0:
            raise ConfigError(
                f"num_samples={num_samples} with temperature=0 repeats one greedy output; "
                "set temperature > 0 (for example 0.7) or num_samples=1"
            )
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                "Expects a tokenizer with a chat template, actual: none; use an instruction "
                "model, or set tokenizer.chat_template"
            )
        self.sampling = SamplingConfig(
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        )
        context = getattr(model.config, "max_position_embeddings", None) or 4096
        self.max_prompt_tokens = max_prompt_tokens or max(1, context - max_new_tokens)
        self.model = model
        self.tokenizer = tokenizer
        self.seed = seed
        self._generate_calls = 0
        self._plans: dict[tuple[str, tuple[str, ...]], CandidatePlan] = {}
        self._keep_logits = True

    @classmethod
    def from_pretrained(
        cls, model: str | Path = "default", *, device: str = "cpu", dtype: Any = None, **kwargs: Any
    ) -> LMJudge:
        """Load ``model`` (``"default"`` or a local Hugging Face folder) and build a judge;
        ``kwargs`` go to :class:`LMJudge`."""
        from advgame.agents.models import load_causal_lm

        lm, tokenizer = load_causal_lm(model, dtype=dtype, device=device)
        lm.eval()
        return cls(lm, tokenizer, **kwargs)

    @property
    def name(self) -> str:
        return f"LMJudge[{self.mode}]"

    # --- prompts ---------------------------------------------------------------------------

    def prompt_ids(self, prompt: ChatPrompt) -> list[int]:
        """Return the token ids of ``prompt``: chat template, assistant header, answer prefix."""
        messages = prompt.as_dicts()
        try:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        except Exception:
            merged = [
                {
                    "role": "user",
                    "content": messages[0]["content"] + "\n\n" + messages[1]["content"],
                }
            ]
            text = self.tokenizer.apply_chat_template(
                merged, tokenize=False, add_generation_prompt=True
            )
        return list(self.tokenizer(text + prompt.answer_prefix, add_special_tokens=False).input_ids)

    def _too_long(self, ids: list[int]) -> BackendFailure | None:
        if len(ids) <= self.max_prompt_tokens:
            return None
        return BackendFailure(
            JudgeStatus.ERROR,
            f"judge prompt has {len(ids)} tokens, above max_prompt_tokens={self.max_prompt_tokens}",
        )

    # --- generative mode -------------------------------------------------------------------

    def _generate(
        self, prompts: list[ChatPrompt], num_samples: int
    ) -> list[list[str] | BackendFailure]:
        from advgame.agents.backends import HFBackend

        results: list[list[str] | BackendFailure] = []
        ids = [self.prompt_ids(p) for p in prompts]
        runnable = [i for i, row in enumerate(ids) if self._too_long(row) is None]
        backend = HFBackend(self.model, self.tokenizer)
        seed = self.seed + self._generate_calls
        self._generate_calls += 1
        completions = backend.generate([ids[i] for i in runnable], num_samples, self.sampling, seed)
        by_index = dict(zip(runnable, completions))
        for index, row in enumerate(ids):
            failure = self._too_long(row)
            if failure is not None:
                results.append(failure)
                continue
            samples = by_index[index]
            cut = sum(c.truncated for c in samples)
            if cut:
                logger.debug(
                    "judge output hit max_new_tokens in %d of %d samples", cut, len(samples)
                )
            results.append([c.text for c in samples])
        return results

    # --- log-probability mode --------------------------------------------------------------

    def _plan(self, prompt: ChatPrompt) -> CandidatePlan:
        key = (prompt.answer_prefix, prompt.candidates)
        if key not in self._plans:
            self._plans[key] = plan_candidates(self.tokenizer, *key)
        return self._plans[key]

    def _last_logits(self, input_ids: Any, mask: Any, positions: Any) -> Any:
        """Return the logits of the last two positions, (B, 2, V)."""
        inputs = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions}
        if self._keep_logits:
            try:
                # Projecting only two positions onto the vocabulary saves the output layer's
                # work for the whole prompt.
                return self.model(**inputs, logits_to_keep=2).logits[:, -2:]
            except TypeError:
                self._keep_logits = False
        return self.model(**inputs).logits[:, -2:]

    def _answer_probs(self, prompts: list[ChatPrompt]) -> list[dict[str, float] | BackendFailure]:
        import torch

        from advgame.agents.backends import left_pad

        rows: list[list[int]] = []
        plans: list[CandidatePlan] = []
        results: list[dict[str, float] | BackendFailure | None] = [None] * len(prompts)
        for index, prompt in enumerate(prompts):
            plan = self._plan(prompt)
            ids = self.prompt_ids(prompt)
            failure = self._too_long(ids)
            if failure is not None:
                results[index] = failure
            plans.append(plan)
            rows.append(ids + ([plan.extension] if plan.extension is not None else []))

        todo = sorted((i for i, r in enumerate(results) if r is None), key=lambda i: len(rows[i]))
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(todo), self.sampling.batch_size):
                chunk = todo[start : start + self.sampling.batch_size]
                input_ids, mask = left_pad([rows[i] for i in chunk], pad_id, device)
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                logits = self._last_logits(input_ids, mask, positions)  # (B, 2, V)
                probs = torch.softmax(logits.float(), dim=-1).cpu()  # (B, 2, V)
                for row, index in enumerate(chunk):
                    plan = plans[index]
                    if plan.extension is None:
                        first, after = probs[row, -1], None
                    else:
                        first, after = probs[row, -2], probs[row, -1]
                    results[index] = candidate_probs(plan, prompts[index].candidates, first, after)
        if was_training:
            self.model.train()
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]
