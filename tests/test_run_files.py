"""Run-folder helpers: metrics file, checkpoints, resume checks and Ctrl-C handling."""

from __future__ import annotations

import json
import os
import signal

import pytest

from advgame.config import load_run_config
from advgame.envs.seeds import Seed
from advgame.errors import ConfigError
from advgame.metrics_log import MetricsLogger, read_metrics
from advgame.training import (
    StopRequest,
    _balanced_head,
    check_resumable,
    checkpoints,
    save_checkpoint,
    save_config,
)


def test_metrics_file_writes_nan_as_null_and_truncates(tmp_path):
    log = MetricsLogger(tmp_path, tensorboard=False)
    log.log(1, {"a": 1.0, "b": float("nan")})
    log.log(2, {"a": 2.0})
    log.log(3, {"a": 3.0})
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[0]["b"] is None
    log.truncate_after(2)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
    log.close()


def test_read_metrics_skips_partial_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "defe', encoding="utf-8")
    assert [r["step"] for r in read_metrics(path)] == [1, 2]


def test_read_metrics_corrupt_middle_raises(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"metrics.jsonl.*line 2"):
        read_metrics(path)


def test_balanced_head_takes_both_classes():
    seeds = [Seed(f"h{i}", "harmful") for i in range(10)] + [Seed("b", "benign")]
    head = _balanced_head(seeds, 6)
    assert len(head) == 6
    assert sum(not s.is_harmful for s in head) == 1


class FakeLearner:
    """Writes a marker file as its checkpoint; enough for the run-folder helpers."""

    def __init__(self) -> None:
        self.step_count = 0

    def save_checkpoint(self, path):
        path.mkdir(parents=True)
        (path / "state.json").write_text(json.dumps({"step": self.step_count}))
        return path


def test_checkpoints_keep_only_newest(tmp_path):
    learner = FakeLearner()
    for step in (1, 2, 3):
        learner.step_count = step
        save_checkpoint(learner, tmp_path, keep=2)
    assert [p.name for p in checkpoints(tmp_path)] == ["step-000002", "step-000003"]


def test_save_removes_stale_staging_folders(tmp_path):
    stale = tmp_path / "checkpoints" / ".step-000007.abc123"
    stale.mkdir(parents=True)
    (stale / "partial.safetensors").write_bytes(b"half")
    learner = FakeLearner()
    learner.step_count = 8
    save_checkpoint(learner, tmp_path, keep=2)
    assert not stale.exists()
    assert [p.name for p in checkpoints(tmp_path)] == ["step-000008"]


def test_resume_needs_checkpoint_and_same_settings(tmp_path):
    config = load_run_config("cpu_dpo", {"output_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="checkpoint"):
        check_resumable(config, tmp_path)
    save_config(config, tmp_path)
    learner = FakeLearner()
    learner.step_count = 1
    save_checkpoint(learner, tmp_path, keep=2)
    check_resumable(config, tmp_path)
    longer = load_run_config("cpu_dpo", {"output_dir": str(tmp_path), "steps": 50})
    check_resumable(longer, tmp_path)
    changed = load_run_config("cpu_dpo", {"output_dir": str(tmp_path), "seed": 9})
    with pytest.raises(ConfigError, match="seed"):
        check_resumable(changed, tmp_path)


def test_first_ctrl_c_requests_stop_second_interrupts():
    # A shell that starts a job in the background sets SIGINT to "ignore", so the handler
    # to restore is whatever was there before, not always Python's default.
    previous = signal.getsignal(signal.SIGINT)
    calls = []
    with StopRequest(lambda: calls.append("stop")) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        assert calls == ["stop"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous
