"""The AdvGame environment, its rules and its seed data."""

from __future__ import annotations

from typing import Any

from advgame.envs import registration as _registration  # noqa: F401  (gymnasium ids)
from advgame.envs.advgame_env import ATTACKER, DEFENDER, AdvGameEnv
from advgame.envs.game import Game, attacker_rubric, defender_rubric
from advgame.envs.parsing import ParsedAttack, parse_attack
from advgame.envs.rollout import play_batch, tree_metrics
from advgame.envs.seeds.base import Seed
from advgame.envs.spaces import UnicodeText
from advgame.envs.strategy import AttackerStrategyEnv, DefenderStrategyEnv
from advgame.envs.tree import AttackNode, Outcome, ResponseNode, RolloutTree, SeedNode

__all__ = [
    "ATTACKER",
    "DEFENDER",
    "AdvGameEnv",
    "AttackNode",
    "AttackerStrategyEnv",
    "DefenderStrategyEnv",
    "Game",
    "Outcome",
    "ParsedAttack",
    "ResponseNode",
    "RolloutTree",
    "Seed",
    "SeedNode",
    "UnicodeText",
    "attacker_rubric",
    "defender_rubric",
    "env",
    "parallel_env",
    "parse_attack",
    "play_batch",
    "tree_metrics",
]


def parallel_env(**kwargs: Any) -> AdvGameEnv:
    """Return an :class:`AdvGameEnv` (PettingZoo parallel API)."""
    return AdvGameEnv(**kwargs)


def env(**kwargs: Any) -> Any:
    """Return the environment in PettingZoo's AEC form."""
    from pettingzoo.utils import parallel_to_aec

    return parallel_to_aec(AdvGameEnv(**kwargs))
