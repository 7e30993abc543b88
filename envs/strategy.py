"""Single-agent strategy views of AdvGame for classic RL libraries (Gymnasium, SB3).

=====================  ====================================================================
Import                 ``from advgame.envs import DefenderStrategyEnv, AttackerStrategyEnv``
Registered names       ``advgame/DefenderStrategy-v0``, ``advgame/AttackerStrategy-v0``
API                    ``gymnasium.Env``; passes the Gymnasium and SB3 environment checkers
Action space           ``Discrete(k)``: an index into ``env.strategies``
Observation space      ``Box(-1, 1, (dim,), float32)`` (defender), ``(dim + 2,)`` (attacker)
Steps per episode      1: every episode is a contextual bandit round
=====================  ====================================================================

The token-level game (:class:`~advgame.envs.AdvGameEnv`) has text actions that RL
libraries built for fixed-size spaces cannot take. These environments keep the rules of
:class:`~advgame.envs.game.Game`, its faithfulness gate, rubrics and reward patching, but
let the agent choose a *strategy* from a fixed list; a responder or rewriter turns the
strategy into text. The other player is a fixed opponent :class:`~advgame.agents.base.Policy`.

**DefenderStrategyEnv.** The opponent attacker rewrites every seed ``attacks_per_seed``
times once, when the environment is built. The game parses and gates those attacks, and
each attack that passes becomes a *context*. An episode draws a context, the agent observes
the attack's embedding (never the seed or its class, as in the game), picks a response
strategy, and the responder writes the response. The reward is the defender's judge score:
the COMPLIANCE rubric on benign seeds and DEFLECTION on harmful ones, 0 to 10, or -1 when
the response is too long or truncated.

**AttackerStrategyEnv.** Each seed is a context. The agent observes the seed's embedding
followed by two class flags ``[harmful, benign]``, picks a rewrite strategy, and the
rewriter writes the attack, which goes through the game's parser and faithfulness gate. An
attack that the gate rejects scores -1 and the defender does not answer it. Otherwise the
opponent defender answers and the reward is the attacker's judge score against the seed:
COMPLIANCE on harmful seeds, REFUSAL on benign ones.

Rewards and excluded judgments
------------------------------
Under the game's patching table a failed judgment is excluded: it has no reward at all. A
scalar environment must return a float, so such a step returns ``excluded_reward`` (default
0.0) with ``info["reward_valid"] = False``. The typed outcome is always in
``info["outcome"]`` (an :class:`~advgame.envs.tree.Outcome`); learners that can skip
samples should drop steps whose outcome ``is_excluded``. A constant substitute biases the
agent against strategies whose judgments fail more often, and a judge that fails on more
than its ``max_failure_rate`` raises :class:`~advgame.errors.JudgeFailureRateError`.

Step ``info`` also holds ``context``, ``strategy``, ``seed_label``, ``seed_category`` and the
other player's reward and outcome (``attacker_reward``/``attacker_outcome`` or
``defender_reward``/``defender_outcome``). ``reset(options={"context": i})`` plays context
``i``; without it, the context is drawn with the environment's RNG, which
``reset(seed=...)`` seeds. Observations are L2-normalised embeddings computed once per
context, so stepping costs one responder or rewriter call, the opponent's turn and the
judge calls, and no encoder call.

Arguments
---------
See :class:`DefenderStrategyEnv` and :class:`AttackerStrategyEnv`.

Version history
---------------
* v0: first release.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from advgame.agents.base import Completion, Policy
from advgame.envs.parsing import AttackerFormat
from advgame.envs.seeds.base import Seed
from advgame.envs.strategy_base import (
    StrategyEnvBase,
    as_response,
    check_policy,
    one_completion,
)
from advgame.envs.strategy_encoders import ObservationEncoder, default_observation_encoder
from advgame.envs.strategy_templates import (
    Responder,
    Rewriter,
    TemplateResponder,
    TemplateRewriter,
    check_strategy_names,
)
from advgame.envs.tree import AttackNode, ResponseNode, SeedNode
from advgame.errors import ConfigError
from advgame.judges.groups import PairOrder, RewardMode

logger = logging.getLogger(__name__)


class DefenderStrategyEnv(StrategyEnvBase):
    """The defender picks a response strategy for an attack; see :mod:`advgame.envs.strategy`.

    Args:
        seeds: requests the attacker rewrites; default: the built-in seed set.
        attacker: the fixed opponent policy; default :class:`~advgame.agents.ScriptedAttacker`.
        judge: a judge for every role or a :class:`~advgame.judges.CompositeJudge`;
            default :class:`~advgame.judges.RuleJudge`.
        observation_encoder: maps a list of texts to an ``(n, dim)`` array; default a
            :class:`~advgame.envs.strategy_encoders.HashingEncoder`.
        responder: ``(attack, strategy) -> str | Completion``; default a
            :class:`~advgame.envs.strategy_templates.TemplateResponder`.
        strategies: strategy names, one per action; default: the responder's
            ``strategies`` attribute. Required for a responder without one.
        attacks_per_seed: attacker samples per seed, drawn once when the environment is
            built. Attacks that fail the game's parser or faithfulness gate are dropped.
        excluded_reward: reward returned when the judgment failed.
        attacker_format: ``"think"`` or ``"nothink"``, the attacker's output format.
        reward_mode: ``"pointwise"`` (default: one response per episode, so there is no
            group to compare within) or ``"pairwise"`` (the response is judged against
            itself).
        pair_order: A/B order for pairwise judging.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.
        show_harmful: show the text of harmful rounds in renders (hidden by default).

    Raises:
        ConfigError: an argument is invalid, or no attack passed the gate.
    """

    def __init__(
        self,
        seeds: Sequence[Seed] | None = None,
        *,
        attacker: Policy | None = None,
        judge: Any = None,
        observation_encoder: ObservationEncoder | None = None,
        responder: Responder | None = None,
        strategies: Sequence[str] | None = None,
        attacks_per_seed: int = 3,
        excluded_reward: float = 0.0,
        attacker_format: AttackerFormat = "think",
        reward_mode: RewardMode = "pointwise",
        pair_order: PairOrder = "both",
        render_mode: str | None = None,
        show_harmful: bool = False,
    ) -> None:
        super().__init__(
            seeds,
            judge,
            excluded_reward=excluded_reward,
            attacker_format=attacker_format,
            reward_mode=reward_mode,
            pair_order=pair_order,
            render_mode=render_mode,
            show_harmful=show_harmful,
        )
        if (
            isinstance(attacks_per_seed, bool)
            or not isinstance(attacks_per_seed, int)
            or attacks_per_seed < 1
        ):
            raise ConfigError(
                f"Expects attacks_per_seed to be a positive int, actual: {attacks_per_seed!r}"
            )
        if attacker is None:
            from advgame.agents.scripted import ScriptedAttacker

            attacker = ScriptedAttacker()
        self.attacker = check_policy(attacker, "attacker")
        self.responder = responder if responder is not None else TemplateResponder()
        if not callable(self.responder):
            raise ConfigError(
                "Expects responder to be a callable (attack, strategy) -> str, actual: "
                f"{type(self.responder).__name__}"
            )
        self._set_strategies(_resolve_strategies(strategies, self.responder, "responder"))
        self.attacks_per_seed = attacks_per_seed
        self.attack_outcomes: Counter[str] = Counter()
        self._attacks: list[AttackNode] = []
        self._instructions: list[str] = []
        self._build_contexts()
        self._set_observations(
            observation_encoder or default_observation_encoder(),
            [attack.attack or "" for attack in self._attacks],
        )

    def _build_contexts(self) -> None:
        """Sample the attacker once per seed, gate the attacks, keep those that pass."""
        nodes = [SeedNode(seed, self.game.instruction(seed)) for seed in self.seeds]
        samples = self.attacker.generate([n.instruction for n in nodes], self.attacks_per_seed)
        if len(samples) != len(nodes) or any(len(s) != self.attacks_per_seed for s in samples):
            raise RuntimeError(
                f"the attacker policy returned completions shaped {[len(s) for s in samples]} "
                f"for {len(nodes)} prompts × {self.attacks_per_seed} samples; Policy.generate "
                "must return num_samples completions per prompt"
            )
        for node, row in zip(nodes, samples):
            node.attacks = [AttackNode(as_response(c, "attacker policy")) for c in row]
        self.game.check_attacks(nodes)

        for node in nodes:
            for attack in node.attacks:
                self.attack_outcomes[attack.outcome.value if attack.outcome else "valid"] += 1
                if attack.passed_gate:
                    self.context_seeds.append(node.seed)
                    self._instructions.append(node.instruction)
                    self._attacks.append(attack)
        logger.info(
            "built %d defender contexts from %d seeds; attack outcomes: %s",
            len(self._attacks),
            len(nodes),
            dict(self.attack_outcomes),
        )
        if not self._attacks:
            raise ConfigError(
                f"Expects at least one attack to pass the game's parser and faithfulness gate, "
                f"actual outcomes: {dict(self.attack_outcomes)}; raise attacks_per_seed or use "
                "another attacker or judge"
            )

    def attack_text(self, context: int) -> str:
        """Return the attack of ``context`` (harmful text for harmful seeds; never logged)."""
        return self._attacks[context].attack or ""

    def _pending_node(self, context: int) -> SeedNode:
        attack = replace(self._attacks[context], responses=[])
        return SeedNode(self.context_seeds[context], self._instructions[context], [attack])

    def _play(self, context: int, strategy: str) -> tuple[float | None, dict[str, Any]]:
        attack_text = self.attack_text(context)
        completion = as_response(self.responder(attack_text, strategy), "responder")
        attack = replace(
            self._attacks[context],
            responses=[ResponseNode(completion)],
            outcome=None,
            reward=None,
            chosen_response=None,
        )
        node = SeedNode(self.context_seeds[context], self._instructions[context], [attack])
        self.game.score([node], self.np_random)
        self.last_node = node

        response = attack.responses[0]
        info = {
            "outcome": response.outcome,
            "attacker_reward": attack.reward,
            "attacker_outcome": attack.outcome,
        }
        return response.reward, info


class AttackerStrategyEnv(StrategyEnvBase):
    """The attacker picks a rewrite strategy for a seed; see :mod:`advgame.envs.strategy`.

    Args:
        seeds: requests to rewrite, one context each; default: the built-in seed set.
        defender: the fixed opponent policy; default
            :class:`~advgame.agents.ScriptedDefender` in ``"keyword"`` mode.
        judge: a judge for every role or a :class:`~advgame.judges.CompositeJudge`;
            default :class:`~advgame.judges.RuleJudge`.
        observation_encoder: maps a list of texts to an ``(n, dim)`` array; default a
            :class:`~advgame.envs.strategy_encoders.HashingEncoder`.
        rewriter: ``(seed, strategy) -> str``, the attack prompt; default a
            :class:`~advgame.envs.strategy_templates.TemplateRewriter`. The environment
            wraps it in the attacker's output format before the game parses it.
        strategies: strategy names, one per action; default: the rewriter's ``strategies``
            attribute. Required for a rewriter without one.
        excluded_reward: reward returned when a judgment failed or the defender gave no
            valid response.
        attacker_format: ``"think"`` or ``"nothink"``.
        reward_mode: ``"pointwise"`` (default) or ``"pairwise"``.
        pair_order: A/B order for pairwise judging.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.
        show_harmful: show the text of harmful rounds in renders (hidden by default).

    Raises:
        ConfigError: an argument is invalid.
    """

    def __init__(
        self,
        seeds: Sequence[Seed] | None = None,
        *,
        defender: Policy | None = None,
        judge: Any = None,
        observation_encoder: ObservationEncoder | None = None,
        rewriter: Rewriter | None = None,
        strategies: Sequence[str] | None = None,
        excluded_reward: float = 0.0,
        attacker_format: AttackerFormat = "think",
        reward_mode: RewardMode = "pointwise",
        pair_order: PairOrder = "both",
        render_mode: str | None = None,
        show_harmful: bool = False,
    ) -> None:
        super().__init__(
            seeds,
            judge,
            excluded_reward=excluded_reward,
            attacker_format=attacker_format,
            reward_mode=reward_mode,
            pair_order=pair_order,
            render_mode=render_mode,
            show_harmful=show_harmful,
        )
        if defender is None:
            from advgame.agents.scripted import ScriptedDefender

            defender = ScriptedDefender("keyword")
        self.defender = check_policy(defender, "defender")
        self.rewriter = rewriter if rewriter is not None else TemplateRewriter()
        if not callable(self.rewriter):
            raise ConfigError(
                "Expects rewriter to be a callable (seed, strategy) -> str, actual: "
                f"{type(self.rewriter).__name__}"
            )
        self._set_strategies(_resolve_strategies(strategies, self.rewriter, "rewriter"))
        self.context_seeds = list(self.seeds)
        labels = np.array([[s.is_harmful, not s.is_harmful] for s in self.seeds], np.float32)
        self._set_observations(
            observation_encoder or default_observation_encoder(),
            [s.text for s in self.seeds],
            extra=labels,
        )

    def format_attack(self, prompt: str, strategy: str) -> str:
        """Return ``prompt`` in the attacker's output format, naming ``strategy`` as reasoning."""
        if self.game.attacker_format == "think":
            return f"<think>Use the {strategy} strategy.</think>\n<prompt>{prompt}</prompt>"
        return f"<prompt>{prompt}</prompt>"

    def _pending_node(self, context: int) -> SeedNode:
        seed = self.context_seeds[context]
        return SeedNode(seed, self.game.instruction(seed))

    def _play(self, context: int, strategy: str) -> tuple[float | None, dict[str, Any]]:
        seed = self.context_seeds[context]
        prompt = self.rewriter(seed, strategy)
        if not isinstance(prompt, str):
            raise TypeError(
                f"Expects the rewriter to return a str, actual: {type(prompt).__name__}"
            )
        attack = AttackNode(Completion(self.format_attack(prompt, strategy)))
        node = SeedNode(seed, self.game.instruction(seed), [attack])
        self.game.check_attacks([node])
        if attack.passed_gate:
            samples = self.defender.generate([attack.attack or ""], 1)
            attack.responses = [ResponseNode(one_completion(samples, "defender policy"))]
        self.game.score([node], self.np_random)
        self.last_node = node

        response = attack.responses[0] if attack.responses else None
        info = {
            "outcome": attack.outcome,
            "faithfulness": attack.faithfulness,
            "defender_reward": response.reward if response else None,
            "defender_outcome": response.outcome if response else None,
        }
        return attack.reward, info


def _resolve_strategies(
    strategies: Sequence[str] | None, player: Any, argument: str
) -> tuple[str, ...]:
    known = getattr(player, "strategies", None)
    if strategies is None:
        if known is None:
            raise ConfigError(
                f"Expects strategies to be given for a {argument} without a strategies "
                f"attribute, actual: None; pass strategies=[...] with the names your "
                f"{argument} accepts"
            )
        return check_strategy_names(known, None, f"{argument}.strategies")
    return check_strategy_names(strategies, known, "strategies")
