"""Sampling settings of one player."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from advgame.errors import ConfigError


@dataclass
class SamplingConfig:
    """How a player samples completions.

    Attributes:
        temperature: softmax temperature; 0 means greedy decoding.
        top_p: nucleus sampling mass in (0, 1].
        max_new_tokens: token limit per completion; a completion that reaches it without
            ending its turn is a ``max_length`` error in the game.
        batch_size: prompts per generation micro-batch (lower it when memory is short).
        stop_strings: generation also ends after any of these strings; the string is kept
            in the completion, and a completion that ends this way is not truncated.
    """

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 256
    batch_size: int = 32
    stop_strings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ConfigError(
                f"Expects temperature >= 0, actual: {self.temperature!r}; use 0 for greedy"
            )
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ConfigError(f"Expects top_p in (0, 1], actual: {self.top_p!r}")
        for name in ("max_new_tokens", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"Expects {name} to be a positive int, actual: {value!r}")

        if isinstance(self.stop_strings, str) or not all(
            isinstance(s, str) and s for s in self.stop_strings
        ):
            raise ConfigError(
                f"Expects stop_strings to be a list of non-empty strings, actual: "
                f"{self.stop_strings!r}"
            )
        self.stop_strings = tuple(self.stop_strings)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["stop_strings"] = list(self.stop_strings)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SamplingConfig:
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"Unknown sampling setting(s) {sorted(unknown)}; expected some of "
                f"{sorted(cls.__dataclass_fields__)}"
            )
        return cls(**values)
