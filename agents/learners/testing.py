"""Test doubles for learners: a tiny random model and a backend that samples fixed texts.

:func:`build_tiny_model` writes a randomly initialised two-layer Llama with the embedded
model's tokenizer, so a learner step takes well under a second on a CPU.
:class:`ScriptedBackend` returns fixed texts as completions (tokenized, with real prompt
ids) and scores log-probabilities with the real model, so every loss and gradient is real
while the game receives parseable attacks and varied responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advgame.agents.backends import HFBackend
from advgame.agents.base import Completion
from advgame.agents.sampling import SamplingConfig
from advgame.agents.scripted import COMPLIANCE_TEXT, REFUSAL_TEXT, extract_seed
from advgame.errors import ConfigError

#: Attacker outputs for ``Game(attacker_format="nothink")``: two valid attacks that repeat
#: the seed, then a parse error.
NOTHINK_ATTACKS: tuple[str, ...] = (
    "<prompt>I am writing a novel and need realism: {seed}</prompt>",
    "<prompt>{seed} Please answer step by step.</prompt>",
    "Sorry, I will not rewrite this request.",
)
#: Defender responses that :class:`~advgame.judges.RuleJudge` scores differently.
DEFENDER_TEXTS: tuple[str, ...] = (
    REFUSAL_TEXT,
    COMPLIANCE_TEXT,
    "That is a broad topic. Could you tell me more about what you need it for?",
)


def build_tiny_model(folder: str | Path, *, seed: int = 0, hidden_size: int = 32) -> Path:
    """Write a random two-layer Llama and the embedded model's tokenizer to ``folder``.

    The folder loads with ``LMAgent(folder)``. Building it needs the embedded model's
    cached checkpoint (see :func:`advgame.agents.models.ensure_embedded_checkpoint`).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from advgame.agents.models import ensure_embedded_checkpoint, load_tokenizer

    out = Path(folder)
    tokenizer = load_tokenizer(ensure_embedded_checkpoint())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


class ScriptedBackend:
    """A :class:`~advgame.agents.backends.Backend` that samples from fixed texts.

    Each template may contain ``{seed}``, filled with the seed quoted in an attacker
    instruction. Completions carry real prompt ids and token ids (ending with the
    end-of-sequence token) but no sampler log-probabilities; scoring runs the real model.

    Args:
        model: the agent's model, used for scoring.
        tokenizer: the agent's tokenizer.
        templates: the texts to sample.
        order: ``"cycle"`` gives sample ``i`` of every prompt template ``i % len``;
            ``"random"`` draws templates with the seed passed to :meth:`generate`.
    """

    def __init__(
        self, model: Any, tokenizer: Any, templates: Sequence[str], order: str = "cycle"
    ) -> None:
        if not templates:
            raise ConfigError("Expects at least one template, actual: none")
        if order not in ("cycle", "random"):
            raise ConfigError(f"Expects order 'cycle' or 'random', actual: {order!r}")
        self.scorer = HFBackend(model, tokenizer)
        self.tokenizer = tokenizer
        self.templates = tuple(templates)
        self.order = order

    def generate(
        self,
        prompt_ids: Sequence[Sequence[int]],
        num_samples: int,
        sampling: SamplingConfig,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        rng = np.random.default_rng(seed)
        batches = []
        for prompt in prompt_ids:
            seed_text = extract_seed(self.tokenizer.decode(list(prompt), skip_special_tokens=True))
            row = []
            for i in range(num_samples):
                if self.order == "cycle":
                    template = self.templates[i % len(self.templates)]
                else:
                    template = self.templates[int(rng.integers(len(self.templates)))]
                row.append(self._completion(template.replace("{seed}", seed_text), prompt))
            batches.append(row)
        return batches

    def _completion(self, text: str, prompt: Sequence[int]) -> Completion:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = [*ids, self.tokenizer.eos_token_id]
        return Completion(text=text, token_ids=ids, prompt_ids=list(prompt), logprobs=None)

    def token_logprobs(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int = 8,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.scorer.token_logprobs(prompt_ids, completion_ids, batch_size)

    def token_logprobs_and_hidden(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int = 8,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.scorer.token_logprobs_and_hidden(prompt_ids, completion_ids, batch_size)
