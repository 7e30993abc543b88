"""Shared machinery of the single-agent strategy environments.

:class:`StrategyEnvBase` contains what :class:`~advgame.envs.strategy.DefenderStrategyEnv` and
:class:`~advgame.envs.strategy.AttackerStrategyEnv` have in common: argument checks, the
:class:`~advgame.envs.game.Game` that scores every step, the list of contexts an episode is
drawn from, the one-step episode bookkeeping and rendering. Subclasses build the contexts
and implement :meth:`StrategyEnvBase._play`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from advgame.agents.base import Completion, Policy
from advgame.envs.game import Game
from advgame.envs.parsing import AttackerFormat
from advgame.envs.render import round_lines
from advgame.envs.seeds.base import Seed
from advgame.envs.strategy_encoders import ObservationEncoder, encode_texts
from advgame.envs.tree import SeedNode
from advgame.errors import ConfigError
from advgame.judges.base import PairwiseJudge, PointwiseJudge
from advgame.judges.groups import PairOrder, RewardMode

logger = logging.getLogger(__name__)


class StrategyEnvBase(gym.Env[np.ndarray, np.int64]):
    """Base class of the strategy environments; see :mod:`advgame.envs.strategy`.

    Subclasses set :attr:`context_seeds` (the seed behind each context), call
    :meth:`_set_observations` and :meth:`_set_strategies`, and implement :meth:`_play`.
    """

    # render_fps only silences Gymnasium's checker: a text round has no frame rate.
    # gymnasium.Env declares metadata as an instance attribute, so ClassVar would clash.
    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"], "render_fps": 1}  # noqa: RUF012

    def __init__(
        self,
        seeds: Sequence[Seed] | None,
        judge: Any,
        *,
        excluded_reward: float,
        attacker_format: AttackerFormat,
        reward_mode: RewardMode,
        pair_order: PairOrder,
        render_mode: str | None,
        show_harmful: bool,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ConfigError(
                f"Expects render_mode to be None, 'ansi' or 'human', actual: {render_mode!r}"
            )
        if (
            isinstance(excluded_reward, bool)
            or not isinstance(excluded_reward, (int, float))
            or not math.isfinite(excluded_reward)
        ):
            raise ConfigError(
                f"Expects excluded_reward to be a finite float, actual: {excluded_reward!r}; "
                "pass e.g. 0.0"
            )
        self.seeds = _check_seeds(seeds)
        self.game = Game(
            judge if judge is not None else _default_judge(),
            attacker_format=attacker_format,
            reward_mode=reward_mode,
            pair_order=pair_order,
        )
        _check_reward_mode(self.game, reward_mode)
        self.excluded_reward = float(excluded_reward)
        self.render_mode = render_mode
        self.show_harmful = show_harmful
        self.context_seeds: list[Seed] = []
        self.strategies: tuple[str, ...] = ()
        self.last_node: SeedNode | None = None
        self.last_strategy: str | None = None
        self._observations = np.zeros((0, 1), dtype=np.float32)
        self._context: int | None = None
        self._done = True

    # -- set-up helpers for subclasses ------------------------------------------------------

    def _set_strategies(self, strategies: tuple[str, ...]) -> None:
        self.strategies = strategies
        self.action_space = spaces.Discrete(len(strategies))

    def _set_observations(
        self, encoder: ObservationEncoder, texts: list[str], extra: np.ndarray | None = None
    ) -> None:
        """Encode one text per context (plus ``extra`` columns in [0, 1]) once, up front."""
        vectors = encode_texts(encoder, texts)
        if extra is not None:
            vectors = np.concatenate([vectors, extra.astype(np.float32)], axis=1)
        self._observations = vectors
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(vectors.shape[1],), dtype=np.float32)

    # -- gymnasium API ----------------------------------------------------------------------

    @property
    def num_contexts(self) -> int:
        """Number of contexts an episode is drawn from (uniformly at random)."""
        return len(self.context_seeds)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode in a random context, or in ``options["context"]`` when given.

        ``seed`` reseeds the environment's own RNG (never the global one).
        """
        super().reset(seed=seed)
        options = options or {}
        if "context" in options:
            index = options["context"]
            if (
                isinstance(index, bool)
                or not isinstance(index, (int, np.integer))
                or not 0 <= index < self.num_contexts
            ):
                raise ConfigError(
                    f"Expects options['context'] to be an int in [0, {self.num_contexts}), "
                    f"actual: {index!r}"
                )
            self._context = int(index)
        else:
            self._context = int(self.np_random.integers(self.num_contexts))
        self._done = False
        self.last_node = self._pending_node(self._context)
        self.last_strategy = None
        seed_ = self.context_seeds[self._context]
        info = {
            "context": self._context,
            "seed_label": seed_.label,
            "seed_category": seed_.category,
        }
        if self.render_mode == "human":
            self.render()
        return self._observations[self._context].copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play ``action``'s strategy, score the round with the game rules and end the episode."""
        if self._done or self._context is None:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if not self.action_space.contains(action):
            raise ValueError(
                f"Expects action to be an int in [0, {len(self.strategies)}) "
                f"(one of {list(self.strategies)}), actual: {action!r}"
            )
        strategy = self.strategies[int(action)]
        reward, info = self._play(self._context, strategy)
        seed_ = self.context_seeds[self._context]
        info.update(
            context=self._context,
            strategy=strategy,
            seed_label=seed_.label,
            seed_category=seed_.category,
            reward_valid=reward is not None,
        )
        self.last_strategy = strategy
        self._done = True
        if self.render_mode == "human":
            self.render()
        value = self.excluded_reward if reward is None else float(reward)
        return self._observations[self._context].copy(), value, True, False, info

    def _play(self, context: int, strategy: str) -> tuple[float | None, dict[str, Any]]:
        """Play one round; return the reward (``None`` when excluded) and the step info."""
        raise NotImplementedError

    def _pending_node(self, context: int) -> SeedNode:
        """Return the round before the step (attack known, no response yet), for rendering."""
        raise NotImplementedError

    def render(self) -> str | None:
        """Return the last round as text (``"ansi"``) or print it (``"human"``).

        The seed, attack and response of a harmful round are hidden unless the environment
        was built with ``show_harmful=True``.
        """
        if self.render_mode is None:
            logger.warning("render() called with render_mode=None; pass render_mode='ansi'")
            return None
        if self.last_node is None:
            return None
        phase = "done" if self._done else "awaiting strategy"
        lines = round_lines(self.last_node, phase, self.show_harmful)
        lines.insert(2, f"strategy: {self.last_strategy or 'none yet'}")
        text = "\n".join(lines)
        if self.render_mode == "ansi":
            return text
        from rich.console import Console
        from rich.panel import Panel
        from rich.text import Text

        style = "red" if self.last_node.seed.is_harmful else "green"
        Console().print(Panel(Text(text), title=type(self).__name__, border_style=style))
        return None


