"""Gymnasium registration of the strategy environments.

Imported by :mod:`advgame.envs`, so ``gymnasium.make("advgame/DefenderStrategy-v0")`` works
after ``import advgame.envs``. The entry points are strings: registering imports neither
the environments nor any model code.
"""

from __future__ import annotations

import gymnasium

STRATEGY_ENV_IDS: dict[str, str] = {
    "advgame/DefenderStrategy-v0": "advgame.envs.strategy:DefenderStrategyEnv",
    "advgame/AttackerStrategy-v0": "advgame.envs.strategy:AttackerStrategyEnv",
}


def register_strategy_envs() -> None:
    """Register every id of :data:`STRATEGY_ENV_IDS` that is not registered yet."""
    for env_id, entry_point in STRATEGY_ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)


register_strategy_envs()
