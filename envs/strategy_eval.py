"""Exact evaluation of policies on a strategy environment, context by context.

A strategy environment has a finite list of contexts and of strategies, so a policy can be
scored without sampling episodes: :func:`sweep_strategies` plays every strategy once in
every context and stores the reward table. The mean reward of a uniform-random policy, of
each fixed strategy and of any deterministic policy then follow from that table.

Example:
    >>> from advgame.envs import DefenderStrategyEnv
    >>> from advgame.envs.strategy_eval import sweep_strategies
    >>> sweep = sweep_strategies(DefenderStrategyEnv())
    >>> round(sweep.random_mean(), 2) <= sweep.strategy_means().max()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from advgame.errors import ConfigError


@dataclass(frozen=True)
class StrategySweep:
    """Rewards of every strategy in every context of one environment.

    Attributes:
        strategies: strategy names, one per action.
        labels: the seed class (``"harmful"`` or ``"benign"``) of each context.
        observations: ``(contexts, dim)`` observation of each context.
        rewards: ``(contexts, strategies)`` reward returned by ``step``.
        valid: ``(contexts, strategies)``, False where the judgment was excluded.
    """

    strategies: tuple[str, ...]
    labels: tuple[str, ...]
    observations: np.ndarray
    rewards: np.ndarray
    valid: np.ndarray

    def mask(self, label: str | None = None) -> np.ndarray:
        """Boolean mask of the contexts of class ``label`` (all contexts for ``None``)."""
        if label not in (None, "harmful", "benign"):
            raise ConfigError(f"Expects label to be None, 'harmful' or 'benign', actual: {label!r}")
        return np.array([label is None or lab == label for lab in self.labels], dtype=bool)

    def strategy_means(self, label: str | None = None) -> np.ndarray:
        """Mean reward of always playing each strategy, one value per strategy."""
        return self.rewards[self.mask(label)].mean(axis=0)

    def random_mean(self, label: str | None = None) -> float:
        """Expected reward of the uniform-random policy (exact, not sampled)."""
        return float(self.rewards[self.mask(label)].mean())

    def best_mean(self, label: str | None = None) -> float:
        """Mean reward of the best strategy per context: an upper bound for any policy."""
        return float(self.rewards[self.mask(label)].max(axis=1).mean())

    def policy_rewards(self, actions: np.ndarray) -> np.ndarray:
        """Reward in each context of a deterministic policy that plays ``actions[i]`` there."""
        actions = np.asarray(actions).reshape(-1)
        if actions.shape != (len(self.labels),):
            raise ConfigError(
                f"Expects one action per context ({len(self.labels)}), actual shape: "
                f"{actions.shape}"
            )
        return self.rewards[np.arange(len(actions)), actions.astype(int)]

    def policy_mean(self, actions: np.ndarray, label: str | None = None) -> float:
        """Mean reward of a deterministic policy over the contexts of class ``label``."""
        return float(self.policy_rewards(actions)[self.mask(label)].mean())

    def action_shares(self, actions: np.ndarray, label: str | None = None) -> np.ndarray:
        """Share of contexts of class ``label`` in which the policy plays each strategy."""
        chosen = np.asarray(actions).reshape(-1)[self.mask(label)].astype(int)
        counts = np.bincount(chosen, minlength=len(self.strategies))
        return counts / max(len(chosen), 1)

    def actions_of(self, predict: Callable[[np.ndarray], Any]) -> np.ndarray:
        """Return ``predict(observations)`` as one int action per context.

        ``predict`` takes the ``(contexts, dim)`` observation array; for an SB3 model pass
        ``lambda obs: model.predict(obs, deterministic=True)[0]``.
        """
        return np.asarray(predict(self.observations)).reshape(-1).astype(int)


def sweep_strategies(env: Any) -> StrategySweep:
    """Play every strategy once in every context of ``env`` and return the reward table.

    ``env`` is a :class:`~advgame.envs.strategy.DefenderStrategyEnv` or
    :class:`~advgame.envs.strategy.AttackerStrategyEnv`, wrapped or not; the sweep resets it
    ``contexts × strategies`` times.
    """
    base = env.unwrapped
    if not hasattr(base, "num_contexts") or not hasattr(base, "strategies"):
        raise ConfigError(
            f"Expects a strategy environment (DefenderStrategyEnv or AttackerStrategyEnv), "
            f"actual: {type(base).__name__}"
        )
    contexts, k = base.num_contexts, len(base.strategies)
    rewards = np.zeros((contexts, k), dtype=np.float64)
    valid = np.zeros((contexts, k), dtype=bool)
    observations = []
    labels = []
    for i in range(contexts):
        for a in range(k):
            observation, info = env.reset(options={"context": i})
            _, reward, _, _, step_info = env.step(a)
            rewards[i, a] = reward
            valid[i, a] = step_info["reward_valid"]
        observations.append(observation)
        labels.append(info["seed_label"])
    return StrategySweep(
        strategies=tuple(base.strategies),
        labels=tuple(labels),
        observations=np.stack(observations).astype(np.float32),
        rewards=rewards,
        valid=valid,
    )
