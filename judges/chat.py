"""The common core of LM judges: prompts in, chat model out, verdicts back.

:class:`ChatJudge` renders every request with a :class:`~advgame.judges.prompts.PromptTemplate`,
hands the whole batch to its backend, and turns the outputs into verdicts with
:mod:`advgame.judges.parsing`. A backend implements two methods:

* ``_generate(prompts, num_samples)`` for generative mode: the judge's text outputs;
* ``_answer_probs(prompts)`` for log-probability mode: the probability of each answer
  candidate after the template's answer tag.

Either may return a :class:`BackendFailure` for a single prompt (a timeout, a prompt that is
too long), which becomes a failed verdict with that status. The public ``judge_*`` methods
of :class:`~advgame.judges.base.Judge` count every verdict and enforce
``max_failure_rate``.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from advgame.errors import ConfigError
from advgame.judges.base import (
    Faithfulness,
    FaithfulnessJudge,
    FaithfulnessRequest,
    FaithfulnessVerdict,
    JudgeStatus,
    PairwiseJudge,
    PairwiseRequest,
    PairwiseVerdict,
    PointwiseJudge,
    PointwiseRequest,
    PointwiseVerdict,
    majority_vote,
)
from advgame.judges.parsing import (
    faithfulness_from_probs,
    pairwise_from_probs,
    parse_faithfulness,
    parse_pairwise,
    parse_pointwise,
    pointwise_from_probs,
)
from advgame.judges.prompts import JUDGE_MODES, JudgeMode, JudgeTemplates, default_templates
from advgame.judges.rubrics import BENIGN_MAX_LENGTH_RATIO

logger = logging.getLogger(__name__)

V = TypeVar("V", PairwiseVerdict, PointwiseVerdict, FaithfulnessVerdict)

# Texts longer than this are cut before they go into a judge prompt.
DEFAULT_MAX_FIELD_CHARS = 8000


@dataclass(frozen=True)
class ChatPrompt:
    """One rendered judge prompt.

    Attributes:
        messages: the chat turns (``role`` and ``content``), system turn first.
        answer_prefix: the opening answer tag, after which log-probability mode reads the
            answer token (``""`` in generative mode).
        candidates: the answers whose probabilities log-probability mode returns.
    """

    messages: tuple[tuple[str, str], ...]
    answer_prefix: str = ""
    candidates: tuple[str, ...] = ()

    def as_dicts(self) -> list[dict[str, str]]:
        """Return the messages in the OpenAI and ``transformers`` chat format."""
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True)
class BackendFailure:
    """The failure of a backend on one prompt: its status and a short reason."""

    status: JudgeStatus
    detail: str


def clip_field(text: str, max_chars: int) -> str:
    """Cut ``text`` to ``max_chars`` characters and append a note with the cut length."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[cut by the judge: {len(text) - max_chars} more characters]"


def benign_length_violation(request: FaithfulnessRequest) -> FaithfulnessVerdict | None:
    """Return UNFAITHFUL when a benign rewrite is more than 15 times longer than its seed
    (in characters), else ``None``."""
    if request.label != "benign":
        return None
    limit = BENIGN_MAX_LENGTH_RATIO * len(request.seed)
    if len(request.attack) <= limit:
        return None
    ratio = len(request.attack) / max(1, len(request.seed))
    detail = (
        f"rewrite is {ratio:.1f} times longer than the seed (limit {BENIGN_MAX_LENGTH_RATIO:g})"
    )
    return FaithfulnessVerdict(Faithfulness.UNFAITHFUL, detail=detail)


