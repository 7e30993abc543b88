"""Sampling and log-probability backends.

Learners never call a model directly: they ask a backend to sample completions and to
score token log-probabilities. :class:`HFBackend` runs a Hugging Face causal LM in-process.
A backend that samples from an OpenAI-compatible server (vLLM, llama.cpp) or from remote
rollout workers implements the same :class:`Backend` protocol; scoring for training stays
on the local model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from advgame.agents.base import Completion
from advgame.agents.sampling import SamplingConfig

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """Samples completions for tokenized prompts and scores token log-probabilities."""

    def generate(
        self,
        prompt_ids: Sequence[Sequence[int]],
        num_samples: int,
        sampling: SamplingConfig,
        seed: int | None = None,
    ) -> list[list[Completion]]: ...

    def token_logprobs(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int = 8,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class HFBackend:
    """In-process backend around a Hugging Face causal LM and its tokenizer.

    Args:
        model: a ``transformers`` causal LM (possibly wrapped by peft).
        tokenizer: its tokenizer; needs an end-of-sequence token.
        autocast: a torch dtype such as ``torch.bfloat16`` to run sampling and scoring under
            ``torch.autocast`` (mixed precision: matrix products in that dtype, weights and
            optimizer states unchanged); ``None`` runs in the model's own dtype.
    """

    def __init__(self, model: Any, tokenizer: Any, autocast: torch.dtype | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.autocast = autocast
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.stop_ids = _stop_token_ids(model, tokenizer)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: Sequence[Sequence[int]],
        num_samples: int,
        sampling: SamplingConfig,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Sample ``num_samples`` completions per prompt in length-sorted micro-batches.

        Log-probabilities are those of the sampled tokens under the model's unscaled
        distribution (temperature 1), which is what training recomputes.
        """
        flat = [list(ids) for ids in prompt_ids for _ in range(num_samples)]
        order = sorted(range(len(flat)), key=lambda i: len(flat[i]))
        results: list[Completion | None] = [None] * len(flat)
        was_training = self.model.training
        self.model.eval()
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            for start in range(0, len(order), sampling.batch_size):
                chunk = order[start : start + sampling.batch_size]
                with self._autocast():
                    batch = self._generate_batch([flat[i] for i in chunk], sampling)
                for index, completion in zip(chunk, batch):
                    results[index] = completion
        if was_training:
            self.model.train()
        done = [c for c in results if c is not None]
        assert len(done) == len(flat)
        return [done[i * num_samples : (i + 1) * num_samples] for i in range(len(prompt_ids))]

    def _autocast(self) -> Any:
        if self.autocast is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast)

    def _generate_batch(
        self, prompts: list[list[int]], sampling: SamplingConfig
    ) -> list[Completion]:
        input_ids, attention_mask = left_pad(prompts, self.pad_id, self.device)
        greedy = sampling.temperature == 0
        stop_kwargs: dict[str, Any] = {}
        if sampling.stop_strings:
            stop_kwargs = {"stop_strings": list(sampling.stop_strings), "tokenizer": self.tokenizer}
        recorder = SamplerLogprobs(sampling)
        # Temperature and top-p run inside the recorder, after it has read the unscaled
        # distribution. Other sampling knobs that the model's generation config may set are
        # turned off, so that SamplingConfig alone decides the distribution.
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            do_sample=not greedy,
            temperature=1.0,
            top_p=1.0,
            **_neutral_sampling_overrides(self.model),
            max_new_tokens=sampling.max_new_tokens,
            pad_token_id=self.pad_id,
            eos_token_id=self.stop_ids,
            logits_processor=LogitsProcessorList([recorder]),
            return_dict_in_generate=True,
            **stop_kwargs,
        )
        generated = output.sequences[:, input_ids.shape[1] :]  # (B, T)
        token_logprobs = recorder.finish(generated)  # (B, T)

        completions = []
        for row, prompt in enumerate(prompts):
            ids = generated[row].tolist()
            length, ended = _completion_length(ids, self.stop_ids)
            if sampling.stop_strings:
                cut = self._stop_string_end(ids[:length], sampling.stop_strings)
                if cut is not None:
                    length, ended = cut, True
            completions.append(
                Completion(
                    text=self.tokenizer.decode(ids[:length], skip_special_tokens=True),
                    token_ids=ids[:length],
                    prompt_ids=list(prompt),
                    logprobs=token_logprobs[row, :length].tolist(),
                    truncated=not ended,
                )
            )
        return completions

    def _stop_string_end(self, ids: list[int], stop_strings: Sequence[str]) -> int | None:
        """Return the token count up to the first stop string, or ``None`` if none occurs."""
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if not any(s in text for s in stop_strings):
            return None
        for length in range(1, len(ids) + 1):
            prefix = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
            if any(s in prefix for s in stop_strings):
                return length
        return None

    def token_logprobs(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int = 8,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return log-probabilities of each completion token given its prompt.

        Runs with gradients when called under grad mode, so learners use it for losses.

        Returns:
            ``(logprobs, mask)``, both ``(B, T)`` with ``T`` the longest completion; ``mask``
            is 1.0 on real completion tokens and 0.0 on padding.
        """
        logprobs, mask, _ = self._score(prompt_ids, completion_ids, batch_size, False)
        return logprobs, mask

    def token_logprobs_and_hidden(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int = 8,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return :meth:`token_logprobs` plus the last-layer hidden state before each token.

        The hidden state at completion position ``t`` is the one the model predicts token
        ``t`` from, so a value head on it estimates the value of the state before that token.

        Returns:
            ``(logprobs, mask, hidden)`` with shapes ``(B, T)``, ``(B, T)`` and ``(B, T, H)``.
        """
        logprobs, mask, hidden = self._score(prompt_ids, completion_ids, batch_size, True)
        assert hidden is not None
        return logprobs, mask, hidden

    def _score(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int,
        with_hidden: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if len(prompt_ids) != len(completion_ids):
            raise ValueError(
                f"Expects one completion per prompt, actual: {len(prompt_ids)} prompts and "
                f"{len(completion_ids)} completions"
            )
        width = max((len(c) for c in completion_ids), default=0)
        pieces, masks, states = [], [], []
        for start in range(0, len(prompt_ids), batch_size):
            stop = start + batch_size
            chunk_lp, chunk_mask, chunk_hidden = self._score_batch(
                prompt_ids[start:stop], completion_ids[start:stop], with_hidden
            )
            pad = width - chunk_lp.shape[1]
            pieces.append(torch.nn.functional.pad(chunk_lp, (0, pad)))
            masks.append(torch.nn.functional.pad(chunk_mask, (0, pad)))
            if chunk_hidden is not None:
                states.append(torch.nn.functional.pad(chunk_hidden, (0, 0, 0, pad)))
        if not pieces:
            empty = torch.zeros(0, width, device=self.device)
            hidden_size = int(getattr(self.model.config, "hidden_size", 0))
            no_hidden = torch.zeros(0, width, hidden_size, device=self.device)
            return empty, empty.clone(), no_hidden if with_hidden else None
        hidden = torch.cat(states) if with_hidden else None
        return torch.cat(pieces), torch.cat(masks), hidden

    def _score_batch(
        self,
        prompts: Sequence[Sequence[int]],
        completions: Sequence[Sequence[int]],
        with_hidden: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        # Prompts are left-padded and completions right-padded, so every completion starts at
        # the same column and one slice of the logits covers all rows.
        prompt_ids, prompt_mask = left_pad([list(p) for p in prompts], self.pad_id, self.device)
        width = max(len(c) for c in completions) if completions else 0
        completion_ids = torch.full((len(completions), width), self.pad_id, dtype=torch.long)
        completion_mask = torch.zeros(len(completions), width)
        for row, ids in enumerate(completions):
            completion_ids[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
            completion_mask[row, : len(ids)] = 1.0
        completion_ids = completion_ids.to(self.device)
        completion_mask = completion_mask.to(self.device)

        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)  # (B, P + T)
        attention_mask = torch.cat([prompt_mask, completion_mask.long()], dim=1)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        # logits_to_keep skips the vocabulary projection over the prompt, which dominates
        # the cost for long prompts. Models that ignore it return every position, and
        # slicing from the end covers both cases.
        with _checkpointing_active(self.model), self._autocast():
            output = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                output_hidden_states=with_hidden,
                logits_to_keep=width + 1,
                use_cache=False,
            )
        kept = output.logits.shape[1]
        logits = output.logits[:, kept - width - 1 : kept - 1].float()  # (B, T, V)
        # Gather minus logsumexp equals log_softmax at the token without a (B, T, V) output.
        token_logits = logits.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)  # (B, T)
        logprobs = token_logits - torch.logsumexp(logits, dim=-1)  # (B, T)
        hidden = None
        if with_hidden:
            prompt_width = prompt_ids.shape[1]
            columns = slice(prompt_width - 1, prompt_width - 1 + width)
            hidden = output.hidden_states[-1][:, columns].float()  # (B, T, H)
        return logprobs * completion_mask, completion_mask, hidden


class SamplerLogprobs(LogitsProcessor):
    """Records each sampled token's log-probability under the unscaled distribution.

    ``generate()`` can return the logits of every step, but for a batch of 32 and 96 new
    tokens those take about 600 MB (49,152-token vocabulary, float32). This processor keeps
    one step instead: at step ``t`` it reads the token sampled at step ``t - 1`` from
    ``input_ids`` and gathers its log-probability from the previous step's distribution. It
    then applies temperature and top-p, so it must be the only logits processor that warps.
    """

    def __init__(self, sampling: SamplingConfig) -> None:
        self.warpers: list[LogitsProcessor] = []
        if sampling.temperature not in (0, 1):
            self.warpers.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.temperature != 0 and sampling.top_p < 1:
            self.warpers.append(TopPLogitsWarper(sampling.top_p))
        self.steps: list[torch.Tensor] = []
        self._previous: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._previous is not None:
            self.steps.append(self._previous.gather(-1, input_ids[:, -1:]).squeeze(-1))  # (B,)
        self._previous = torch.log_softmax(scores.float(), dim=-1)  # (B, V)
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        return scores

    def finish(self, generated: torch.Tensor) -> torch.Tensor:
        """Return the log-probabilities of ``generated`` ``(B, T)``, shape ``(B, T)``."""
        width = generated.shape[1]
        if self._previous is not None and len(self.steps) < width:
            last = generated[:, len(self.steps) : len(self.steps) + 1]
            self.steps.append(self._previous.gather(-1, last).squeeze(-1))
        self._previous = None
        if not self.steps:
            return torch.zeros(generated.shape, device=generated.device)
        return torch.stack(self.steps[:width], dim=1)


def left_pad(
    rows: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token id lists into ``(ids, attention_mask)`` tensors of shape (B, L)."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


@contextmanager
def _checkpointing_active(model: torch.nn.Module) -> Iterator[None]:
    """Let gradient checkpointing run while gradients are on, without dropout.

    Hugging Face layers checkpoint only in training mode, and the model stays in eval mode
    otherwise. Only the layers that checkpoint switch to training mode, so dropout modules
    stay off and the scores match those of sampling.
    """
    layers = []
    if torch.is_grad_enabled():
        for module in model.modules():
            if getattr(module, "gradient_checkpointing", False) is True and not module.training:
                layers.append(module)
    for module in layers:
        module.training = True
    try:
        yield
    finally:
        for module in layers:
            module.training = False


def _neutral_sampling_overrides(model: Any) -> dict[str, Any]:
    """Return generate() arguments that switch off sampling knobs the model config sets."""
    config = getattr(model, "generation_config", None)
    neutral = {"top_k": 0, "min_p": None, "typical_p": 1.0, "repetition_penalty": 1.0}
    overrides = {}
    for name, value in neutral.items():
        current = getattr(config, name, None)
        if current is not None and current != value:
            overrides[name] = value
    return overrides


def _stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.append(value)
        elif isinstance(value, (list, tuple)):
            ids.extend(int(v) for v in value)
    if not ids:
        raise ValueError(
            "the tokenizer and generation config define no end-of-sequence token; set "
            "tokenizer.eos_token before building an LM agent"
        )
    return sorted(set(ids))


def _completion_length(ids: list[int], stop_ids: list[int]) -> tuple[int, bool]:
    """Return the completion length including the first stop token, and whether one occurred."""
    for position, token in enumerate(ids):
        if token in stop_ids:
            return position + 1, True
    return len(ids), False