# -- argument checks -----------------------------------------------------------------------


def _check_seeds(seeds: Sequence[Seed] | None) -> list[Seed]:
    if seeds is None:
        from advgame.envs.seeds import load_default_seeds

        return load_default_seeds()
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise ConfigError(
            f"Expects seeds to be a list of Seed, actual: {type(seeds).__name__}; load them "
            "with advgame.envs.seeds.load_seeds"
        )
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("Expects at least one seed, actual: an empty list; pass seeds=None")
    wrong = [i for i, s in enumerate(seeds) if not isinstance(s, Seed)]
    if wrong:
        raise ConfigError(
            f"Expects every seed to be an advgame Seed, actual: {type(seeds[wrong[0]]).__name__} "
            f"at index {wrong[0]}; build them with Seed(text, label)"
        )
    return seeds


def _check_reward_mode(game: Game, reward_mode: str) -> None:
    needed = PointwiseJudge if reward_mode == "pointwise" else PairwiseJudge
    for role in ("defender", "attacker"):
        judge = getattr(game.judges, role)
        if not isinstance(judge, needed):
            other = "pairwise" if reward_mode == "pointwise" else "pointwise"
            raise ConfigError(
                f"Expects the {role} judge to be a {needed.__name__} for "
                f"reward_mode={reward_mode!r}, actual: {type(judge).__name__}; pass "
                f"reward_mode={other!r} or another judge"
            )


def check_policy(policy: Any, argument: str) -> Policy:
    """Return ``policy`` after checking that it has a ``generate`` method."""
    if not isinstance(policy, Policy):
        raise ConfigError(
            f"Expects {argument} to be an advgame Policy (an object with "
            f"generate(prompts, num_samples)), actual: {type(policy).__name__}"
        )
    return policy


def one_completion(samples: Any, role: str) -> Completion:
    """Return the single completion of a one-prompt, one-sample ``generate`` result."""
    if not (isinstance(samples, Sequence) and len(samples) == 1 and len(samples[0]) == 1):
        raise RuntimeError(
            f"the {role} policy returned {samples!r:.200} for 1 prompt × 1 sample; "
            "Policy.generate must return one list of num_samples completions per prompt"
        )
    return as_response(samples[0][0], role)


def as_response(value: Any, role: str) -> Completion:
    """Wrap a string as a :class:`Completion`; pass completions through."""
    if isinstance(value, Completion):
        return value
    if isinstance(value, str):
        return Completion(text=value)
    raise TypeError(
        f"Expects the {role} to return a str or a Completion, actual: {type(value).__name__}"
    )


def _default_judge() -> Any:
    from advgame.judges.rule import RuleJudge

    return RuleJudge()
