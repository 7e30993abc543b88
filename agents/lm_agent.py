"""A Hugging Face causal LM as a player of the game.

:class:`LMAgent` formats each prompt as one user turn of the model's chat template, samples
batched completions through a :class:`~advgame.agents.backends.Backend`, and returns text,
token ids and sampler log-probabilities. Learners train its ``model`` in place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advgame.agents.backends import Backend, HFBackend
from advgame.agents.base import Completion
from advgame.agents.models import DEFAULT_MODEL, load_causal_lm
from advgame.agents.predict import PredictMixin
from advgame.agents.sampling import SamplingConfig
from advgame.errors import ConfigError

logger = logging.getLogger(__name__)

AGENT_FILE = "advgame_agent.json"


class LMAgent(PredictMixin):
    """A causal LM that plays attacker or defender.

    Args:
        model: ``"default"`` (the embedded SmolLM2-135M-Instruct) or a local Hugging Face
            model folder.
        sampling: sampling settings; default :class:`SamplingConfig()`.
        system_prompt: a system turn placed before every prompt; ``None`` keeps the chat
            template's own default.
        response_prefix: text that opens every reply (an assistant-turn prefill), for
            example ``"<prompt>"`` to help a small attacker keep the output format. It is
            part of the prompt tokens, so it is never trained, and it is prepended to each
            completion's ``text``.
        device: torch device for the model.
        dtype: torch dtype; default float32.
        lora: a ``peft.LoraConfig`` or a dict of its arguments to train low-rank adapters
            instead of all weights; ``None`` trains all weights.
        seed: seeds the agent's sampling RNG, so the same calls give the same samples.
        gradient_checkpointing: recompute activations in the backward pass instead of
            storing them. That cuts training memory, and the extra forward pass per layer
            cost about 9% of a ``cpu_dpo`` training step.
        freeze_embeddings: keep the input embedding matrix (and an output projection tied
            to it) fixed. On the 135M model it contains a fifth of the weights, so freezing it
            saves that share of the gradient, optimizer and EMA memory.
        autocast: ``"bfloat16"`` (or a torch dtype) runs sampling and training forward
            passes in mixed precision under ``torch.autocast``, on CPUs with bf16
            instructions and on GPUs. ``"auto"`` picks bfloat16 where the model's device
            has native bf16 support (see :func:`bf16_is_native`) and no autocast elsewhere.
            ``None`` keeps the model's dtype throughout.
        backend: a sampling backend; default an in-process :class:`HFBackend`.
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        sampling: SamplingConfig | None = None,
        system_prompt: str | None = None,
        response_prefix: str = "",
        device: str = "cpu",
        dtype: Any = None,
        lora: Any = None,
        seed: int | None = None,
        backend: Backend | None = None,
        gradient_checkpointing: bool = False,
        freeze_embeddings: bool = False,
        autocast: Any = None,
    ) -> None:
        self.model_name = str(model)
        self.sampling = sampling or SamplingConfig()
        self.system_prompt = system_prompt
        self.response_prefix = response_prefix
        self.model, self.tokenizer = load_causal_lm(model, dtype=dtype, device=device)
        if gradient_checkpointing:
            # transformers 5 renamed the method, and 4.x has only the old name.
            enable = getattr(self.model, "activation_checkpointing_enable", None)
            enable = enable or self.model.gradient_checkpointing_enable
            enable({"use_reentrant": False})
        if freeze_embeddings:
            self.model.get_input_embeddings().weight.requires_grad_(False)
        self.lora_config = None
        if lora is not None:
            self.model = _apply_lora(self.model, lora)
            self.lora_config = lora
        self.backend: Backend = backend or HFBackend(
            self.model, self.tokenizer, autocast=_autocast_dtype(autocast, self.model.device)
        )
        self._rng = np.random.default_rng(seed)

    # -- prompting ------------------------------------------------------------------------

    def prompt_ids(self, prompts: Sequence[str]) -> list[list[int]]:
        """Tokenize each prompt as one user turn of the chat template, ready for generation."""
        rows = []
        for prompt in prompts:
            if not isinstance(prompt, str):
                raise TypeError(f"Expects each prompt to be a str, actual: {type(prompt).__name__}")
            messages = [{"role": "user", "content": prompt}]
            if self.system_prompt is not None:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            text = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            text += self.response_prefix
            rows.append(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return rows

    def generate(
        self,
        prompts: Sequence[str],
        num_samples: int = 1,
        sampling: SamplingConfig | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Sample ``num_samples`` completions for each prompt, batched.

        ``seed`` fixes the sampling randomness of this call and leaves the agent's own RNG
        untouched (evaluation uses it); by default each call draws a seed from that RNG.
        """
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(f"Expects num_samples to be a positive int, actual: {num_samples!r}")
        if not prompts:
            return []
        if seed is None:
            seed = int(self._rng.integers(2**31 - 1))
        batches = self.backend.generate(
            self.prompt_ids(prompts), num_samples, sampling or self.sampling, seed=seed
        )
        if self.response_prefix:
            for completions in batches:
                for completion in completions:
                    completion.text = self.response_prefix + completion.text
        return batches

    def token_logprobs(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int = 8,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return per-token log-probabilities and a mask; see :meth:`HFBackend.token_logprobs`."""
        return self.backend.token_logprobs(prompt_ids, completion_ids, batch_size)

    def sequence_logprobs(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        batch_size: int = 8,
    ) -> torch.Tensor:
        """Return the summed log-probability of each completion, shape ``(B,)``."""
        logprobs, mask = self.token_logprobs(prompt_ids, completion_ids, batch_size)
        return (logprobs * mask).sum(-1)

    # -- parameters and persistence -------------------------------------------------------

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def save(self, path: str | Path) -> Path:
        """Write the model (or its LoRA adapter), tokenizer and agent settings to ``path``."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        settings = {
            "base_model": self.model_name,
            "lora": self.lora_config is not None,
            "sampling": self.sampling.to_dict(),
            "system_prompt": self.system_prompt,
            "response_prefix": self.response_prefix,
        }
        (out / AGENT_FILE).write_text(json.dumps(settings, indent=2))
        return out

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> LMAgent:
        """Load an agent written by :meth:`save`; ``kwargs`` override saved settings."""
        folder = Path(path)
        settings_file = folder / AGENT_FILE
        if not settings_file.is_file():
            raise ConfigError(
                f"Expects {settings_file} written by LMAgent.save(), actual: missing; pass the "
                "folder that LMAgent.save() wrote, or build LMAgent(model=FOLDER) for a plain "
                "Hugging Face folder"
            )
        settings = json.loads(settings_file.read_text())
        kwargs.setdefault("sampling", SamplingConfig.from_dict(settings["sampling"]))
        kwargs.setdefault("system_prompt", settings.get("system_prompt"))
        kwargs.setdefault("response_prefix", settings.get("response_prefix", ""))
        if not settings.get("lora"):
            return cls(folder, **kwargs)
        from peft import PeftModel

        agent = cls(settings["base_model"], **kwargs)
        agent.model = PeftModel.from_pretrained(agent.model, folder, is_trainable=True)
        agent.lora_config = agent.model.peft_config
        agent.backend = HFBackend(agent.model, agent.tokenizer)
        return agent


def _apply_lora(model: Any, lora: Any) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as error:
        raise ConfigError(
            "LoRA needs the peft package; install it with: pip install 'advgame[lora]'"
        ) from error
    if isinstance(lora, dict):
        settings = {"task_type": "CAUSAL_LM", "target_modules": "all-linear", **lora}
        lora = LoraConfig(**settings)
    if not isinstance(lora, LoraConfig):
        raise ConfigError(
            f"Expects lora to be a peft.LoraConfig or a dict of its arguments, actual: "
            f"{type(lora).__name__}"
        )
    return get_peft_model(model, lora)


def bf16_is_native(device: str | torch.device) -> bool:
    """Return whether ``device`` computes bf16 matrix products in hardware.

    True for a CUDA device with bf16 support in hardware and for a CPU with AVX512-BF16 or
    AMX instructions. Elsewhere bf16 is converted in software and is usually slower than
    float32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type == "cpu":
        # Private torch helpers, so a torch release without them counts as no support.
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def _autocast_dtype(value: Any, device: str | torch.device) -> torch.dtype | None:
    """Return the torch dtype that ``value`` names on ``device``, or ``None``."""
    if value is None or isinstance(value, torch.dtype):
        return value
    if value == "auto":
        native = bf16_is_native(device)
        logger.info("autocast: auto uses %s on %s", "bfloat16" if native else "float32", device)
        return torch.bfloat16 if native else None
    dtype = getattr(torch, str(value), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(
            f"Expects autocast to name a floating torch dtype such as bfloat16, or auto, "
            f"actual: {value!r}; use autocast: bfloat16 or auto, or leave it out to keep the "
            f"model's dtype"
        )
    return dtype
