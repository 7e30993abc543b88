"""Chat completions from a local Hugging Face causal LM, for ``advgame serve --model``.

Supported request fields: ``messages``, ``temperature`` (0 is greedy), ``top_p``,
``max_tokens`` (or ``max_completion_tokens``), ``n``, ``stop``, ``seed``, ``logprobs``,
``top_logprobs``, and the vLLM extensions ``continue_final_message`` and
``add_generation_prompt`` (continue a final assistant message instead of opening a new
turn). Reported log-probabilities are those of the model's unscaled distribution, as vLLM
reports them by default.

NOTE: requests are served one at a time (a lock guards the model); concurrent clients wait.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import torch

from advgame.judges.serving import RequestError

MAX_N = 16
MAX_STOP_STRINGS = 4
DEFAULT_MAX_TOKENS = 256


def _number(request: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = request.get(name)
    if value is None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(400, f"Expects '{name}' in [{low:g}, {high:g}], actual: {value!r}")
    return float(value)


def _integer(
    request: dict[str, Any], names: tuple[str, ...], default: int, low: int, high: int
) -> int:
    for name in names:
        value = request.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise RequestError(
                400, f"Expects '{name}' to be an int in [{low}, {high}], actual: {value!r}"
            )
        return value
    return default


def _stop_strings(request: dict[str, Any]) -> list[str]:
    stop = request.get("stop")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_STRINGS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise RequestError(
            400, f"Expects 'stop' to be a string or up to {MAX_STOP_STRINGS} strings"
        )
    return stops


class LMChatBackend:
    """Serves a causal LM and its tokenizer through the chat completions API.

    Args:
        model: a loaded ``transformers`` causal LM.
        tokenizer: its tokenizer, with a chat template.
        model_name: the name reported by ``/v1/models`` and in responses.
    """

    def __init__(self, model: Any, tokenizer: Any, model_name: str = "default") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.context = getattr(model.config, "max_position_embeddings", None) or 4096
        eos = getattr(model.generation_config, "eos_token_id", None)
        eos_ids = eos if isinstance(eos, list) else [eos]
        self.stop_ids = sorted({i for i in [*eos_ids, tokenizer.eos_token_id] if i is not None})
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._lock = threading.Lock()

    def _prompt_ids(self, request: dict[str, Any]) -> list[int]:
        messages = request.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(
                isinstance(m, dict)
                and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)
                for m in messages
            )
        ):
            raise RequestError(
                400, "Expects 'messages' to be a non-empty list of {role, content} string objects"
            )
        continue_final = bool(request.get("continue_final_message", False))
        if continue_final and messages[-1]["role"] != "assistant":
            raise RequestError(400, "continue_final_message needs a final assistant message")
        add_generation = bool(request.get("add_generation_prompt", not continue_final))
        text = self.tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=add_generation and not continue_final,
            continue_final_message=continue_final,
        )
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """Return the chat completion body for ``request``; raises ``RequestError``."""
        prompt = self._prompt_ids(request)
        temperature = _number(request, "temperature", 1.0, 0.0, 2.0)
        top_p = _number(request, "top_p", 1.0, 1e-6, 1.0)
        room = self.context - len(prompt)
        if room < 1:
            raise RequestError(
                400, f"the prompt has {len(prompt)} tokens; the model's context is {self.context}"
            )
        max_tokens = min(
            _integer(
                request, ("max_tokens", "max_completion_tokens"), DEFAULT_MAX_TOKENS, 1, 1 << 20
            ),
            room,
        )
        n = _integer(request, ("n",), 1, 1, MAX_N)
        top_k = _integer(request, ("top_logprobs",), 0, 0, 20)
        want_logprobs = bool(request.get("logprobs", False))
        seed = _integer(request, ("seed",), -1, -(1 << 62), 1 << 62)
        stops = _stop_strings(request)

        with self._lock, torch.no_grad(), torch.random.fork_rng(devices=[]):
            if seed != -1:
                torch.manual_seed(seed)
            input_ids = torch.tensor([prompt] * n, device=self.model.device)
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=top_p if temperature > 0 else None,
                top_k=None,
                max_new_tokens=max_tokens,
                pad_token_id=self.pad_id,
                eos_token_id=self.stop_ids,
                return_dict_in_generate=True,
                output_logits=True,
            )
        generated = output.sequences[:, len(prompt) :]  # (n, T)
        logprobs = torch.log_softmax(torch.stack(output.logits, dim=1).float(), dim=-1)  # (n, T, V)
        choices = [
            self._choice(i, generated[i].tolist(), logprobs[i], stops, want_logprobs, top_k)
            for i in range(n)
        ]
        completion_tokens = sum(c.pop("_tokens") for c in choices)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": completion_tokens,
                "total_tokens": len(prompt) * n + completion_tokens,
            },
        }

    def _choice(
        self,
        index: int,
        ids: list[int],
        logprobs: torch.Tensor,
        stops: list[str],
        want_logprobs: bool,
        top_k: int,
    ) -> dict[str, Any]:
        finish = "length"
        for position, token in enumerate(ids):
            if token in self.stop_ids:
                ids, finish = ids[:position], "stop"
                break
        # Cut at the first stop string (excluded from the text, as OpenAI does) and keep the
        # tokens that end before it.
        pieces = [self.tokenizer.decode([t], skip_special_tokens=True) for t in ids]
        text = "".join(pieces)
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
            kept, length = 0, 0
            while kept < len(pieces) and length + len(pieces[kept]) <= cut:
                length += len(pieces[kept])
                kept += 1
            ids, pieces = ids[:kept], pieces[:kept]
        choice: dict[str, Any] = {
            "index": index,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
            "logprobs": None,
            "_tokens": len(ids),
        }
        if want_logprobs:
            entries = []
            for position, (token, piece) in enumerate(zip(ids, pieces)):
                row = logprobs[position]
                top = torch.topk(row, top_k) if top_k else None
                alternatives = []
                if top is not None:
                    for value, alt in zip(top.values.tolist(), top.indices.tolist()):
                        alt_text = self.tokenizer.decode([alt], skip_special_tokens=False)
                        alternatives.append(
                            {"token": alt_text, "logprob": value, "bytes": list(alt_text.encode())}
                        )
                entries.append(
                    {
                        "token": piece,
                        "logprob": float(row[token]),
                        "bytes": list(piece.encode()),
                        "top_logprobs": alternatives,
                    }
                )
            choice["logprobs"] = {"content": entries}
        return choice
