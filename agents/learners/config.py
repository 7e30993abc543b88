"""Settings of a learner run: one :class:`PlayerConfig` per player and a :class:`LearnerConfig`.

Both are dataclasses with one help line per field and validation in ``__post_init__``.
:meth:`LearnerConfig.to_dict` and :meth:`LearnerConfig.from_dict` round-trip through plain
nested dicts (for YAML files); unknown keys raise :class:`~advgame.errors.ConfigError`.

The defaults follow the AdvGame recipe for 7B models (Paulus et al., "Safety Alignment of
LMs via Non-cooperative Games", arXiv 2512.20806) except the learning rate, which has no
default because it depends on the model size.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal

from advgame.agents.sampling import SamplingConfig
from advgame.errors import ConfigError

ROLES: tuple[str, str] = ("attacker", "defender")

GrpoBaseline = Literal["batch", "group"]
GRPO_BASELINES: tuple[str, ...] = ("batch", "group")


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        kind = "a non-negative int" if allow_zero else "a positive int"
        raise ConfigError(f"Expects {name} to be {kind}, actual: {value!r}")


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _FieldHelp:
    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Return the help line of every field, by field name."""
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}  # type: ignore[arg-type]


@dataclass
class PlayerConfig(_FieldHelp):
    """Optimisation and sampling settings of one player (attacker or defender).

    Every field has a help line in its metadata; :meth:`field_help` returns them all.
    """

    lr: float = field(
        metadata={
            "help": (
                "Peak AdamW learning rate. The AdvGame recipe uses 1e-6 for 7B models; "
                "the 135M embedded model needs about 1e-5 to 3e-5 to move within a few "
                "dozen steps."
            )
        }
    )
    betas: tuple[float, float] = field(
        default=(0.9, 0.95), metadata={"help": "AdamW (beta1, beta2)."}
    )
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW decoupled weight decay."})
    grad_clip: float = field(
        default=1.0, metadata={"help": "Maximum global gradient norm per optimizer step."}
    )
    lr_final_ratio: float = field(
        default=0.2, metadata={"help": "The cosine schedule ends at lr * lr_final_ratio."}
    )
    warmup_steps: int = field(
        default=0, metadata={"help": "Learner steps of linear warm-up from 0 to lr."}
    )
    beta: float = field(
        default=0.1,
        metadata={
            "help": (
                "DPO/IPO inverse temperature, or the KL coefficient of GRPO and PPO (0 "
                "turns the KL penalty off)."
            )
        },
    )
    group_size: int = field(
        default=2,
        metadata={
            "help": (
                "Samples per group: A attacks per seed for the attacker, D responses per "
                "attack for the defender."
            )
        },
    )
    sampling: SamplingConfig | None = field(
        default=None,
        metadata={
            "help": (
                "Sampling settings for this player's rollouts; null keeps the agent's own"
                " LMAgent.sampling."
            )
        },
    )
    frozen: bool = field(
        default=False,
        metadata={"help": "Never update this player (defender-only or attacker-only baselines)."},
    )
    micro_batch_size: int = field(
        default=8,
        metadata={
            "help": (
                "Sequences per forward/backward pass. Gradients accumulate over "
                "micro-batches, so it changes memory use, not the update."
            )
        },
    )

    def __post_init__(self) -> None:
        if not _real(self.lr) or self.lr <= 0:
            raise ConfigError(f"Expects lr > 0, actual: {self.lr!r}; for example lr: 1.0e-5")

        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else None
        if betas is None or len(betas) != 2 or not all(_real(b) and 0 <= b < 1 for b in betas):
            raise ConfigError(
                f"Expects betas to be two numbers in [0, 1), actual: {self.betas!r}; "
                "for example betas: [0.9, 0.95]"
            )
        self.betas = (float(betas[0]), float(betas[1]))

        if not _real(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"Expects weight_decay >= 0, actual: {self.weight_decay!r}")
        if not _real(self.grad_clip) or self.grad_clip <= 0:
            raise ConfigError(
                f"Expects grad_clip > 0, actual: {self.grad_clip!r}; use a large value such as "
                "1.0e9 to leave gradients unclipped"
            )
        if not _real(self.lr_final_ratio) or not 0 <= self.lr_final_ratio <= 1:
            raise ConfigError(
                f"Expects lr_final_ratio in [0, 1], actual: {self.lr_final_ratio!r}; "
                "use 1.0 for a constant learning rate"
            )
        _positive_int("warmup_steps", self.warmup_steps, allow_zero=True)
        if not _real(self.beta) or self.beta < 0:
            raise ConfigError(f"Expects beta >= 0, actual: {self.beta!r}")
        _positive_int("group_size", self.group_size)
        _positive_int("micro_batch_size", self.micro_batch_size)

        if isinstance(self.sampling, dict):
            self.sampling = SamplingConfig.from_dict(self.sampling)
        if self.sampling is not None and not isinstance(self.sampling, SamplingConfig):
            raise ConfigError(
                f"Expects sampling to be a SamplingConfig, a dict or None, actual: "
                f"{type(self.sampling).__name__}"
            )
        if not isinstance(self.frozen, bool):
            raise ConfigError(f"Expects frozen to be true or false, actual: {self.frozen!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (lists instead of tuples)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["betas"] = list(self.betas)
        values["sampling"] = self.sampling.to_dict() if self.sampling is not None else None
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "player") -> PlayerConfig:
        """Build a config from :meth:`to_dict` output; ``where`` names it in errors."""
        _check_keys(cls, values, where)
        return cls(**values)


