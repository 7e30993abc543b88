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
SmolLM2-135M-Instruct model runs both modes, but its verdicts carry no judging signal. The
tests use it for mechanics only, and ``benchmarks/judge_bias.py`` measures its agreement
with known labels.

Example:
    >>> judge = LMJudge.from_pretrained("default", mode="logprob")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from advgame.errors import ConfigError
from advgame.judges.base import JudgeStatus
from advgame.judges.chat import DEFAULT_MAX_FIELD_CHARS, BackendFailure, ChatJudge, ChatPrompt
from advgame.judges.lm_scoring import (
    CandidatePlan,
    NextTokenScorer,
    candidate_probs,
    plan_candidates,
)
from advgame.judges.prompts import JudgeMode, JudgeTemplates

logger = logging.getLogger(__name__)


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
        prefix_cache: in log-probability mode, run the token prefix that a group of prompts
            shares once and reuse its key-value cache (see
            :class:`~advgame.judges.lm_scoring.NextTokenScorer`).
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
        prefix_cache: bool = True,
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
        self.scorer = NextTokenScorer(model, tokenizer, batch_size, prefix_cache=prefix_cache)

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

    def _answer_probs(self, prompts: list[ChatPrompt]) -> list[dict[str, float] | BackendFailure]:
        rows: list[list[int]] = []
        plans: list[CandidatePlan] = []
        results: list[dict[str, float] | BackendFailure | None] = [None] * len(prompts)
        for index, prompt in enumerate(prompts):
            plan = self._plan(prompt)
            ids = self.prompt_ids(prompt)
            results[index] = self._too_long(ids)
            plans.append(plan)
            rows.append(ids + ([plan.extension] if plan.extension is not None else []))

        todo = [i for i, r in enumerate(results) if r is None]
        was_training = self.model.training
        self.model.eval()
        distributions = self.scorer.last_two_probs([rows[i] for i in todo])
        if was_training:
            self.model.train()
        for index, (second_last, last) in zip(todo, distributions):
            plan = plans[index]
            first, after = (last, None) if plan.extension is None else (second_last, last)
            results[index] = candidate_probs(plan, prompts[index].candidates, first, after)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]
