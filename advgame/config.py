"""Run configuration for ``advgame train``: one YAML file or a named preset.

A run file has these top-level sections (every key is optional; see the presets in
``advgame/presets/`` for complete examples)::

    learner: dpo                 # a registered learner: dpo, ipo, grpo, ppo, ...
    steps: 12                    # training steps
    seed: 0
    output_dir: runs/cpu-dpo
    checkpoint_every: 4          # steps between checkpoints (0: only at the end)
    keep_checkpoints: 2          # older checkpoints are deleted
    judge: embedding             # a judge spec, see advgame.judges.factory
    seeds:
      train: builtin             # a seed source spec, see advgame.envs.seeds.load_seeds
      eval: null                 # held-out source; null splits it off the training seeds
      held_out: 0.2              # share or count split off when eval is null
    game: {attacker_format: nothink, reward_mode: pairwise, pair_order: both,
           optimistic_attacker: true}
    players:
      attacker: {model: default, response_prefix: "<prompt>", lora: null, ...}
      defender: {model: default, ...}
    learner_config: {...}        # LearnerConfig fields other than the players
    evaluation: {enabled: true, max_seeds: 32, judge: true}
    tensorboard: true            # also write TensorBoard logs when it is installed

Relative paths in a run file (``output_dir``, seed files, model folders) resolve against
the working directory, as paths on the command line do, not against the run file's folder.

Each player section mixes model settings (``model``, ``response_prefix``,
``system_prompt``, ``lora``, ``device``, ``dtype``, ``gradient_checkpointing``,
``freeze_embeddings``, ``autocast``) with the learner's
:class:`~advgame.agents.learners.config.PlayerConfig` fields.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from advgame.errors import ConfigError


class _RunFileLoader(yaml.SafeLoader):
    """YAML loader that also reads ``3e-5`` as a float (PyYAML alone needs ``3.0e-5``)."""


_RunFileLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(text: str) -> Any:
    """Parse YAML text the way run files are read."""
    return yaml.load(text, Loader=_RunFileLoader)


PLAYER_MODEL_KEYS: tuple[str, ...] = (
    "model",
    "response_prefix",
    "system_prompt",
    "lora",
    "device",
    "dtype",
    "gradient_checkpointing",
    "freeze_embeddings",
    "autocast",
)
_TOP_LEVEL = (
    "learner",
    "steps",
    "seed",
    "output_dir",
    "checkpoint_every",
    "keep_checkpoints",
    "judge",
    "seeds",
    "game",
    "players",
    "learner_config",
    "evaluation",
    "tensorboard",
)


@dataclass
class PlayerSpec:
    """How to build one player: model settings and learner settings."""

    model: str = "default"
    response_prefix: str = ""
    system_prompt: str | None = None
    lora: dict[str, Any] | None = None
    device: str = "cpu"
    dtype: str | None = None
    gradient_checkpointing: bool = False
    freeze_embeddings: bool = False
    autocast: str | None = None
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, role: str, values: dict[str, Any]) -> PlayerSpec:
        if not isinstance(values, dict):
            raise ConfigError(f"Expects players.{role} to be a mapping, actual: {values!r}")
        model_values = {k: v for k, v in values.items() if k in PLAYER_MODEL_KEYS}
        for key, value in model_values.items():
            kinds, description = _PLAYER_MODEL_TYPES[key]
            if not isinstance(value, kinds) or (key == "model" and not str(value).strip()):
                raise ConfigError(
                    f"Expects players.{role}.{key} to be {description}, actual: {value!r}"
                )
        training = {k: v for k, v in values.items() if k not in PLAYER_MODEL_KEYS}
        return cls(**model_values, training=training)


_PLAYER_MODEL_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "model": ((str,), "'default' or a local model folder"),
    "response_prefix": ((str,), "a string"),
    "system_prompt": ((str, type(None)), "a string or null"),
    "lora": ((dict, type(None)), "a mapping of LoRA settings or null"),
    "device": ((str,), "a torch device name such as cpu"),
    "dtype": ((str, type(None)), "a torch dtype name such as bfloat16, or null"),
    "gradient_checkpointing": ((bool,), "true or false"),
    "freeze_embeddings": ((bool,), "true or false"),
    "autocast": ((str, type(None)), "auto, a torch dtype name such as bfloat16, or null"),
}


@dataclass
class RunConfig:
    """A parsed run file; see the module docstring for the layout."""

    learner: str = "dpo"
    steps: int = 10
    seed: int = 0
    output_dir: str = "runs/advgame"
    checkpoint_every: int = 5
    keep_checkpoints: int = 2
    judge: Any = "embedding"
    train_seeds: Any = "builtin"
    eval_seeds: Any = None
    held_out: float | int = 0.2
    game: dict[str, Any] = field(default_factory=dict)
    attacker: PlayerSpec = field(default_factory=PlayerSpec)
    defender: PlayerSpec = field(default_factory=PlayerSpec)
    learner_config: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=lambda: {"enabled": True})
    tensorboard: bool = True
    source: str = "<dict>"

    def __post_init__(self) -> None:
        for name in ("steps", "checkpoint_every", "keep_checkpoints"):
            value = getattr(self, name)
            minimum = 1 if name == "steps" else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(
                    f"{self.source}: expects {name} to be an int >= {minimum}, actual: {value!r}"
                )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"{self.source}: expects seed to be an int, actual: {self.seed!r}")
        for name in ("learner", "output_dir"):
            value = getattr(self, name)
            if not isinstance(value, (str, Path)) or not str(value).strip():
                raise ConfigError(
                    f"{self.source}: expects {name} to be a non-empty string, actual: {value!r}"
                )
        if not isinstance(self.tensorboard, bool):
            raise ConfigError(
                f"{self.source}: expects tensorboard to be true or false, actual: "
                f"{self.tensorboard!r}"
            )
        for name in ("game", "learner_config", "evaluation"):
            value = getattr(self, name)
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{self.source}: expects {name} to be a mapping of settings, actual: "
                    f"{value!r}; write it as {name}: {{key: value}}"
                )
        max_seeds = self.evaluation.get("max_seeds")
        if max_seeds is not None and (
            not isinstance(max_seeds, int) or isinstance(max_seeds, bool) or max_seeds < 1
        ):
            raise ConfigError(
                f"{self.source}: expects evaluation.max_seeds to be a positive int or null, "
                f"actual: {max_seeds!r}"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "<dict>") -> RunConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expects a mapping at the top level, actual: {values!r}")
        unknown = sorted(set(values) - set(_TOP_LEVEL))
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) {unknown}; expected some of {sorted(_TOP_LEVEL)}"
            )
        seeds = values.get("seeds", {}) or {}
        if isinstance(seeds, (str, list)):
            seeds = {"train": seeds}
        if not isinstance(seeds, dict):
            raise ConfigError(
                f"{source}: expects seeds to be a source such as 'builtin', a list of sources "
                f"or a mapping with train, eval and held_out, actual: {seeds!r}"
            )
        unknown_seeds = sorted(set(seeds) - {"train", "eval", "held_out"})
        if unknown_seeds:
            raise ConfigError(
                f"{source}: unknown key(s) {unknown_seeds} under seeds; expected train, eval, "
                "held_out"
            )
        players = values.get("players", {}) or {}
        if not isinstance(players, dict):
            raise ConfigError(
                f"{source}: expects players to be a mapping with attacker and defender, "
                f"actual: {players!r}"
            )
        unknown_players = sorted(set(players) - {"attacker", "defender"})
        if unknown_players:
            raise ConfigError(
                f"{source}: unknown player(s) {unknown_players}; expected attacker and defender"
            )
        simple = {k: values[k] for k in _TOP_LEVEL if k in values}
        for key in ("seeds", "players"):
            simple.pop(key, None)
        for key in ("game", "learner_config", "evaluation"):
            # An empty YAML section (`game:` with nothing below it) reads as null.
            if key in simple and simple[key] is None:
                del simple[key]
        return cls(
            **simple,
            train_seeds=seeds.get("train", "builtin"),
            eval_seeds=seeds.get("eval"),
            held_out=seeds.get("held_out", 0.2),
            attacker=PlayerSpec.from_dict("attacker", players.get("attacker", {}) or {}),
            defender=PlayerSpec.from_dict("defender", players.get("defender", {}) or {}),
            source=source,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the run file contents that rebuild this configuration."""

        def player(spec: PlayerSpec) -> dict[str, Any]:
            values = {k: getattr(spec, k) for k in PLAYER_MODEL_KEYS}
            values.update(copy.deepcopy(spec.training))
            return values

        return {
            "learner": self.learner,
            "steps": self.steps,
            "seed": self.seed,
            "output_dir": self.output_dir,
            "checkpoint_every": self.checkpoint_every,
            "keep_checkpoints": self.keep_checkpoints,
            "judge": copy.deepcopy(self.judge),
            "seeds": {
                "train": self.train_seeds,
                "eval": self.eval_seeds,
                "held_out": self.held_out,
            },
            "game": dict(self.game),
            "players": {"attacker": player(self.attacker), "defender": player(self.defender)},
            "learner_config": copy.deepcopy(self.learner_config),
            "evaluation": dict(self.evaluation),
            "tensorboard": self.tensorboard,
        }


