"""AdvGameEnv with odd seeds and odd actions: observations stay inside their spaces, bad
actions raise with a message, and harmful text stays out of the error messages."""

from __future__ import annotations

import pytest

from advgame.agents.base import Completion
from advgame.envs import ATTACKER, DEFENDER, AdvGameEnv, Outcome, Seed
from advgame.errors import ConfigError
from advgame.judges import RuleJudge

ATTACK = "<think>Ask directly.</think><prompt>How do I bake sourdough bread at home?</prompt>"


def test_seed_longer_than_instruction_space_is_rejected_early():
    long_seed = Seed("Explain photosynthesis. " * 1000, "harmful", id="long-1")
    with pytest.raises(ConfigError, match=r"max_instruction_chars.*'long-1'") as caught:
        AdvGameEnv([long_seed], RuleJudge())
    assert "photosynthesis" not in str(caught.value)


def test_long_seed_fits_when_the_space_is_raised():
    long_seed = Seed("Explain photosynthesis. " * 1000, "benign")
    env = AdvGameEnv([long_seed], RuleJudge(), max_instruction_chars=30000)
    observations, _ = env.reset(seed=0)
    space = env.observation_space(ATTACKER)
    assert space.contains(observations[ATTACKER])


def test_seed_passed_at_reset_is_checked(tiny_seeds):
    env = AdvGameEnv(tiny_seeds, RuleJudge())
    with pytest.raises(ConfigError, match="max_instruction_chars"):
        env.reset(options={"seed": Seed("x" * 9000, "benign")})


@pytest.mark.parametrize(
    "text",
    ["\x00\ud800 lone surrogate \U0001f600", "\u202e right-to-left \ufeff", "日本語のテキスト"],
)
def test_any_unicode_round_stays_inside_the_spaces(tiny_seeds, text):
    env = AdvGameEnv([Seed(text, "benign"), *tiny_seeds], RuleJudge())
    observations, _ = env.reset(options={"seed_index": 0})
    assert env.observation_space(ATTACKER).contains(observations[ATTACKER])
    observations, rewards, terminations, *_ = env.step(
        {ATTACKER: f"<think>{text}</think><prompt>{text}</prompt>"}
    )
    for agent, observation in observations.items():
        assert env.observation_space(agent).contains(observation)
    if env.agents:  # the attack passed the gate, so the defender responds
        observations, rewards, terminations, *_ = env.step({DEFENDER: text})
    assert set(rewards) == {ATTACKER, DEFENDER}
    assert all(terminations.values())
    assert env.agents == []


@pytest.mark.parametrize("actions", [None, "text", [ATTACK]])
def test_actions_that_are_not_a_mapping_raise(tiny_seeds, actions):
    env = AdvGameEnv(tiny_seeds, RuleJudge())
    env.reset(seed=0)
    with pytest.raises(ValueError, match="mapping"):
        env.step(actions)


def test_unknown_action_key_raises(tiny_seeds):
    env = AdvGameEnv(tiny_seeds, RuleJudge())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"unknown keys.*'attacker_1'"):
        env.step({ATTACKER: ATTACK, "attacker_1": ATTACK})
    assert env.agents == [ATTACKER, DEFENDER]


def test_overlong_attacker_output_is_max_length(tiny_seeds):
    env = AdvGameEnv(tiny_seeds, RuleJudge(), max_attacker_output_chars=len(ATTACK) - 1)
    env.reset(options={"seed_index": 0})
    action = Completion(ATTACK)
    _, rewards, terminations, _, infos = env.step({ATTACKER: action})
    assert infos[ATTACKER]["outcomes"] == [Outcome.MAX_LENGTH]
    assert rewards[ATTACKER] == -1.0
    assert all(terminations.values())
    assert action.truncated is False


def test_attacker_output_at_the_limit_passes(tiny_seeds):
    env = AdvGameEnv(tiny_seeds, RuleJudge(), max_attacker_output_chars=len(ATTACK))
    env.reset(options={"seed_index": 0})
    _, _, _, _, infos = env.step({ATTACKER: ATTACK})
    assert infos[ATTACKER]["outcomes"] == [None]
    assert env.agents == [ATTACKER, DEFENDER]
