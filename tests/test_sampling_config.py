"""SamplingConfig validation and round trips."""

from __future__ import annotations

import pytest

from advgame.agents import SamplingConfig
from advgame.errors import ConfigError


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"stop_strings": "</prompt>"}, "stop_strings"),
        ({"stop_strings": ("",)}, "stop_strings"),
    ],
)
def test_invalid_values_raise(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        SamplingConfig(**kwargs)


def test_dict_round_trip():
    config = SamplingConfig(temperature=0.6, stop_strings=["</prompt>"])
    assert config.stop_strings == ("</prompt>",)
    assert SamplingConfig.from_dict(config.to_dict()) == config


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match="top_k"):
        SamplingConfig.from_dict({"top_k": 5})
