"""Learners on the embedded SmolLM2-135M model with WildJailbreak seeds, and the examples."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from advgame.agents.learners import LearnerConfig, PlayerConfig, make_learner
from advgame.agents.lm_agent import LMAgent
from advgame.agents.sampling import SamplingConfig
from advgame.envs import Game
from advgame.envs.seeds import load_wildjailbreak
from advgame.judges import RuleJudge

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # On a machine whose cores are shared with other jobs, two torch threads contend and
    # run generation many times slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.data
def test_dpo_step_on_embedded_model(shared_data: Path) -> None:
    folder = shared_data / "wildjailbreak"
    seeds = load_wildjailbreak(folder / "valid_vanilla_harmful_256.jsonl")[:8]
    seeds += load_wildjailbreak(folder / "valid_vanilla_benign_256.jsonl")[:8]
    attacker = LMAgent(
        "default",
        response_prefix="<prompt>",
        sampling=SamplingConfig(temperature=0.9, max_new_tokens=48, stop_strings=("</prompt>",)),
        seed=1,
    )
    defender = LMAgent("default", sampling=SamplingConfig(max_new_tokens=48), seed=2)
    config = LearnerConfig(
        attacker=PlayerConfig(lr=3e-5, group_size=2),
        defender=PlayerConfig(lr=3e-5, group_size=2),
        total_steps=1,
        harmful_batch=2,
        benign_batch=2,
    )
    game = Game(RuleJudge(), attacker_format="nothink")
    learner = make_learner("dpo", game, attacker, defender, seeds, config)
    before = {
        role: agent.model.model.layers[0].mlp.up_proj.weight.detach().clone()
        for role, agent in (("attacker", attacker), ("defender", defender))
    }

    metrics = learner.step()

    assert metrics["attacker/samples"] == 8.0
    assert metrics["train/step"] == 1.0
    for role, agent in (("attacker", attacker), ("defender", defender)):
        pairs = sum(metrics[f"{role}/pairs_{label}"] for label in ("harmful", "benign"))
        changed = not torch.equal(before[role], agent.model.model.layers[0].mlp.up_proj.weight)
        assert changed == (pairs > 0), f"{role}: {pairs} pairs, weights changed: {changed}"
        for label in ("harmful", "benign"):
            if metrics[f"{role}/pairs_{label}"] > 0:
                assert math.isfinite(metrics[f"{role}/loss_{label}"])


def _run_example(name: str, *args: str) -> str:
    env = {"OMP_NUM_THREADS": "1", **os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_train_advgame_example_runs() -> None:
    out = _run_example("train_advgame.py", "--episodes", "2", "--max-new-tokens", "16")
    assert out.count("episode") == 2


def test_custom_learner_example_runs() -> None:
    out = _run_example("custom_learner.py", "--steps", "1", "--max-new-tokens", "16")
    assert "step 1:" in out
