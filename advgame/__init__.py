"""advgame: LM safety alignment as a non-cooperative game.

An attacker LM rewrites seed requests, a defender LM answers the rewrite, and a preference
judge scores both. The subpackages are :mod:`advgame.envs` (the PettingZoo environment and
seed data), :mod:`advgame.agents` (LM agents and learners) and :mod:`advgame.judges`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AdvGameEnv", "__version__"]

if TYPE_CHECKING:
    from advgame.envs import AdvGameEnv


def __getattr__(name: str) -> Any:
    # Lazy so that `import advgame` stays fast and torch-free.
    if name == "AdvGameEnv":
        from advgame.envs import AdvGameEnv

        return AdvGameEnv
    raise AttributeError(f"module 'advgame' has no attribute {name!r}")
