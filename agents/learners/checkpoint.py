"""Learner checkpoints that continue a run exactly.

Layout of a checkpoint folder::

    learner.json              learner name, step, config, numpy RNG states, judge counts
    torch_rng.pt              torch CPU (and CUDA) RNG states
    attacker/weights.safetensors    trainable parameters (all weights, or the LoRA adapter)
    attacker/ema.safetensors        EMA copy (AdvGame-DPO/IPO)
    attacker/reference.safetensors  frozen reference weights (GRPO/PPO with beta > 0)
    attacker/modules.safetensors    extra modules such as the PPO value head
    attacker/optimizer.pt           optimizer and scheduler state
    defender/...                    the same for the defender

A frozen player has no folder: its weights never change. Frozen parameters of a trained
player (the base weights under LoRA) are not saved either, so a checkpoint loads into a
learner built from the same initial models. The folder is written under a temporary name
and renamed into place, so an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from advgame.agents.learners.config import ROLES, LearnerConfig
from advgame.agents.learners.weights import parameter_state, trainable_named_parameters
from advgame.errors import ConfigError
from advgame.judges.base import JudgeStats

if TYPE_CHECKING:
    from advgame.agents.learners.base import Learner, Player

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
STATE_FILE = "learner.json"

T = TypeVar("T")


def save_checkpoint(learner: Learner, path: Path) -> Path:
    """Write ``learner``'s state to the folder ``path`` (replaced if it exists)."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        _write(learner, staging)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            path.rename(old / path.name)
            staging.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("saved checkpoint of step %d to %s", learner.step_count, path)
    return path


def _write(learner: Learner, folder: Path) -> None:
    state = {
        "format": CHECKPOINT_FORMAT,
        "learner": learner.name,
        "step": learner.step_count,
        "config": learner.config.to_dict(),
        "rng": learner.rng.bit_generator.state,
        "agent_rngs": {
            role: _agent_rng_state(player.agent) for role, player in learner.players.items()
        },
        "judges": {role: vars(judge.stats) for role, judge in learner.game.judges.judges().items()},
    }
    (folder / STATE_FILE).write_text(json.dumps(state, indent=2))
    rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, folder / "torch_rng.pt")
    for role, player in learner.players.items():
        if not player.frozen:
            _write_player(player, folder / role)


def _write_player(player: Player, folder: Path) -> None:
    folder.mkdir()
    save_file(
        parameter_state(trainable_named_parameters(player.agent.model)),
        folder / "weights.safetensors",
    )
    if player.ema is not None:
        save_file(player.ema.state_dict(), folder / "ema.safetensors")
    if player.reference is not None:
        save_file(player.reference.state_dict(), folder / "reference.safetensors")
    if player.modules:
        modules = {
            f"{name}.{key}": tensor.detach().contiguous()
            for name, module in player.modules.items()
            for key, tensor in module.state_dict().items()
        }
        save_file(modules, folder / "modules.safetensors")
    assert player.optimizer is not None and player.scheduler is not None
    torch.save(
        {"optimizer": player.optimizer.state_dict(), "scheduler": player.scheduler.state_dict()},
        folder / "optimizer.pt",
    )


def read_checkpoint_state(path: str | Path) -> dict[str, Any]:
    """Return the contents of a checkpoint's ``learner.json`` (name, step, config, ...)."""
    state_file = Path(path).expanduser() / STATE_FILE
    if not state_file.is_file():
        raise ConfigError(
            f"Expects a learner checkpoint folder containing {STATE_FILE}, actual: "
            f"{state_file} is missing; pass a folder written by Learner.save_checkpoint()"
        )
    try:
        state = json.loads(state_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"Expects {state_file} to be valid JSON, actual: {error}; the checkpoint is "
            f"damaged, so delete {state_file.parent} and resume from an older checkpoint"
        ) from None
    found = state.get("format") if isinstance(state, dict) else state
    if found != CHECKPOINT_FORMAT:
        raise ConfigError(
            f"Expects checkpoint format {CHECKPOINT_FORMAT}, actual: {found!r} in {state_file}"
        )
    return state


def read_checkpoint_config(path: str | Path) -> LearnerConfig:
    """Return the :class:`LearnerConfig` stored in a checkpoint."""
    return LearnerConfig.from_dict(read_checkpoint_state(path)["config"])


