"""A text space that accepts any Unicode string up to a maximum length.

gymnasium's :class:`~gymnasium.spaces.Text` rejects every character outside its charset,
but seeds and model outputs carry arbitrary Unicode (accents, CJK, emoji, control
characters). :class:`UnicodeText` keeps ``Text``'s sampling, over a charset that mixes ASCII
with non-ASCII letters, and overrides :meth:`contains` to check only the type and the length.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium.spaces import Text

# Sampled characters: printable ASCII plus a few multi-byte ones, so that code consuming
# samples meets non-ASCII text in conformance tests.
SAMPLE_CHARSET = (
    string.ascii_letters + string.digits + string.punctuation + " \n" + "éßñçøЖд中文한😀"
)


class UnicodeText(Text):
    """Any ``str`` of at most ``max_length`` characters (min length 0 by default)."""

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((type(self), self.min_length, self.max_length))
