"""``advgame train`` on a tiny random model, interrupted with SIGINT and SIGKILL.

A first Ctrl-C finishes the current step, saves a checkpoint and exits with 130; ``--resume``
then reproduces the metrics of an uninterrupted run. SIGKILL at any moment never leaves a
``step-*`` checkpoint folder that is incomplete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from advgame.agents.learners.checkpoint import read_checkpoint_state
from advgame.metrics_log import read_metrics

pytestmark = pytest.mark.slow

# Wall-clock fields differ between runs; every other metric must match exactly.
TIMING_KEYS = {"time", "train/step_seconds"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from advgame.agents.learners.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def _run_file(folder: Path, model: Path, steps: int) -> Path:
    sampling = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 8}
    player = {"model": str(model), "lr": 1.0e-3, "group_size": 2, "sampling": sampling}
    values = {
        "learner": "dpo",
        "steps": steps,
        "seed": 3,
        "output_dir": str(folder / "run"),
        "checkpoint_every": 1,
        "keep_checkpoints": 0,
        "judge": "rule",
        "seeds": {"train": "builtin", "held_out": 0},
        "game": {"attacker_format": "plain"},
        "players": {"attacker": dict(player), "defender": dict(player)},
        "learner_config": {"harmful_batch": 2, "benign_batch": 2},
        "evaluation": {"enabled": False},
        "tensorboard": False,
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _command(run_file: Path, *extra: str) -> list[str]:
    cli = [sys.executable, "-m", "advgame.cli", "--threads", "1", "train"]
    return [*cli, "--config", str(run_file), *extra]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _metrics(run_dir: Path) -> list[dict]:
    return [
        {k: v for k, v in record.items() if k not in TIMING_KEYS}
        for record in read_metrics(run_dir / "metrics.jsonl")
    ]


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.is_file() and len(path.read_text().splitlines()) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early with {process.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} lines in {limit_s} s")


def test_ctrl_c_saves_and_resume_matches_uninterrupted(tiny_model: Path, tmp_path: Path) -> None:
    straight_dir, stopped_dir = tmp_path / "straight", tmp_path / "stopped"
    straight_dir.mkdir()
    stopped_dir.mkdir()
    straight_file = _run_file(straight_dir, tiny_model, steps=4)
    subprocess.run(_command(straight_file), check=True, timeout=600, env=_environment())

    stopped_file = _run_file(stopped_dir, tiny_model, steps=4)
    process = subprocess.Popen(
        _command(stopped_file), env=_environment(), stderr=subprocess.PIPE, text=True
    )
    _wait_for_lines(stopped_dir / "run" / "metrics.jsonl", 1, process, limit_s=300)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr[-2000:]
    saved = sorted(p.name for p in (stopped_dir / "run" / "checkpoints").iterdir())
    stopped_at = len(_metrics(stopped_dir / "run"))
    assert saved[-1] == f"step-{stopped_at:06d}"
    assert stopped_at < 4

    subprocess.run(_command(stopped_file, "--resume"), check=True, timeout=600, env=_environment())
    assert _metrics(stopped_dir / "run") == _metrics(straight_dir / "run")


def _assert_complete(checkpoint: Path) -> None:
    import torch
    from safetensors.torch import load_file

    state = read_checkpoint_state(checkpoint)
    assert state["step"] == int(checkpoint.name.removeprefix("step-"))
    torch.load(checkpoint / "torch_rng.pt", weights_only=True)
    for role in ("attacker", "defender"):
        load_file(checkpoint / role / "weights.safetensors")
        load_file(checkpoint / role / "ema.safetensors")
        torch.load(checkpoint / role / "optimizer.pt", weights_only=True)


def test_sigkill_never_leaves_a_half_written_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    run_file = _run_file(tmp_path, tiny_model, steps=30)
    run_dir = tmp_path / "run"
    delays = (0.0, 0.13, 0.29, 0.41)
    for delay in delays:
        # A kill before the first checkpoint leaves nothing to resume, so the run starts over.
        resumable = any((run_dir / "checkpoints").glob("step-*"))
        args = _command(run_file, "--resume") if resumable else _command(run_file)
        process = subprocess.Popen(args, env=_environment(), stderr=subprocess.DEVNULL)
        lines = len(read_metrics(run_dir / "metrics.jsonl")) if run_dir.is_dir() else 0
        _wait_for_lines(run_dir / "metrics.jsonl", lines + 1, process, limit_s=300)
        time.sleep(delay)
        process.kill()
        process.wait(timeout=60)
        for checkpoint in sorted((run_dir / "checkpoints").glob("step-*")):
            _assert_complete(checkpoint)
    newest = int(sorted((run_dir / "checkpoints").glob("step-*"))[-1].name.removeprefix("step-"))
    result = subprocess.run(
        _command(run_file, "--resume", "--set", f"steps={newest + 1}"),
        capture_output=True,
        text=True,
        timeout=600,
        env=_environment(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"at step {newest}" in result.stderr
    _assert_complete(run_dir / "checkpoints" / f"step-{newest + 1:06d}")
