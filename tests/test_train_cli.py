"""``advgame train`` end to end: the CPU preset on WildJailbreak seeds, and exact resume.

Each run is a real ``advgame`` process on the embedded model, shrunk to tiny batches and
token limits so that three runs take a few minutes on two CPU cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = [pytest.mark.slow, pytest.mark.data]

IGNORED_METRICS = ("time", "train/step_seconds")


def tiny_settings(shared_data: Path) -> list[str]:
    folder = (shared_data / "wildjailbreak").as_posix()
    train = (
        f"[wildjailbreak:{folder}/valid_vanilla_harmful_256.jsonl, "
        f"wildjailbreak:{folder}/valid_vanilla_benign_256.jsonl]"
    )
    settings = [
        f"seeds.train={train}",
        "checkpoint_every=1",
        "learner_config.harmful_batch=2",
        "learner_config.benign_batch=2",
        "players.attacker.sampling.max_new_tokens=24",
        "players.defender.sampling.max_new_tokens=32",
        "players.defender.group_size=2",
        "evaluation.max_seeds=4",
        "evaluation.max_new_tokens=16",
        "tensorboard=false",
    ]
    return [part for setting in settings for part in ("--set", setting)]


def advgame_train(out_dir: Path, shared_data: Path, *extra: str) -> str:
    """Run ``advgame train`` on the CPU preset; return its terminal output."""
    command = [sys.executable, "-m", "advgame.cli", "--threads", "1", "train"]
    command += ["--config", "cpu_dpo", "--output-dir", str(out_dir)]
    command += [*tiny_settings(shared_data), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def metric_rows(out_dir: Path) -> list[dict[str, float]]:
    rows = []
    for line in (out_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows.append({k: v for k, v in row.items() if k not in IGNORED_METRICS})
    return rows


def final_weights(out_dir: Path, role: str) -> dict[str, torch.Tensor]:
    return load_file(out_dir / "final" / role / "model.safetensors")


@pytest.fixture(scope="module")
def straight_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out_dir = tmp_path_factory.mktemp("straight")
    output = advgame_train(out_dir, shared_data, "--set", "steps=2")
    return out_dir, output


def test_train_prints_before_after_table(straight_run: tuple[Path, str]) -> None:
    out_dir, output = straight_run
    assert "keyword attack success rate (harmful)" in output
    assert "compliance rate (benign)" in output
    assert "before" in output
    assert "after" in output
    assert (out_dir / "eval_before.json").is_file()
    assert (out_dir / "eval_after.json").is_file()


def test_train_updates_both_players(straight_run: tuple[Path, str]) -> None:
    out_dir, _ = straight_run
    rows = metric_rows(out_dir)
    assert [row["step"] for row in rows] == [1, 2]
    for role in ("attacker", "defender"):
        pairs = sum((row.get(f"{role}/pairs_harmful") or 0) for row in rows)
        pairs += sum((row.get(f"{role}/pairs_benign") or 0) for row in rows)
        assert pairs > 0, f"no {role} pairs in two steps"
        assert (out_dir / "final" / role / "model.safetensors").is_file()


def test_resume_matches_straight_run(
    straight_run: tuple[Path, str], shared_data: Path, tmp_path: Path
) -> None:
    straight_dir, _ = straight_run
    advgame_train(tmp_path, shared_data, "--set", "steps=1")
    advgame_train(tmp_path, shared_data, "--set", "steps=2", "--resume")
    assert metric_rows(tmp_path) == metric_rows(straight_dir)
    for role in ("attacker", "defender"):
        resumed, straight = final_weights(tmp_path, role), final_weights(straight_dir, role)
        assert resumed.keys() == straight.keys()
        for name, tensor in straight.items():
            assert torch.equal(resumed[name], tensor), f"{role} {name} differs after resume"
