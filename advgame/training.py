"""``advgame train``: build a run from its configuration, train, checkpoint and evaluate.

A run folder contains ``config.yaml`` (the resolved configuration), ``metrics.jsonl``,
``checkpoints/step-NNNNNN/`` (written atomically by the learner), ``final/attacker`` and
``final/defender`` (loadable with :meth:`advgame.agents.LMAgent.load`), and
``eval_before.json`` / ``eval_after.json`` with the held-out evaluation. ``--resume``
continues from the newest checkpoint and reproduces the metrics of an uninterrupted run.
Ctrl-C finishes the current step, saves a checkpoint and exits; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from advgame.config import RunConfig, read_yaml
from advgame.errors import ConfigError

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"


@dataclass
class RunParts:
    """Everything a run builds from its configuration."""

    learner: Any
    attacker: Any
    defender: Any
    train_seeds: list[Any]
    eval_seeds: list[Any]
    judge: Any


def build_run(config: RunConfig) -> RunParts:
    """Load seeds, judge, both players and the learner named in ``config``."""
    from advgame.agents.learners.config import LearnerConfig
    from advgame.agents.learners.registry import learner_class, make_learner
    from advgame.agents.lm_agent import LMAgent
    from advgame.envs.game import Game
    from advgame.envs.seeds import load_seeds, split_seeds
    from advgame.judges.factory import make_judge

    # Settings that fail only when used are checked here, before any model loads.
    learner_class(config.learner)
    _check_options(Game, "game", config.game, skip=1)
    seeds = load_seeds(config.train_seeds)
    if config.eval_seeds is not None:
        train_seeds, eval_seeds = seeds, load_seeds(config.eval_seeds)
    elif config.held_out:
        train_seeds, eval_seeds = split_seeds(seeds, held_out=config.held_out, seed=config.seed)
    else:
        train_seeds, eval_seeds = seeds, []
    limit = config.evaluation.get("max_seeds")
    if limit is not None:
        eval_seeds = _balanced_head(eval_seeds, int(limit))

    learner_values = dict(config.learner_config)
    learner_values.update(
        attacker=config.attacker.training,
        defender=config.defender.training,
        total_steps=config.steps,
        seed=config.seed,
    )
    learner_config = LearnerConfig.from_dict(learner_values)

    judge = make_judge(config.judge)
    game = Game(judge, **config.game)
    players = []
    for offset, (spec, player_config) in enumerate(
        ((config.attacker, learner_config.attacker), (config.defender, learner_config.defender))
    ):
        players.append(
            LMAgent(
                spec.model,
                sampling=player_config.sampling,
                system_prompt=spec.system_prompt,
                response_prefix=spec.response_prefix,
                device=spec.device,
                dtype=_torch_dtype(spec.dtype),
                lora=spec.lora,
                seed=config.seed + offset,
                gradient_checkpointing=spec.gradient_checkpointing,
                freeze_embeddings=spec.freeze_embeddings,
                autocast=spec.autocast,
            )
        )
    attacker, defender = players
    learner = make_learner(config.learner, game, attacker, defender, train_seeds, learner_config)
    return RunParts(learner, attacker, defender, train_seeds, eval_seeds, judge)


def _check_options(factory: Any, section: str, options: dict[str, Any], skip: int = 0) -> None:
    """Raise unless ``factory`` takes the keyword ``options`` after ``skip`` positional ones."""
    parameters = list(inspect.signature(factory).parameters.values())[skip:]
    accepted = {p.name for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"Unknown {section} setting(s) {unknown}; expected some of {sorted(accepted)}"
        )


def _torch_dtype(name: str | None) -> Any:
    if name is None:
        return None
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(f"Expects dtype to name a torch dtype such as bfloat16, actual: {name!r}")
    return dtype


def _balanced_head(seeds: list[Any], limit: int) -> list[Any]:
    """Return at most ``limit`` seeds, half harmful and half benign where possible."""
    harmful = [s for s in seeds if s.is_harmful]
    benign = [s for s in seeds if not s.is_harmful]
    half = limit // 2
    take_harmful = min(len(harmful), max(half, limit - len(benign)))
    return harmful[:take_harmful] + benign[: limit - take_harmful]


def checkpoints(out_dir: Path) -> list[Path]:
    """Return the run's checkpoint folders, oldest first."""
    folder = out_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)
    )


def save_config(config: RunConfig, out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"Expects output_dir to be a folder that can be created, actual: {out_dir} "
            f"({error.strerror}); choose another output_dir"
        ) from None
    (out_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def check_resumable(config: RunConfig, out_dir: Path) -> None:
    """Raise unless ``out_dir`` contains a run with the same settings (steps may grow)."""
    saved_file = out_dir / "config.yaml"
    if not saved_file.is_file() or not checkpoints(out_dir):
        raise ConfigError(
            f"--resume needs a checkpoint in {out_dir}/checkpoints, actual: none; run without "
            "--resume to start, or set output_dir to the run you want to continue"
        )
    try:
        saved = read_yaml(saved_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        saved = error
    if not isinstance(saved, dict):
        raise ConfigError(
            f"Expects {saved_file} to hold the run's settings as a YAML mapping, actual: "
            f"{type(saved).__name__}; restore it from the config file you started the run with"
        )
    current = config.to_dict()
    saved.pop("steps", None)
    current.pop("steps", None)
    changed = sorted(k for k in current if current[k] != saved.get(k))
    if changed:
        raise ConfigError(
            f"cannot resume {out_dir}: setting(s) {changed} differ from the saved config.yaml; "
            "resume with the same configuration or choose a new output_dir"
        )


class StopRequest:
    """SIGINT handler: the first Ctrl-C requests a stop after the current step."""

    def __init__(self, on_request: Callable[[], None] | None = None) -> None:
        self.requested = False
        self._on_request = on_request
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        # Python installs signal handlers from the main thread only; a run started in another
        # thread keeps the default Ctrl-C behaviour.
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self._on_request is not None:
            self._on_request()


def save_checkpoint(learner: Any, out_dir: Path, keep: int) -> Path:
    """Write a checkpoint for the learner's current step and delete the oldest extras."""
    path = out_dir / "checkpoints" / f"{CHECKPOINT_PREFIX}{learner.step_count:06d}"
    if path.exists():
        return path
    # A process killed while saving leaves a hidden staging folder that is never loaded;
    # the next save removes it.
    for stale in path.parent.glob(f".{CHECKPOINT_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    learner.save_checkpoint(path)
    if keep:
        for old in checkpoints(out_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    logger.info("saved checkpoint %s", path)
    return path


def write_json(path: Path, payload: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=2, allow_nan=True))
    temporary.replace(path)
