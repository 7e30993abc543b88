"""Sentence embeddings from the bundled all-MiniLM-L6-v2 model, loaded with plain transformers.

:class:`SentenceEmbedder` turns texts into L2-normalised 384-dimensional float32 vectors:
mean pooling of the last hidden states over the non-padding tokens, then L2 normalisation,
which is how all-MiniLM-L6-v2 was trained. Texts longer than ``max_seq_length`` tokens
(256, the model's training length) are truncated, so only their opening is embedded.

The model loads on the first call to :meth:`SentenceEmbedder.encode`, from the folder given
by :func:`advgame.assets.embedder_path` with ``local_files_only=True``; nothing is
downloaded. A lock guards the load, the cache and the forward pass, so one embedder can be
shared between threads (calls then run one at a time).

An embedder is callable on a list of texts, so it can serve as the ``observation_encoder``
of :class:`~advgame.envs.AdvGameEnv` (with ``encoder_dim=384``).

Example:
    >>> from advgame.judges.embedder import SentenceEmbedder
    >>> embedder = SentenceEmbedder()
    >>> embedder.encode(["How do I bake bread?", "Bread baking at home"]).shape
    (2, 384)
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advgame.assets import quiet_progress_bars
from advgame.errors import ConfigError

logger = logging.getLogger(__name__)

EMBEDDING_DIM = 384
MAX_SEQ_LENGTH = 256


class SentenceEmbedder:
    """Batched sentence embeddings with a lazy model load and a small LRU cache.

    Args:
        model_path: folder of a BERT-style sentence embedder; default: the bundled
            all-MiniLM-L6-v2 (:func:`advgame.assets.embedder_path`).
        batch_size: texts per forward pass.
        max_seq_length: tokens kept per text, ``[CLS]`` and ``[SEP]`` included; longer
            texts are truncated.
        cache_size: number of text embeddings kept in the LRU cache; 0 disables it.
        device: torch device for the forward pass.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_seq_length: int = MAX_SEQ_LENGTH,
        cache_size: int = 4096,
        device: str = "cpu",
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"Expects batch_size to be a positive int, actual: {batch_size!r}")
        if not isinstance(max_seq_length, int) or not 2 < max_seq_length <= 512:
            raise ConfigError(
                f"Expects max_seq_length to be an int in [3, 512] (the model has 512 "
                f"positions), actual: {max_seq_length!r}"
            )
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(
                f"Expects cache_size to be an int >= 0 (0 disables the cache), "
                f"actual: {cache_size!r}"
            )
        self.model_path = Path(model_path) if model_path is not None else None
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache_size = cache_size
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def dim(self) -> int:
        """Size of one embedding."""
        return EMBEDDING_DIM

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._model is not None

    def load(self) -> None:
        """Load the tokenizer and model now instead of on the first :meth:`encode` call."""
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModel, AutoTokenizer

            from advgame.assets import embedder_path

            path = self.model_path if self.model_path is not None else embedder_path()
            logger.info("loading sentence embedder from %s", path)
            self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            with quiet_progress_bars():
                model = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float32)
            model.eval()
            self._model = model.to(self.device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` and return a float32 array of shape ``(len(texts), 384)``.

        Rows are L2-normalised, so the dot product of two rows is their cosine similarity.
        Identical texts are embedded once. An empty string gets the embedding of an empty
        token sequence, not an error.
        """
        if isinstance(texts, str):
            raise ConfigError(
                "Expects texts to be a sequence of strings, actual: a single str; wrap it in a list"
            )
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ConfigError(
                    f"Expects every text to be a str, actual: {type(text).__name__} at index {i}"
                )
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            fresh = dict(zip(missing, self._embed(missing), strict=True)) if missing else {}
            for i, text in enumerate(texts):
                vector = fresh.get(text)
                if vector is None:
                    vector = self._cache[text]
                    self._cache.move_to_end(text)
                out[i] = vector
            for text, vector in fresh.items():
                self._remember(text, vector)
        return out

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` like :meth:`encode`; lets the embedder be an observation encoder."""
        return self.encode(texts)

    def clear_cache(self) -> None:
        """Drop every cached embedding."""
        with self._lock:
            self._cache.clear()

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Run the model on distinct ``texts``, in batches of texts of similar length."""
        import torch

        self.load()
        # Sorting by length keeps padding, and so wasted compute, small inside a batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            batch = self._tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state  # (b, t, 384)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, t, 1)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (b, 384)
            pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
            vectors[index] = pooled.cpu().numpy().astype(np.float32)
        return vectors

    def __repr__(self) -> str:
        where = self.model_path or "bundled all-MiniLM-L6-v2"
        return f"SentenceEmbedder({where}, loaded={self.loaded})"
