"""Learners by name: ``register_learner`` adds one, ``make_learner`` builds one.

The built-in learners are ``"dpo"`` (AdvGame-DPO), ``"ipo"`` (AdvGame-IPO), ``"grpo"`` and
``"ppo"``. A third-party learner registers itself with the decorator::

    @register_learner("my_method")
    class MyLearner(Learner):
        def train_batch(self, player, nodes): ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from advgame.errors import ConfigError

if TYPE_CHECKING:
    from advgame.agents.learners.base import Learner
    from advgame.agents.learners.config import LearnerConfig
    from advgame.agents.lm_agent import LMAgent
    from advgame.envs.game import Game
    from advgame.envs.seeds.base import Seed

_REGISTRY: dict[str, type[Learner]] = {}
_BUILTIN_MODULES = (
    "advgame.agents.learners.dpo",
    "advgame.agents.learners.grpo",
    "advgame.agents.learners.ppo",
)

LearnerType = TypeVar("LearnerType", bound="type[Learner]")


def register_learner(name: str) -> Callable[[LearnerType], LearnerType]:
    """Return a class decorator that registers a :class:`Learner` subclass as ``name``.

    The decorator also sets the class's ``name`` attribute. Registering a second class
    under a taken name raises :class:`~advgame.errors.ConfigError`.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"Expects a learner name to be a non-empty string, actual: {name!r}")

    def decorator(cls: LearnerType) -> LearnerType:
        from advgame.agents.learners.base import Learner

        if not (isinstance(cls, type) and issubclass(cls, Learner)):
            raise ConfigError(
                f"Expects register_learner({name!r}) to decorate a Learner subclass, "
                f"actual: {cls!r}"
            )
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ConfigError(
                f"Expects a new learner name, actual: {name!r} is taken by "
                f"{existing.__module__}.{existing.__qualname__}; choose another name"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available_learners() -> list[str]:
    """Return the registered learner names, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def learner_class(name: str) -> type[Learner]:
    """Return the class registered as ``name``."""
    _load_builtins()
    if name not in _REGISTRY:
        raise ConfigError(
            f"Unknown learner {name!r}; expected one of {sorted(_REGISTRY)}, or register "
            "your own with @register_learner"
        )
    return _REGISTRY[name]


def make_learner(
    name: str,
    game: Game,
    attacker: LMAgent,
    defender: LMAgent,
    seeds: Sequence[Seed],
    config: LearnerConfig,
) -> Learner:
    """Build the learner registered as ``name``; see :class:`Learner` for the arguments."""
    return learner_class(name)(game, attacker, defender, seeds, config)
