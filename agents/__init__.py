"""Agents that play the game, and the learners that train them."""

from __future__ import annotations

from advgame.agents.base import Completion, Policy, as_completion

__all__ = ["Completion", "Policy", "as_completion"]
