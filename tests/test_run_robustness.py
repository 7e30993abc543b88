"""Bad run files, damaged run folders and bad judge specs raise ConfigError before any
model loads, with a message that names the setting."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from advgame.cli import main as cli_main
from advgame.config import RunConfig, load_run_config
from advgame.errors import ConfigError
from advgame.judges.factory import make_judge
from advgame.metrics_log import MetricsLogger, read_metrics
from advgame.runner import run_training
from advgame.training import StopRequest, build_run, check_resumable, save_config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"seeds": 5}, "seeds"),
        ({"players": 5}, "players"),
        ({"seed": "abc"}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"learner": 5}, "learner"),
        ({"output_dir": 5}, "output_dir"),
        ({"output_dir": ["a"]}, "output_dir"),
        ({"tensorboard": "maybe"}, "tensorboard"),
        ({"game": [1]}, "game"),
        ({"evaluation": [1]}, "evaluation"),
        ({"learner_config": [1]}, "learner_config"),
        ({"evaluation": {"max_seeds": "many"}}, "max_seeds"),
        ({"evaluation": {"max_seeds": 0}}, "max_seeds"),
        ({"players": {"attacker": {"model": 5}}}, r"players\.attacker\.model"),
        ({"players": {"defender": {"model": ""}}}, r"players\.defender\.model"),
        ({"players": {"attacker": {"lora": "yes"}}}, r"players\.attacker\.lora"),
        ({"players": {"attacker": {"gradient_checkpointing": "no"}}}, "gradient_checkpointing"),
        ({"players": {"attacker": {"dtype": 16}}}, "dtype"),
    ],
)
def test_wrong_types_in_run_files_raise(values, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(values, source="run.yaml")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"learner": "nosuch"}, "nosuch"),
        ({"game": {"bogus": 1}}, "bogus"),
        ({"judge": 5}, "judge kind"),
        ({"judge": ["rule"]}, "judge kind"),
        ({"judge": {"kind": "rule", "bogus": 1}}, "bogus"),
    ],
)
def test_settings_used_late_fail_before_models_load(values, message):
    """The model folder does not exist, so reaching the model loader would fail otherwise."""
    values = {
        "players": {
            "attacker": {"model": "/nonexistent/model", "lr": 1.0e-5},
            "defender": {"model": "/nonexistent/model", "lr": 1.0e-5},
        },
        "learner_config": {"harmful_batch": 1, "benign_batch": 1},
        **values,
    }
    config = RunConfig.from_dict({"judge": "rule", **values}, source="run.yaml")
    with pytest.raises(ConfigError, match=message):
        build_run(config)


def test_unknown_judge_option_is_config_error():
    with pytest.raises(ConfigError, match=r"'rule' judge.*bogus"):
        make_judge({"kind": "rule", "bogus": 1})
    with pytest.raises(ConfigError, match="judge kind"):
        make_judge(None)


def _run_folder(tmp_path: Path) -> tuple[RunConfig, Path]:
    missing_model = {"model": str(tmp_path / "no-model")}
    players = {"attacker": missing_model, "defender": missing_model}
    config = load_run_config("cpu_dpo", {"output_dir": str(tmp_path), "players": players})
    save_config(config, tmp_path)
    checkpoint = tmp_path / "checkpoints" / "step-000001"
    checkpoint.mkdir(parents=True)
    (checkpoint / "learner.json").write_text(json.dumps({"format": 1, "learner": "dpo"}))
    return config, checkpoint


@pytest.mark.parametrize("text", ["", "steps: [1,\n", "- a list\n", "\xff"])
def test_resume_with_damaged_config_yaml_raises(tmp_path, text):
    config, _ = _run_folder(tmp_path)
    (tmp_path / "config.yaml").write_text(text, encoding="latin-1")
    with pytest.raises(ConfigError, match=r"config\.yaml"):
        check_resumable(config, tmp_path)


@pytest.mark.parametrize("text", ['{"format": 1, "learn', "", "[1, 2]"])
def test_resume_with_damaged_checkpoint_state_raises(tmp_path, text):
    """The run's models do not exist, so the error must come before they load."""
    config, checkpoint = _run_folder(tmp_path)
    (checkpoint / "learner.json").write_text(text)
    with pytest.raises(ConfigError, match=r"learner\.json"):
        run_training(config, resume=True, console=Console(file=io.StringIO()))


def test_partial_last_metrics_line_is_dropped_on_resume(tmp_path):
    log = MetricsLogger(tmp_path, tensorboard=False)
    log.log(1, {"loss": 0.5})
    log.log(2, {"loss": 0.25})
    with log.path.open("a") as handle:
        handle.write('{"step": 3, "lo')  # what SIGKILL during an append leaves
    log.truncate_after(2)
    assert [r["step"] for r in read_metrics(log.path)] == [1, 2]


def test_train_cli_reports_bad_run_file_without_traceback(tmp_path):
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump({"steps": 1, "seeds": 5}))
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "advgame.cli", "train", "--config", str(run_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "seeds" in result.stderr
    assert time.perf_counter() - started < 60


def test_output_dir_file_raises(tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    config = load_run_config("cpu_dpo", {"output_dir": str(blocker / "run")})
    with pytest.raises(ConfigError, match="output_dir"):
        save_config(config, blocker / "run")


def test_stop_request_off_main_thread():
    outcome: list[object] = []

    def enter() -> None:
        try:
            with StopRequest() as stop:
                outcome.append(stop.requested)
        except Exception as error:  # the assertion below reports it
            outcome.append(error)

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()
    assert outcome == [False]


@pytest.mark.parametrize(
    "argv",
    [
        ["--threads", "0", "presets"],
        ["--threads", "-2", "presets"],
        ["play", "--rounds", "0"],
        ["play", "--max-new-tokens", "-1"],
    ],
)
def test_cli_rejects_non_positive_counts(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(argv)
    assert exit_info.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_every_player_model_key_has_a_type():
    from advgame.config import _PLAYER_MODEL_TYPES, PLAYER_MODEL_KEYS

    assert set(_PLAYER_MODEL_TYPES) == set(PLAYER_MODEL_KEYS)
