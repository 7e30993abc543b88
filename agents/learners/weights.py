"""Copies of a player's trainable weights: EMA copies, frozen references, and the LR schedule.

A :class:`ShadowWeights` keeps one tensor per trainable parameter of a model. Instead of
holding a second model, it is swapped into the live model for the duration of a
``with shadow.swapped_into(model):`` block, so sampling from an EMA copy or scoring with a
reference model goes through the player's own agent and backend. With LoRA, only the
adapter weights are copied.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from advgame.errors import ConfigError


def trainable_named_parameters(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """Return the parameters that require gradients, by name (tied weights appear once)."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


class ShadowWeights:
    """A detached copy of a model's trainable parameters.

    Args:
        model: the model to copy; its trainable parameters are cloned now.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        with torch.no_grad():
            self.tensors: dict[str, torch.Tensor] = {
                name: p.detach().clone() for name, p in trainable_named_parameters(model).items()
            }
        self._swapped = False

    @torch.no_grad()
    def update_ema(self, model: torch.nn.Module, decay: float) -> None:
        """Move the copy towards ``model``: ``shadow = decay * shadow + (1 - decay) * theta``."""
        if self._swapped:
            raise RuntimeError("update_ema() called while the shadow weights are swapped in")
        for name, param in self._params(model).items():
            self.tensors[name].lerp_(param.detach(), 1.0 - decay)

    @contextmanager
    def swapped_into(self, model: torch.nn.Module) -> Iterator[None]:
        """Run the block with these weights in ``model``, then put the live weights back.

        The swap exchanges tensor storage, so it copies no data and costs no memory.
        """
        if self._swapped:
            raise RuntimeError("the shadow weights are already swapped into a model")
        params = self._params(model)
        self._exchange(params)
        self._swapped = True
        try:
            yield
        finally:
            self._exchange(params)
            self._swapped = False

    @torch.no_grad()
    def _exchange(self, params: dict[str, torch.nn.Parameter]) -> None:
        for name, param in params.items():
            live = param.data
            param.data = self.tensors[name]
            self.tensors[name] = live

    def _params(self, model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        params = trainable_named_parameters(model)
        if params.keys() != self.tensors.keys():
            missing = sorted(set(self.tensors) ^ set(params))[:5]
            raise RuntimeError(
                f"the model's trainable parameters changed since the shadow copy was made "
                f"(for example {missing}); keep requires_grad fixed during training"
            )
        return params

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Return the copied tensors by parameter name."""
        return dict(self.tensors)

    @torch.no_grad()
    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Overwrite the copy with ``tensors``, which must have the same names and shapes."""
        if tensors.keys() != self.tensors.keys():
            diff = sorted(set(tensors) ^ set(self.tensors))[:5]
            raise ConfigError(
                f"Expects shadow weights for the same parameters as the model, actual: "
                f"differences such as {diff}; load a checkpoint written for this model"
            )
        for name, tensor in tensors.items():
            self.tensors[name].copy_(tensor)


def cosine_multiplier(step: int, total_steps: int, warmup_steps: int, final_ratio: float) -> float:
    """Return the learning-rate multiplier of learner step ``step`` (counted from 0).

    Warm-up is linear over ``warmup_steps``: step ``i`` gets ``(i + 1) / warmup_steps``. A
    cosine then falls from 1 at step ``warmup_steps`` to ``final_ratio`` at step
    ``total_steps - 1``, and later steps keep ``final_ratio``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps - 1)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def parameter_state(params: dict[str, torch.nn.Parameter]) -> dict[str, Any]:
    """Return contiguous detached tensors of ``params``, ready for safetensors."""
    return {name: p.detach().contiguous() for name, p in params.items()}