class ChatJudge(PairwiseJudge, PointwiseJudge, FaithfulnessJudge):
    """Judge that asks a chat model; subclasses supply the model call.

    Args:
        mode: ``"generative"`` (the judge reasons, then writes tagged scores) or
            ``"logprob"`` (one forward pass per prompt; the verdict is read from the answer
            token distribution).
        templates: prompt templates of ``mode``; default :func:`default_templates`.
        num_samples: faithfulness samples per attack, combined by
            :func:`~advgame.judges.base.majority_vote`; needs generative mode with
            sampling (the subclass checks the temperature).
        max_field_chars: each query, response, seed or attack is cut to this many characters
            before it goes into a prompt.
        max_failure_rate: see :class:`~advgame.judges.base.Judge`.
        min_calls_for_limit: see :class:`~advgame.judges.base.Judge`.
    """

    def __init__(
        self,
        *,
        mode: JudgeMode = "generative",
        templates: JudgeTemplates | None = None,
        num_samples: int = 1,
        max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
        max_failure_rate: float | None = 0.2,
        min_calls_for_limit: int = 20,
    ) -> None:
        super().__init__(max_failure_rate=max_failure_rate, min_calls_for_limit=min_calls_for_limit)
        if mode not in JUDGE_MODES:
            raise ConfigError(f"Expects mode in {JUDGE_MODES}, actual: {mode!r}")
        templates = templates if templates is not None else default_templates(mode)
        if not isinstance(templates, JudgeTemplates):
            raise ConfigError(
                f"Expects templates to be a JudgeTemplates, actual: {type(templates).__name__}"
            )
        if templates.mode != mode:
            raise ConfigError(
                f"the templates are for mode {templates.mode!r} but the judge runs in mode "
                f"{mode!r}; pass default_templates({mode!r}) or templates built for {mode!r}"
            )
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise ConfigError(f"Expects num_samples to be a positive int, actual: {num_samples!r}")
        if num_samples > 1 and mode == "logprob":
            raise ConfigError(
                f"num_samples={num_samples} needs mode='generative': log-probability verdicts "
                "are deterministic, so extra samples would repeat the same vote"
            )
        if not isinstance(max_field_chars, int) or max_field_chars < 1:
            raise ConfigError(
                f"Expects max_field_chars to be a positive int, actual: {max_field_chars!r}"
            )
        self.mode: JudgeMode = mode
        self.templates = templates
        self.num_samples = num_samples
        self.max_field_chars = max_field_chars

    # --- backend hooks ---------------------------------------------------------------------

    @abstractmethod
    def _generate(
        self, prompts: list[ChatPrompt], num_samples: int
    ) -> list[list[str] | BackendFailure]:
        """Return ``num_samples`` judge outputs per prompt, or a failure per prompt."""

    @abstractmethod
    def _answer_probs(self, prompts: list[ChatPrompt]) -> list[dict[str, float] | BackendFailure]:
        """Return the probability of each of ``prompt.candidates`` after the answer prefix."""

    # --- rendering -------------------------------------------------------------------------

    def _prompt(
        self, template_messages: list[dict[str, str]], answer_prefix: str, candidates: Sequence[str]
    ) -> ChatPrompt:
        return ChatPrompt(
            tuple((m["role"], m["content"]) for m in template_messages),
            answer_prefix if self.mode == "logprob" else "",
            tuple(candidates) if self.mode == "logprob" else (),
        )

    def render_pair(self, request: PairwiseRequest) -> ChatPrompt:
        """Return the prompt that judges ``request``."""
        template = self.templates.pairwise[request.rubric]
        clip = self.max_field_chars
        messages = template.render(
            query=clip_field(request.query, clip),
            response_a=clip_field(request.response_a, clip),
            response_b=clip_field(request.response_b, clip),
        )
        return self._prompt(messages, template.answer_prefix, template.candidates)

    def render_point(self, request: PointwiseRequest) -> ChatPrompt:
        """Return the prompt that judges ``request``."""
        template = self.templates.pointwise[request.rubric]
        clip = self.max_field_chars
        messages = template.render(
            query=clip_field(request.query, clip), response=clip_field(request.response, clip)
        )
        return self._prompt(messages, template.answer_prefix, template.candidates)

    def render_faithfulness(self, request: FaithfulnessRequest) -> ChatPrompt:
        """Return the prompt that judges ``request``."""
        template = self.templates.faithfulness[request.label]
        clip = self.max_field_chars
        messages = template.render(
            seed=clip_field(request.seed, clip), attack=clip_field(request.attack, clip)
        )
        return self._prompt(messages, template.answer_prefix, template.candidates)

    # --- judging ---------------------------------------------------------------------------

    def _run(
        self,
        prompts: list[ChatPrompt],
        parse_text: Callable[[str], V],
        from_probs: Callable[[dict[str, float]], V],
        failed: Callable[[JudgeStatus, str], V],
    ) -> list[V]:
        verdicts: list[V] = []
        if not prompts:
            return verdicts
        if self.mode == "logprob":
            answers = self._answer_probs(prompts)
            check_outputs(self.name, prompts, answers)
            for probs in answers:
                if isinstance(probs, BackendFailure):
                    verdicts.append(failed(probs.status, probs.detail))
                else:
                    verdicts.append(from_probs(probs))
            return verdicts
        generated = self._generate(prompts, 1)
        check_outputs(self.name, prompts, generated)
        for outputs in generated:
            if isinstance(outputs, BackendFailure):
                verdicts.append(failed(outputs.status, outputs.detail))
            else:
                verdicts.append(parse_text(outputs[0]))
        return verdicts

    def _judge_pairs(self, requests: list[PairwiseRequest]) -> list[PairwiseVerdict]:
        prompts = [self.render_pair(r) for r in requests]
        return self._run(prompts, parse_pairwise, pairwise_from_probs, PairwiseVerdict.failed)

    def _judge_points(self, requests: list[PointwiseRequest]) -> list[PointwiseVerdict]:
        prompts = [self.render_point(r) for r in requests]
        return self._run(prompts, parse_pointwise, pointwise_from_probs, PointwiseVerdict.failed)

    def _judge_faithfulness(self, requests: list[FaithfulnessRequest]) -> list[FaithfulnessVerdict]:
        verdicts: list[FaithfulnessVerdict | None] = [benign_length_violation(r) for r in requests]
        todo = [i for i, v in enumerate(verdicts) if v is None]
        prompts = [self.render_faithfulness(requests[i]) for i in todo]
        if self.mode == "logprob" or self.num_samples == 1:
            judged = self._run(
                prompts, parse_faithfulness, faithfulness_from_probs, FaithfulnessVerdict.failed
            )
        else:
            judged = []
            for outputs in self._generate(prompts, self.num_samples) if prompts else []:
                if isinstance(outputs, BackendFailure):
                    judged.append(FaithfulnessVerdict.failed(outputs.status, outputs.detail))
                else:
                    judged.append(majority_vote([parse_faithfulness(t) for t in outputs]))
        for index, verdict in zip(todo, judged):
            verdicts[index] = verdict
        assert all(v is not None for v in verdicts)
        return [v for v in verdicts if v is not None]


def check_outputs(name: str, prompts: Sequence[ChatPrompt], outputs: Sequence[object]) -> None:
    """Raise when a backend returned a different number of outputs than prompts."""
    if len(outputs) != len(prompts):
        raise RuntimeError(
            f"judge backend {name} returned {len(outputs)} outputs for {len(prompts)} prompts"
        )
