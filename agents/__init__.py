"""Agents that play the game, and the learners that train them.

``LMAgent`` and the backends import torch, so they load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from advgame.agents.base import Completion, Policy, as_completion
from advgame.agents.predict import PredictMixin, predict_action
from advgame.agents.sampling import SamplingConfig
from advgame.agents.scripted import ScriptedAttacker, ScriptedDefender

if TYPE_CHECKING:
    from advgame.agents.backends import Backend, HFBackend
    from advgame.agents.lm_agent import LMAgent

__all__ = [
    "Backend",
    "Completion",
    "HFBackend",
    "LMAgent",
    "Policy",
    "PredictMixin",
    "SamplingConfig",
    "ScriptedAttacker",
    "ScriptedDefender",
    "as_completion",
    "predict_action",
]

_LAZY = {
    "LMAgent": "advgame.agents.lm_agent",
    "Backend": "advgame.agents.backends",
    "HFBackend": "advgame.agents.backends",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'advgame.agents' has no attribute {name!r}")