def preset_names() -> list[str]:
    """Return the names of the preset run files shipped with advgame."""
    folder = resources.files("advgame").joinpath("presets")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_run_config(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load a run file by path, or a preset by name (see :func:`preset_names`)."""
    path = Path(name_or_path)
    if path.is_file():
        text, source = path.read_text(encoding="utf-8"), str(path)
    elif str(name_or_path) in preset_names():
        preset = resources.files("advgame") / "presets" / f"{name_or_path}.yaml"
        text, source = preset.read_text(encoding="utf-8"), f"preset {name_or_path}"
    else:
        raise ConfigError(
            f"Expects a run file path or a preset name, actual: {str(name_or_path)!r}; "
            f"presets: {', '.join(preset_names())}"
        )
    try:
        values = read_yaml(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None
    if overrides:
        values = merge_dicts(values, overrides)
    return RunConfig.from_dict(values, source=source)


def merge_dicts(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``a.b.c=value`` into ``{"a": {"b": {"c": value}}}``, the value read as YAML."""
    if "=" not in text:
        raise ConfigError(f"Expects an override KEY=VALUE such as steps=3, actual: {text!r}")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"Expects a key before '=' in the override, actual: {text!r}")
    value: Any = read_yaml(raw)
    for part in reversed(parts):
        value = {part: value}
    return value
