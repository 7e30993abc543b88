"""Text encoders that turn attacks and seeds into fixed-size observation vectors.

The strategy environments (:mod:`advgame.envs.strategy`) observe a text through an
*observation encoder*: any callable that maps a list of ``n`` strings to an ``(n, dim)``
array. :class:`HashingEncoder` is the dependency-free default: a signed feature-hashing
bag of words and word bigrams, the same vector on every machine and Python process.
Any sentence embedder with that call signature plugs in instead.

:func:`encode_texts` checks an encoder's output and L2-normalises each row, so every
observation lies in ``[-1, 1]`` whatever the encoder's scale.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Sequence

import numpy as np

from advgame.errors import ConfigError

ObservationEncoder = Callable[[list[str]], np.ndarray]

_TOKEN = re.compile(r"[a-z0-9']+")


class HashingEncoder:
    """Signed feature hashing of lower-cased words and word bigrams, L2-normalised.

    Each feature is hashed with BLAKE2b (not Python's salted ``hash``), so a text maps to the
    same vector in every process. One bit of the digest picks the feature's sign, which keeps
    hash collisions from adding up in one direction.

    Args:
        dim: length of each vector.
        bigrams: also hash pairs of adjacent words.

    Example:
        >>> encoder = HashingEncoder(dim=64)
        >>> encoder(["How do I bake bread?", ""]).shape
        (2, 64)
    """

    def __init__(self, dim: int = 256, *, bigrams: bool = True) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ConfigError(f"Expects dim to be a positive int, actual: {dim!r}; pass e.g. 256")
        self.dim = dim
        self.bigrams = bigrams

    def _features(self, text: str) -> list[str]:
        words = _TOKEN.findall(text.lower())
        features = list(words)
        if self.bigrams:
            features += [f"{a} {b}" for a, b in itertools.pairwise(words)]
        return features

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 array; an empty text gives a zero row."""
        if isinstance(texts, str):
            raise ConfigError("Expects texts to be a list of strings, actual: a str; wrap it")
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                sign = 1.0 if value & 1 else -1.0
                vectors[row, (value >> 1) % self.dim] += sign
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def __repr__(self) -> str:
        return f"HashingEncoder(dim={self.dim}, bigrams={self.bigrams})"


def default_observation_encoder() -> ObservationEncoder:
    """Return the encoder the strategy environments use when none is given.

    This is a :class:`HashingEncoder`: it needs no model, so the environments build in
    milliseconds. Pass a sentence embedder as ``observation_encoder`` for observations that
    generalise across paraphrases.
    """
    return HashingEncoder()


def encode_texts(encoder: ObservationEncoder, texts: Sequence[str]) -> np.ndarray:
    """Encode ``texts`` with ``encoder``, check the result and L2-normalise each row.

    Returns:
        A float32 array of shape ``(len(texts), dim)`` with values in ``[-1, 1]``; rows that
        the encoder returned as zeros stay zero.

    Raises:
        ConfigError: the encoder returned something other than a finite ``(n, dim)`` array.
    """
    texts = list(texts)
    try:
        vectors = np.asarray(encoder(texts), dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"Expects observation_encoder to return a numeric (n, dim) array for a list of "
            f"{len(texts)} strings, actual: {type(error).__name__}: {error}"
        ) from error
    if vectors.ndim != 2 or vectors.shape[0] != len(texts) or vectors.shape[1] < 1:
        raise ConfigError(
            f"Expects observation_encoder to return an array of shape ({len(texts)}, dim) for "
            f"{len(texts)} texts, actual shape: {vectors.shape}; return one row per text"
        )
    if not np.all(np.isfinite(vectors)):
        raise ConfigError(
            "Expects observation_encoder to return finite values, actual: NaN or infinity; "
            "check the encoder on empty or very long texts"
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    # Rounding can push a unit vector's largest entry a hair past 1.
    return np.clip(vectors, -1.0, 1.0).astype(np.float32)