@dataclass
class LearnerConfig(_FieldHelp):
    """Settings of a learner run shared by both players, plus algorithm-specific settings.

    Fields prefixed ``grpo_`` or ``ppo_`` apply to that learner only. Every field has a help
    line in its metadata; :meth:`field_help` returns them all.
    """

    attacker: PlayerConfig = field(metadata={"help": "The attacker's settings."})
    defender: PlayerConfig = field(metadata={"help": "The defender's settings."})
    total_steps: int = field(
        metadata={"help": "Planned learner steps; the cosine schedule reaches its final rate here."}
    )
    harmful_batch: int = field(
        metadata={"help": "Harmful seeds per step; they form their own batch and update."}
    )
    benign_batch: int = field(
        metadata={"help": "Benign seeds per step; they form their own batch and update."}
    )
    ema_decay: float = field(
        default=0.95,
        metadata={"help": "AdvGame-DPO/IPO: decay of each player's EMA copy per learner step."},
    )
    seed: int = field(
        default=0,
        metadata={"help": "Seed of the learner's RNG (seed batches, pair order, PPO minibatches)."},
    )
    train_on_errors: bool = field(
        default=False,
        metadata={
            "help": (
                "GRPO/PPO: let samples with reward -1 (parse error, truncation, "
                "unfaithful attack) enter the loss. The AdvGame GRPO recipe leaves them "
                "out. DPO/IPO always pair them, because an error is a valid worst sample."
            )
        },
    )
    grpo_baseline: GrpoBaseline = field(
        default="batch",
        metadata={
            "help": (
                "'batch' subtracts the mean reward of the player's batch (the AdvGame "
                "recipe); 'group' subtracts the mean of each sample's own group."
            )
        },
    )
    grpo_ratio_cap: float = field(
        default=2.0,
        metadata={
            "help": (
                "Upper cap on the detached per-token importance ratio between policy and sampler."
            )
        },
    )
    ppo_epochs: int = field(default=2, metadata={"help": "Passes over each batch."})
    ppo_minibatch_size: int = field(
        default=8, metadata={"help": "Sequences per PPO optimizer step."}
    )
    ppo_clip_eps: float = field(
        default=0.2, metadata={"help": "Clipping range of the PPO ratio, [1 - eps, 1 + eps]."}
    )
    ppo_gamma: float = field(default=1.0, metadata={"help": "Discount per completion token."})
    ppo_gae_lambda: float = field(default=0.95, metadata={"help": "GAE lambda."})
    ppo_value_coef: float = field(default=0.5, metadata={"help": "Weight of the value loss."})
    ppo_value_lr: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the value head; null uses the player's lr."},
    )
    ppo_whiten_advantages: bool = field(
        default=True,
        metadata={"help": "Normalise advantages to zero mean and unit variance per batch."},
    )

    def __post_init__(self) -> None:
        for role in ROLES:
            value = getattr(self, role)
            if isinstance(value, dict):
                value = PlayerConfig.from_dict(value, role)
                setattr(self, role, value)
            if not isinstance(value, PlayerConfig):
                raise ConfigError(
                    f"Expects {role} to be a PlayerConfig or a dict of its fields, actual: "
                    f"{type(value).__name__}"
                )
        _positive_int("total_steps", self.total_steps)
        _positive_int("harmful_batch", self.harmful_batch, allow_zero=True)
        _positive_int("benign_batch", self.benign_batch, allow_zero=True)
        if self.harmful_batch + self.benign_batch == 0:
            raise ConfigError(
                "Expects harmful_batch + benign_batch >= 1, actual: 0; set at least one of them"
            )
        for role in ROLES:
            warmup = getattr(self, role).warmup_steps
            if warmup >= self.total_steps:
                raise ConfigError(
                    f"Expects {role}.warmup_steps < total_steps, actual: {warmup} >= "
                    f"{self.total_steps}; shorten the warm-up or raise total_steps"
                )
        if not _real(self.ema_decay) or not 0 <= self.ema_decay < 1:
            raise ConfigError(f"Expects ema_decay in [0, 1), actual: {self.ema_decay!r}")
        _positive_int("seed", self.seed, allow_zero=True)
        self._check_algorithm_fields()

    def _check_algorithm_fields(self) -> None:
        if not isinstance(self.train_on_errors, bool):
            raise ConfigError(
                f"Expects train_on_errors to be true or false, actual: {self.train_on_errors!r}"
            )
        if self.grpo_baseline not in GRPO_BASELINES:
            raise ConfigError(
                f"Expects grpo_baseline in {GRPO_BASELINES}, actual: {self.grpo_baseline!r}"
            )
        if not _real(self.grpo_ratio_cap) or self.grpo_ratio_cap < 1:
            raise ConfigError(
                f"Expects grpo_ratio_cap >= 1, actual: {self.grpo_ratio_cap!r}; 2.0 is typical"
            )
        _positive_int("ppo_epochs", self.ppo_epochs)
        _positive_int("ppo_minibatch_size", self.ppo_minibatch_size)
        if not _real(self.ppo_clip_eps) or not 0 < self.ppo_clip_eps < 1:
            raise ConfigError(f"Expects ppo_clip_eps in (0, 1), actual: {self.ppo_clip_eps!r}")
        for name in ("ppo_gamma", "ppo_gae_lambda"):
            value = getattr(self, name)
            if not _real(value) or not 0 <= value <= 1:
                raise ConfigError(f"Expects {name} in [0, 1], actual: {value!r}")
        if not _real(self.ppo_value_coef) or self.ppo_value_coef < 0:
            raise ConfigError(f"Expects ppo_value_coef >= 0, actual: {self.ppo_value_coef!r}")
        if self.ppo_value_lr is not None and (
            not _real(self.ppo_value_lr) or self.ppo_value_lr <= 0
        ):
            raise ConfigError(
                f"Expects ppo_value_lr > 0 or null, actual: {self.ppo_value_lr!r}; "
                "null uses the player's lr"
            )
        if not isinstance(self.ppo_whiten_advantages, bool):
            raise ConfigError(
                f"Expects ppo_whiten_advantages to be true or false, actual: "
                f"{self.ppo_whiten_advantages!r}"
            )

    def player(self, role: str) -> PlayerConfig:
        """Return the settings of ``role`` (``"attacker"`` or ``"defender"``)."""
        if role not in ROLES:
            raise ConfigError(f"Expects role 'attacker' or 'defender', actual: {role!r}")
        return getattr(self, role)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as nested plain dicts, ready for YAML or JSON."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for role in ROLES:
            values[role] = getattr(self, role).to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LearnerConfig:
        """Build a config from nested dicts such as :meth:`to_dict` output or a YAML file."""
        if not isinstance(values, dict):
            raise ConfigError(
                f"Expects the learner settings to be a mapping, actual: {type(values).__name__}"
            )
        _check_keys(cls, values, "learner")
        values = dict(values)
        for role in ROLES:
            if isinstance(values.get(role), dict):
                values[role] = PlayerConfig.from_dict(values[role], role)
        return cls(**values)

    def replace(self, **changes: Any) -> LearnerConfig:
        """Return a copy with ``changes`` applied and validated."""
        values = self.to_dict()
        values.update(changes)
        return LearnerConfig.from_dict(values)


def _check_keys(cls: type, values: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(cls)}
    required = {
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    }
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"Unknown {where} setting(s) {unknown}; expected some of {sorted(known)}")
    missing = sorted(required - set(values))
    if missing:
        raise ConfigError(f"Missing {where} setting(s) {missing}; add them to the config")


__all__ = ["GRPO_BASELINES", "ROLES", "LearnerConfig", "PlayerConfig"]
