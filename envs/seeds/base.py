"""The seed request type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SeedLabel = Literal["harmful", "benign"]
SEED_LABELS: tuple[str, ...] = ("harmful", "benign")


@dataclass(frozen=True)
class Seed:
    """A plain request and its class.

    Attributes:
        text: the request as a user would write it.
        label: ``"harmful"`` or ``"benign"``.
        category: harm category for harmful seeds (for example ``"cybercrime"``), or a
            free-form topic; ``None`` when unknown.
        source: where the seed came from, such as ``"builtin"`` or a file name.
        id: an identifier unique within its source, when the source has one.
    """

    text: str
    label: SeedLabel
    category: str | None = None
    source: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if self.label not in SEED_LABELS:
            raise ValueError(
                f"Expects Seed.label to be 'harmful' or 'benign', actual: {self.label!r}"
            )
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"Expects Seed.text to be a non-empty string, actual: {self.text!r}")

    @property
    def is_harmful(self) -> bool:
        return self.label == "harmful"
