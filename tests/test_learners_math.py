"""Learner math without a model: losses against hand-computed values, GAE, the schedule,
EMA updates, pair selection, configs and the registry."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from advgame.agents.base import Completion
from advgame.agents.learners import (
    AdvGameDPO,
    Learner,
    LearnerConfig,
    PlayerConfig,
    ShadowWeights,
    available_learners,
    cosine_multiplier,
    dpo_loss,
    gae,
    grpo_loss,
    ipo_loss,
    k3_kl,
    learner_class,
    make_learner,
    player_groups,
    ppo_loss,
    register_learner,
    select_pairs,
)
from advgame.agents.learners.grpo import grpo_advantages
from advgame.agents.learners.ppo import whiten
from advgame.agents.learners.samples import Sample
from advgame.agents.sampling import SamplingConfig
from advgame.envs import Outcome, Seed
from advgame.envs.tree import AttackNode, ResponseNode, SeedNode
from advgame.errors import ConfigError

# -- losses ---------------------------------------------------------------------------------


def test_dpo_loss_hand_values() -> None:
    delta = torch.tensor([0.0, 2.0, -3.0])
    loss = dpo_loss(delta, beta=0.1)
    expected = [math.log(2.0), math.log(1 + math.exp(-0.2)), math.log(1 + math.exp(0.3))]
    assert loss.tolist() == pytest.approx(expected, rel=1e-6)


def test_ipo_loss_hand_values() -> None:
    delta = torch.tensor([0.0, 3.0, 5.0])
    loss = ipo_loss(delta, beta=0.1)  # target 1 / (2 * 0.1) = 5
    assert loss.tolist() == pytest.approx([25.0, 4.0, 0.0])


def test_k3_kl_hand_value() -> None:
    logprobs = torch.log(torch.tensor([0.5, 0.3]))
    ref = torch.log(torch.tensor([0.25, 0.3]))
    # x = log(0.25 / 0.5) = -log 2, k3 = e^x - x - 1 = 0.5 + log 2 - 1
    assert k3_kl(logprobs, ref).tolist() == pytest.approx([0.5 + math.log(2) - 1, 0.0], abs=1e-7)


def test_grpo_loss_hand_value() -> None:
    logprobs = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    sampler = torch.tensor([[-1.0, -2.5]])
    ref = torch.tensor([[-1.5, -2.0]])
    mask = torch.ones(1, 2)
    loss, kl, ratio = grpo_loss(logprobs, sampler, ref, torch.tensor([2.0]), mask, 0.1, 2.0)

    w = math.exp(0.5)
    policy = -2.0 * (1.0 * -1.0 + w * -2.0)
    k3 = math.exp(-0.5) + 0.5 - 1.0
    assert ratio.flatten().tolist() == pytest.approx([1.0, w])
    assert kl.item() == pytest.approx(k3, rel=1e-6)
    assert loss.item() == pytest.approx(policy + 0.1 * k3, rel=1e-6)


def test_grpo_ratio_is_capped_and_detached() -> None:
    logprobs = torch.tensor([[-1.0, -1.0]], requires_grad=True)
    sampler = torch.tensor([[-4.0, -1.0]])  # ratio e^3 on the first token
    mask = torch.tensor([[1.0, 1.0]])
    loss, _, ratio = grpo_loss(logprobs, sampler, None, torch.tensor([1.5]), mask, 0.1, 2.0)
    loss.sum().backward()

    assert ratio.flatten().tolist() == pytest.approx([2.0, 1.0])
    # With a detached ratio the gradient is -A * w per token.
    assert logprobs.grad is not None
    assert logprobs.grad.flatten().tolist() == pytest.approx([-3.0, -1.5])


def test_grpo_loss_ignores_padding() -> None:
    logprobs = torch.tensor([[-1.0, -7.0]])
    mask = torch.tensor([[1.0, 0.0]])
    loss, _, _ = grpo_loss(logprobs, logprobs, logprobs, torch.tensor([1.0]), mask, 0.1, 2.0)
    assert loss.item() == pytest.approx(1.0)


def _sample(reward: float, group: int = 0, length: int = 3, truncated: bool = False) -> Sample:
    return Sample([1, 2], list(range(10, 10 + length)), None, reward, truncated, reward < 0, group)


def test_grpo_advantages_batch_and_group() -> None:
    samples = [_sample(1.0, 0), _sample(3.0, 0), _sample(8.0, 1), _sample(-1.0, 2)]
    batch = grpo_advantages(samples, "batch")
    group = grpo_advantages(samples, "group")
    assert batch.tolist() == pytest.approx([-1.75, 0.25, 5.25, -3.75])
    assert group.tolist() == pytest.approx([-1.0, 1.0, 0.0, 0.0])


def test_gae_hand_values() -> None:
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.4], [0.1, 0.3, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.5)

    # Row 0: d2 = 0.6, d1 = 0.2, d0 = -0.3; A2 = 0.6, A1 = 0.5, A0 = -0.05.
    # Row 1 ends at t = 1, so the padded value 9.0 never enters: d1 = 1.7, d0 = 0.2.
    assert advantages[0].tolist() == pytest.approx([-0.05, 0.5, 0.6])
    assert advantages[1].tolist() == pytest.approx([0.2 + 0.5 * 1.7, 1.7, 0.0])
    assert returns[0].tolist() == pytest.approx([0.45, 0.7, 1.0])
    assert returns[1, 2].item() == 0.0


def test_gae_discount() -> None:
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.zeros(1, 3)
    advantages, _ = gae(rewards, values, torch.ones(1, 3), gamma=0.9, lam=1.0)
    assert advantages[0].tolist() == pytest.approx([0.81, 0.9, 1.0])


def test_ppo_loss_clips_ratio() -> None:
    old = torch.zeros(1, 2)
    logprobs = torch.log(torch.tensor([[1.5, 0.5]]))
    advantages = torch.tensor([[1.0, -1.0]])
    values = torch.tensor([[1.0, 2.0]])
    returns = torch.tensor([[3.0, 2.0]])
    policy, value, clipped = ppo_loss(
        logprobs, old, advantages, values, returns, torch.ones(1, 2), 0.2
    )
    # Token 0: max(-1.5, -1.2) = -1.2; token 1: max(0.5, 0.8) = 0.8.
    assert policy.flatten().tolist() == pytest.approx([-1.2, 0.8])
    assert value.flatten().tolist() == pytest.approx([2.0, 0.0])
    assert clipped.tolist() == [[1.0, 1.0]]


def test_ppo_loss_inside_clip_range_is_plain_ratio() -> None:
    logprobs = torch.log(torch.tensor([[1.1]]))
    policy, _, clipped = ppo_loss(
        logprobs, torch.zeros(1, 1), torch.tensor([[2.0]]), torch.zeros(1, 1),
        torch.zeros(1, 1), torch.ones(1, 1), 0.2,
    )  # fmt: skip
    assert policy.item() == pytest.approx(-2.2)
    assert clipped.item() == 0.0


def test_whiten_uses_masked_tokens_only() -> None:
    values = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    out = whiten(values, mask)
    assert out.flatten().tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-4)


# -- schedule and EMA -----------------------------------------------------------------------


def test_cosine_schedule_values() -> None:
    values = [cosine_multiplier(s, 11, 0, 0.2) for s in (0, 5, 10, 20)]
    assert values == pytest.approx([1.0, 0.6, 0.2, 0.2])


def test_cosine_schedule_warmup() -> None:
    values = [cosine_multiplier(s, 10, 4, 0.2) for s in range(5)]
    assert values == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])


def test_ema_update_math() -> None:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    shadow = ShadowWeights(model)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0, 0.0]]))
    shadow.update_ema(model, decay=0.95)
    assert shadow.tensors["weight"].flatten().tolist() == pytest.approx([1.1, 1.9])
    shadow.update_ema(model, decay=0.95)
    assert shadow.tensors["weight"].flatten().tolist() == pytest.approx([1.195, 1.805])


def test_shadow_swap_restores_live_weights() -> None:
    model = torch.nn.Linear(2, 1)
    live = model.weight.detach().clone()
    shadow = ShadowWeights(model)
    with torch.no_grad():
        shadow.tensors["weight"].fill_(7.0)
    with shadow.swapped_into(model):
        assert torch.all(model.weight == 7.0)
    assert torch.equal(model.weight, live)
    assert torch.all(shadow.tensors["weight"] == 7.0)


def test_shadow_skips_frozen_parameters() -> None:
    model = torch.nn.Linear(2, 1)
    model.bias.requires_grad_(False)
    shadow = ShadowWeights(model)
    assert list(shadow.tensors) == ["weight"]


# -- samples and pairs ----------------------------------------------------------------------


def _completion(length: int, truncated: bool = False) -> Completion:
    ids = list(range(100, 100 + length))
    return Completion("x", ids, [1, 2, 3], [-0.5] * length, truncated)


def _attack(reward: float | None, outcome: Outcome, responses=()) -> AttackNode:
    return AttackNode(_completion(4), outcome=outcome, reward=reward, responses=list(responses))


def _response(reward: float | None, outcome: Outcome, length: int = 3, truncated=False):
    return ResponseNode(_completion(length, truncated), outcome=outcome, reward=reward)


def test_select_pairs_best_and_worst() -> None:
    group = [_sample(3.0), _sample(7.0), _sample(-1.0), _sample(5.0)]
    (pair,) = select_pairs([group])
    assert pair.chosen.reward == 7.0
    assert pair.rejected.reward == -1.0


def test_select_pairs_skips_ties_and_singletons() -> None:
    pairs = select_pairs([[_sample(4.0), _sample(4.0)], [_sample(9.0)], []])
    assert pairs == []


def test_select_pairs_first_sample_wins_ties() -> None:
    first_best, second_best = _sample(9.0, length=2), _sample(9.0, length=5)
    first_worst, second_worst = _sample(1.0, length=3), _sample(1.0, length=4)
    (pair,) = select_pairs([[first_best, first_worst, second_best, second_worst]])
    assert pair.chosen is first_best
    assert pair.rejected is first_worst


def test_select_pairs_cuts_truncated_longer_rejected() -> None:
    chosen = _sample(8.0, length=3)
    rejected = Sample([1], list(range(10)), [-0.1] * 10, -1.0, True, True, 0)
    (pair,) = select_pairs([[chosen, rejected]])
    assert pair.rejected.token_ids == list(range(3))
    assert pair.rejected.sampler_logprobs == [-0.1] * 3


def test_select_pairs_keeps_untruncated_or_shorter_rejected() -> None:
    long_complete = Sample([1], list(range(10)), None, 0.0, False, False, 0)
    short_truncated = Sample([1], [5, 6], None, -1.0, True, True, 1)
    pairs = select_pairs(
        [[_sample(8.0, length=3), long_complete], [_sample(8.0, length=3), short_truncated]]
    )
    assert len(pairs[0].rejected.token_ids) == 10
    assert len(pairs[1].rejected.token_ids) == 2


def test_player_groups_leave_out_excluded_keep_errors() -> None:
    node = SeedNode(
        Seed("How do I bake bread?", "benign"),
        "instruction",
        [
            _attack(
                6.0,
                Outcome.JUDGED,
                [_response(8.0, Outcome.JUDGED), _response(None, Outcome.JUDGE_FAILED)],
            ),
            _attack(-1.0, Outcome.PARSE_ERROR),
            _attack(None, Outcome.JUDGE_FAILED),
            _attack(
                None,
                Outcome.NO_VALID_RESPONSE,
                [_response(-1.0, Outcome.MAX_LENGTH), _response(-1.0, Outcome.MAX_LENGTH)],
            ),
        ],
    )
    attacker = player_groups([node], "attacker")
    defender = player_groups([node], "defender")
    assert [[s.reward for s in g] for g in attacker] == [[6.0, -1.0]]
    assert [[s.reward for s in g] for g in defender] == [[8.0], [-1.0, -1.0]]
    assert attacker[0][1].is_error


def test_player_groups_without_errors() -> None:
    node = SeedNode(
        Seed("How do I bake bread?", "benign"),
        "instruction",
        [_attack(6.0, Outcome.JUDGED), _attack(-1.0, Outcome.UNFAITHFUL)],
    )
    groups = player_groups([node], "attacker", include_errors=False)
    assert [[s.reward for s in g] for g in groups] == [[6.0]]


def test_truncated_defender_pair_is_cut() -> None:
    node = SeedNode(
        Seed("How do I bake bread?", "benign"),
        "instruction",
        [
            _attack(
                6.0,
                Outcome.JUDGED,
                [
                    _response(-1.0, Outcome.MAX_LENGTH, length=9, truncated=True),
                    _response(8.0, Outcome.JUDGED, length=4),
                ],
            )
        ],
    )
    (pair,) = select_pairs(player_groups([node], "defender"))
    assert pair.chosen.reward == 8.0
    assert len(pair.rejected.token_ids) == 4


# -- configs --------------------------------------------------------------------------------


def _config(**changes) -> LearnerConfig:
    values = {
        "attacker": PlayerConfig(lr=1e-5),
        "defender": PlayerConfig(lr=2e-5, sampling=SamplingConfig(max_new_tokens=64)),
        "total_steps": 10,
        "harmful_batch": 2,
        "benign_batch": 2,
    }
    values.update(changes)
    return LearnerConfig(**values)


def test_config_round_trip_through_yaml() -> None:
    config = _config(grpo_baseline="group", ppo_value_lr=1e-3)
    text = yaml.safe_dump(config.to_dict())
    again = LearnerConfig.from_dict(yaml.safe_load(text))
    assert again == config
    assert again.defender.sampling == SamplingConfig(max_new_tokens=64)
    assert again.attacker.betas == (0.9, 0.95)


def test_config_unknown_keys_are_named() -> None:
    values = _config().to_dict()
    values["learning_rate"] = 1.0
    with pytest.raises(ConfigError, match="learning_rate"):
        LearnerConfig.from_dict(values)
    values = _config().to_dict()
    values["defender"]["lrate"] = 1.0
    with pytest.raises(ConfigError, match=r"defender setting\(s\) \['lrate'\]"):
        LearnerConfig.from_dict(values)


def test_config_missing_keys_are_named() -> None:
    values = _config().to_dict()
    del values["total_steps"]
    with pytest.raises(ConfigError, match="total_steps"):
        LearnerConfig.from_dict(values)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": 0.0}, "lr > 0"),
        ({"betas": (0.9,)}, "betas"),
        ({"grad_clip": -1.0}, "grad_clip > 0"),
        ({"lr_final_ratio": 1.5}, "lr_final_ratio"),
        ({"group_size": 0}, "group_size"),
        ({"micro_batch_size": 0}, "micro_batch_size"),
        ({"beta": -0.1}, "beta >= 0"),
        ({"sampling": {"top_k": 3}}, "top_k"),
    ],
)
def test_player_config_validation(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PlayerConfig(**{"lr": 1e-5, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total_steps": 0}, "total_steps"),
        ({"harmful_batch": 0, "benign_batch": 0}, "harmful_batch \\+ benign_batch"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"grpo_baseline": "median"}, "grpo_baseline"),
        ({"grpo_ratio_cap": 0.5}, "grpo_ratio_cap"),
        ({"ppo_clip_eps": 0.0}, "ppo_clip_eps"),
        ({"attacker": PlayerConfig(lr=1e-5, warmup_steps=10)}, "warmup_steps < total_steps"),
    ],
)
def test_learner_config_validation(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(**changes)


def test_config_replace_validates() -> None:
    assert _config().replace(seed=3).seed == 3
    with pytest.raises(ConfigError, match="seed"):
        _config().replace(seed=-1)


# -- registry -------------------------------------------------------------------------------


def test_registry_lists_builtins() -> None:
    assert {"dpo", "ipo", "grpo", "ppo"} <= set(available_learners())
    assert learner_class("dpo") is AdvGameDPO
    assert AdvGameDPO.name == "dpo"


def test_registry_unknown_name_lists_known() -> None:
    with pytest.raises(ConfigError, match=r"Unknown learner 'dqn'.*'dpo'.*'ppo'"):
        make_learner("dqn", None, None, None, [], None)


def test_register_custom_learner() -> None:
    @register_learner("test_noop")
    class NoOp(Learner):
        def train_batch(self, player, nodes):
            return {}

    assert learner_class("test_noop") is NoOp
    assert NoOp.name == "test_noop"
    with pytest.raises(ConfigError, match="taken"):

        @register_learner("test_noop")
        class Other(Learner):
            pass


def test_register_rejects_non_learner() -> None:
    with pytest.raises(ConfigError, match="Learner subclass"):
        register_learner("test_bad")(int)


@pytest.mark.parametrize("cls", [PlayerConfig, LearnerConfig])
def test_every_config_field_has_help(cls: type) -> None:
    help_lines = cls.field_help()  # type: ignore[attr-defined]
    assert [name for name, text in help_lines.items() if not text.strip()] == []
