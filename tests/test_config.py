"""Run files, presets and command-line overrides."""

from __future__ import annotations

import pytest
import yaml

from advgame.config import RunConfig, load_run_config, merge_dicts, parse_override, preset_names
from advgame.errors import ConfigError


def test_presets_load():
    assert {"cpu_dpo", "paper_dpo", "paper_ipo", "paper_grpo"} <= set(preset_names())
    for name in preset_names():
        config = load_run_config(name)
        assert config.steps >= 1
        assert "lr" in config.attacker.training
        assert "lr" in config.defender.training


def test_cpu_preset_uses_embedded_model():
    config = load_run_config("cpu_dpo")
    assert config.attacker.model == "default"
    assert config.defender.model == "default"
    assert config.game["attacker_format"] == "plain"
    assert config.attacker.training["sampling"]["stop_strings"] == ["\n\n"]


def test_player_sections_split_model_and_training_keys():
    config = RunConfig.from_dict(
        {"players": {"defender": {"model": "/m", "lora": {"r": 4}, "lr": 1e-5, "frozen": True}}}
    )
    assert config.defender.model == "/m"
    assert config.defender.lora == {"r": 4}
    assert config.defender.training == {"lr": 1e-5, "frozen": True}


def test_dict_round_trip():
    config = load_run_config("cpu_dpo")
    again = RunConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"step": 3}, "unknown key"),
        ({"steps": 0}, "steps"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
        ({"seeds": {"training": "builtin"}}, "under seeds"),
        ({"players": {"judge": {}}}, "unknown player"),
        ({"players": {"attacker": "default"}}, "players.attacker"),
        ([], "mapping"),
    ],
)
def test_invalid_run_files_raise(values, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(values, source="run.yaml")


def test_unknown_file_or_preset(tmp_path):
    with pytest.raises(ConfigError, match="cpu_dpo"):
        load_run_config(tmp_path / "missing.yaml")


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("steps: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_run_config(path)


def test_overrides_merge_into_nested_sections(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"steps": 5, "players": {"defender": {"lr": 1e-5}}}))
    override = merge_dicts(parse_override("steps=2"), parse_override("players.defender.lr=3e-5"))
    config = load_run_config(path, override)
    assert config.steps == 2
    assert config.defender.training["lr"] == 3e-5


@pytest.mark.parametrize("text", ["steps", "=3"])
def test_malformed_override(text):
    with pytest.raises(ConfigError, match="override"):
        parse_override(text)