def load_checkpoint(learner: Learner, path: Path) -> None:
    """Restore ``learner`` from the folder ``path`` written by :func:`save_checkpoint`."""
    path = path.expanduser()
    state = read_checkpoint_state(path)
    if state["learner"] != learner.name:
        raise ConfigError(
            f"Expects a checkpoint of learner {learner.name!r}, actual: {state['learner']!r} "
            f"in {path}; build the learner with make_learner({state['learner']!r}, ...)"
        )
    _warn_config_changes(state["config"], learner.config.to_dict())
    for role in ROLES:
        player = learner.players[role]
        if player.frozen:
            continue
        folder = path / role
        if not folder.is_dir():
            raise ConfigError(
                f"Expects {folder} with the {role}'s weights, actual: missing; the checkpoint "
                f"was written with a frozen {role}, so build the learner with "
                f"{role}.frozen: true"
            )
        _read_damage_checked(functools.partial(_read_player, player, folder), folder)

    learner.rng.bit_generator.state = state["rng"]
    for role, rng_state in state["agent_rngs"].items():
        rng = getattr(learner.players[role].agent, "_rng", None)
        if rng is not None and rng_state is not None:
            rng.bit_generator.state = rng_state
    for role, judge in learner.game.judges.judges().items():
        if role in state["judges"]:
            judge.stats = JudgeStats(**state["judges"][role])
    torch_rng = _read_damage_checked(
        lambda: torch.load(path / "torch_rng.pt", weights_only=True), path
    )
    torch.set_rng_state(torch_rng["cpu"])
    if "cuda" in torch_rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(torch_rng["cuda"])
    learner._step_count = int(state["step"])
    logger.info("loaded checkpoint of step %d from %s", learner.step_count, path)


def _read_damage_checked(read: Callable[[], T], folder: Path) -> T:
    """Return ``read()``; a truncated or garbled file becomes a :class:`ConfigError`."""
    try:
        return read()
    except ConfigError:
        raise
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, SafetensorError) as error:
        raise ConfigError(
            f"Expects the checkpoint files in {folder} to be complete, actual: "
            f"{type(error).__name__}: {str(error)[:200]}; the checkpoint is damaged, so delete "
            "its folder and resume from an older checkpoint"
        ) from error


def _read_player(player: Player, folder: Path) -> None:
    device = next(player.agent.model.parameters()).device
    saved = load_file(folder / "weights.safetensors", device=str(device))
    params = trainable_named_parameters(player.agent.model)
    if saved.keys() != params.keys():
        diff = sorted(set(saved) ^ set(params))[:5]
        raise ConfigError(
            f"Expects the checkpoint's {player.role} weights to match the model's trainable "
            f"parameters, actual: differences such as {diff}; build the learner from the "
            "same models (and LoRA settings) as the run that wrote the checkpoint"
        )
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(saved[name])
    for shadow, file in ((player.ema, "ema"), (player.reference, "reference")):
        if shadow is not None:
            shadow.load_state_dict(load_file(folder / f"{file}.safetensors", device=str(device)))
    if player.modules:
        tensors = load_file(folder / "modules.safetensors", device=str(device))
        for name, module in player.modules.items():
            prefix = f"{name}."
            module.load_state_dict(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            )
    assert player.optimizer is not None and player.scheduler is not None
    states = torch.load(folder / "optimizer.pt", map_location=device, weights_only=True)
    player.optimizer.load_state_dict(states["optimizer"])
    player.scheduler.load_state_dict(states["scheduler"])


def _agent_rng_state(agent: Any) -> dict[str, Any] | None:
    # NOTE: LMAgent keeps its sampling RNG in the private attribute `_rng`; agents without
    # one (or with another RNG type) are not restored.
    rng = getattr(agent, "_rng", None)
    return dict(rng.bit_generator.state) if isinstance(rng, np.random.Generator) else None


def _warn_config_changes(saved: dict[str, Any], current: dict[str, Any]) -> None:
    changed = sorted(_diff(saved, current))
    if changed:
        logger.warning(
            "the learner config differs from the checkpoint's in %s; continuing with the "
            "current values",
            changed,
        )


def _diff(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set(saved) | set(current)
    changed: set[str] = set()
    for key in keys:
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed |= _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.add(f"{prefix}{key}")
    return changed
