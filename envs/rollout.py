"""Batched play: many seeds through both players in one call each, then one scoring pass.

Learners use :func:`play_batch` instead of stepping :class:`~advgame.envs.AdvGameEnv` one
seed at a time, so the attacker samples all B×A attacks in one batched call and the defender
all responses in another. The rules are the same :class:`~advgame.envs.game.Game`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from advgame.agents.base import Policy
from advgame.envs.game import Game
from advgame.envs.seeds.base import Seed
from advgame.envs.tree import AttackNode, Outcome, ResponseNode, RolloutTree, SeedNode
from advgame.errors import ConfigError

logger = logging.getLogger(__name__)


def play_batch(
    game: Game,
    seeds: Sequence[Seed],
    attacker: Policy,
    defender: Policy,
    *,
    num_attacks: int = 1,
    num_responses: int = 1,
    rng: np.random.Generator | None = None,
) -> RolloutTree:
    """Play one round for every seed and return the scored rollout tree.

    Args:
        game: the rules and judges.
        seeds: the batch of seeds (harmful and benign may be mixed).
        attacker: samples ``num_attacks`` outputs per attacker instruction.
        defender: samples ``num_responses`` responses per valid attack.
        num_attacks: A, attacks per seed.
        num_responses: D, responses per attack.
        rng: randomness for the pairwise A/B order.
    """
    for name, value in (("num_attacks", num_attacks), ("num_responses", num_responses)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"Expects {name} to be a positive int, actual: {value!r}")
    nodes = [SeedNode(seed, game.instruction(seed)) for seed in seeds]
    if not nodes:
        return RolloutTree([], metrics={})

    attack_samples = attacker.generate([node.instruction for node in nodes], num_attacks)
    _check_shape("attacker", attack_samples, len(nodes), num_attacks)
    for node, samples in zip(nodes, attack_samples):
        node.attacks = [AttackNode(completion) for completion in samples]
    game.check_attacks(nodes)

    valid = [attack for node in nodes for attack in node.attacks if attack.passed_gate]
    if valid:
        response_samples = defender.generate([a.attack or "" for a in valid], num_responses)
        _check_shape("defender", response_samples, len(valid), num_responses)
        for attack, samples in zip(valid, response_samples):
            attack.responses = [ResponseNode(completion) for completion in samples]

    game.score(nodes, rng)
    metrics = tree_metrics(nodes)
    metrics.update(game.judges.metrics())
    return RolloutTree(nodes, metrics=metrics)


def _check_shape(
    role: str, samples: Sequence[Sequence[object]], prompts: int, per_prompt: int
) -> None:
    if len(samples) != prompts or any(len(s) != per_prompt for s in samples):
        shape = [len(s) for s in samples]
        raise RuntimeError(
            f"the {role} policy returned completions shaped {shape} for {prompts} prompts × "
            f"{per_prompt} samples; Policy.generate must return num_samples completions per prompt"
        )


def _rate(outcomes: list[Outcome | None], target: Outcome) -> float:
    return sum(o is target for o in outcomes) / len(outcomes) if outcomes else 0.0


def _mean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")


def tree_metrics(nodes: Sequence[SeedNode]) -> dict[str, float]:
    """Return namespaced reward and outcome metrics of scored ``nodes``.

    Means leave out excluded samples; a mean over no samples is NaN.
    """
    metrics: dict[str, float] = {"env/seeds": float(len(nodes))}
    for label in ("harmful", "benign", None):
        subset = [n for n in nodes if label is None or n.seed.label == label]
        suffix = f"_{label}" if label else ""
        attacks = [a for n in subset for a in n.attacks]
        responses = [r for a in attacks for r in a.responses]
        metrics[f"attacker/reward_mean{suffix}"] = _mean([a.reward for a in attacks])
        metrics[f"defender/reward_mean{suffix}"] = _mean([r.reward for r in responses])
        if label is None:
            attack_outcomes = [a.outcome for a in attacks]
            response_outcomes = [r.outcome for r in responses]
            metrics["attacker/samples"] = float(len(attacks))
            metrics["defender/samples"] = float(len(responses))
            for outcome in (
                Outcome.PARSE_ERROR,
                Outcome.MAX_LENGTH,
                Outcome.UNFAITHFUL,
                Outcome.JUDGE_FAILED,
                Outcome.NO_VALID_RESPONSE,
            ):
                metrics[f"attacker/{outcome.value}_rate"] = _rate(attack_outcomes, outcome)
            for outcome in (Outcome.MAX_LENGTH, Outcome.JUDGE_FAILED):
                metrics[f"defender/{outcome.value}_rate"] = _rate(response_outcomes, outcome)
    return metrics
