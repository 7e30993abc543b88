"""AdvGame: LM safety alignment as a two-player, general-sum game.

=====================  ==================================================================
Import                 ``from advgame.envs import AdvGameEnv`` (or ``parallel_env``, ``env``)
API                    PettingZoo ``ParallelEnv``; ``env()`` returns the AEC form
Agents                 ``attacker_0``, ``defender_0``
Name                   ``advgame_v0``
Steps per episode      2 (1 when every attack fails the gate)
Action spaces          tuples of :class:`~advgame.envs.spaces.UnicodeText`
Observation spaces     ``Dict(observation=Box, text=UnicodeText | Tuple[UnicodeText])``
=====================  ==================================================================

An episode is one round for one seed, a request labelled harmful or benign.

**Phase 1 (attack).** The attacker observes an instruction built from the seed and its
class, and acts with A raw outputs (``num_attacks``). In think format each output is
``<think>…</think><prompt>…</prompt>``. In nothink format it is the ``<prompt>`` block
alone, and in plain format (for small models) the whole output is the attack. The env
extracts the attack with a strict parser and applies the length limit. Then the judge
decides whether the attack keeps the seed's intent.

**Phase 2 (defend).** The defender observes only the extracted attacks, never the seed or
its class, and acts with D responses per attack (``num_responses``). The judge then scores
the defender's responses against the attack (COMPLIANCE rubric on benign seeds, DEFLECTION
on harmful ones) and, for each attack, the chosen defender response against the seed for
the attacker (COMPLIANCE on harmful seeds, REFUSAL on benign ones). Both agents terminate.

If no attack passes phase 1, the episode ends after one step and the defender has no turn.
In each step both agents may submit actions; the waiting agent's action is ignored, and
``infos[agent]["active"]`` says which agent acts next.

Actions
-------
* attacker: a tuple of A strings (a plain ``str`` is accepted when A = 1).
* defender: a tuple of A tuples of D strings, one inner tuple per attack; entries for
  attacks that failed phase 1 are ignored. A plain ``str`` is accepted when A = D = 1, and a
  flat tuple of A strings when D = 1.
* Any string or :class:`~advgame.agents.base.Completion` is accepted whatever its
  characters; a ``Completion`` with ``truncated=True`` counts as a ``max_length`` error, and
  so does an attacker output longer than ``max_attacker_output_chars``.
* A key that is not an agent name raises ``ValueError``.

Observations
------------
``"text"``: the attacker's instruction (a string), or for the defender a tuple of A attacks
(``""`` for an attack that failed phase 1). ``"observation"``: a float32 vector
``[active, phase_attack, phase_defend, harmful, benign, valid_1 … valid_A]``. The class
flags are always 0 in the defender's vector, and the validity flags are 0 in the attacker's.
With ``observation_encoder`` set, the embedding of each text entry is appended.

Rewards
-------
Floats, 0 until the episode ends. Judged samples score 0 to 10. Parse errors, truncation
and unfaithful attacks score -1. A sample whose judgment failed is excluded: it has no
reward. An agent's episode reward is the mean over its non-excluded samples, and 0.0 with
``infos[agent]["reward_valid"] = False`` when there are none. Per-sample rewards and their
:class:`~advgame.envs.tree.Outcome` are in ``infos[agent]["sample_rewards"]`` and
``infos[agent]["outcomes"]``; the whole scored tree is :attr:`AdvGameEnv.last_node`.

Arguments
---------
See :class:`AdvGameEnv`.

Version history
---------------
* v0: first release.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from advgame.agents.base import Completion, Policy, as_completion
from advgame.envs.game import Game
from advgame.envs.parsing import AttackerFormat
from advgame.envs.render import render_node
from advgame.envs.rollout import play_batch
from advgame.envs.seeds.base import Seed
from advgame.envs.spaces import UnicodeText
from advgame.envs.tree import AttackNode, ResponseNode, RolloutTree, SeedNode
from advgame.errors import ConfigError
from advgame.judges.groups import PairOrder, RewardMode

logger = logging.getLogger(__name__)

ATTACKER = "attacker_0"
DEFENDER = "defender_0"
_PHASES = ("attack", "defend", "done")
_FLAGS = 5  # active, phase_attack, phase_defend, harmful, benign


class AdvGameEnv(ParallelEnv):
    """The AdvGame attacker/defender environment (PettingZoo parallel API).

    Args:
        seeds: requests to play; default: the built-in seed set.
        judge: a judge for every role or a :class:`~advgame.judges.CompositeJudge`;
            default: the embedding rubric judge, loaded on first use.
        num_attacks: A, attacker outputs per episode.
        num_responses: D, defender responses per attack.
        attacker_format: ``"think"``, ``"nothink"`` or ``"plain"``.
        reward_mode: ``"pairwise"`` or ``"pointwise"``.
        pair_order: ``"both"``, ``"random"`` or ``"fixed"`` A/B order for pairwise judging.
        optimistic_attacker: score each attack by the defender's best response.
        max_instruction_chars: size of the attacker's text observation space.
        max_attacker_output_chars: size of the attacker's action space (reasoning included).
        max_attack_chars: longer attacks are ``max_length`` errors.
        max_response_chars: longer responses are ``max_length`` errors.
        seed_order: ``"random"`` draws a seed per episode; ``"cycle"`` goes through them in order.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.
        show_harmful: show the text of harmful rounds in renders (hidden by default).
        observation_encoder: maps a list of texts to an ``(n, dim)`` array to append to the
            numeric observation; ``encoder_dim`` must give ``dim``.
        encoder_dim: size of one embedding from ``observation_encoder``.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "advgame_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        seeds: Sequence[Seed] | None = None,
        judge: Any = None,
        *,
        num_attacks: int = 1,
        num_responses: int = 1,
        attacker_format: AttackerFormat = "think",
        reward_mode: RewardMode = "pairwise",
        pair_order: PairOrder = "both",
        optimistic_attacker: bool = True,
        max_instruction_chars: int = 8000,
        max_attacker_output_chars: int = 8000,
        max_attack_chars: int = 4000,
        max_response_chars: int = 8000,
        seed_order: str = "random",
        render_mode: str | None = None,
        show_harmful: bool = False,
        observation_encoder: Callable[[list[str]], np.ndarray] | None = None,
        encoder_dim: int = 0,
    ) -> None:
        for name, value in (("num_attacks", num_attacks), ("num_responses", num_responses)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expects {name} to be a positive int, actual: {value!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ConfigError(
                f"Expects render_mode None, 'ansi' or 'human', actual: {render_mode!r}"
            )
        if seed_order not in ("random", "cycle"):
            raise ConfigError(f"Expects seed_order 'random' or 'cycle', actual: {seed_order!r}")
        if (observation_encoder is None) != (encoder_dim == 0):
            raise ConfigError(
                "observation_encoder and encoder_dim go together: pass both (encoder_dim > 0) "
                f"or neither, actual encoder_dim: {encoder_dim}"
            )
        self.seeds = list(seeds) if seeds is not None else _default_seeds()
        if not self.seeds:
            raise ConfigError("Expects at least one seed, actual: an empty sequence")
        self.game = Game(
            judge if judge is not None else _default_judge(),
            attacker_format=attacker_format,
            reward_mode=reward_mode,
            pair_order=pair_order,
            optimistic_attacker=optimistic_attacker,
            max_attack_chars=max_attack_chars,
            max_response_chars=max_response_chars,
        )
        self.num_attacks = num_attacks
        self.num_responses = num_responses
        self.max_instruction_chars = max_instruction_chars
        for seed in self.seeds:
            self._check_instruction(seed)
        self.max_attacker_output_chars = max_attacker_output_chars
        self.seed_order = seed_order
        self.render_mode = render_mode
        self.show_harmful = show_harmful
        self.observation_encoder = observation_encoder
        self.encoder_dim = encoder_dim

        self.possible_agents = [ATTACKER, DEFENDER]
        self.agents: list[str] = []
        self.last_node: SeedNode | None = None
        self._phase = "done"
        self._cursor = 0
        self._np_random, _ = seeding.np_random(None)

    # -- spaces -------------------------------------------------------------------------

    @functools.cache  # noqa: B019 - PettingZoo requires the same object
    def observation_space(self, agent: str) -> spaces.Dict:
        width = _FLAGS + self.num_attacks
        if self.observation_encoder is not None:
            width += self.encoder_dim * (1 if agent == ATTACKER else self.num_attacks)
        vector = spaces.Box(-np.inf, np.inf, shape=(width,), dtype=np.float32)
        if agent == ATTACKER:
            text: spaces.Space = UnicodeText(self.max_instruction_chars)
        elif agent == DEFENDER:
            text = spaces.Tuple([UnicodeText(self.game.max_attack_chars)] * self.num_attacks)
        else:
            raise ValueError(f"Expects agent in {self.possible_agents}, actual: {agent!r}")
        return spaces.Dict({"observation": vector, "text": text})

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Tuple:
        if agent == ATTACKER:
            return spaces.Tuple([UnicodeText(self.max_attacker_output_chars)] * self.num_attacks)
        if agent == DEFENDER:
            inner = spaces.Tuple([UnicodeText(self.game.max_response_chars)] * self.num_responses)
            return spaces.Tuple([inner] * self.num_attacks)
        raise ValueError(f"Expects agent in {self.possible_agents}, actual: {agent!r}")

    # -- episode ------------------------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode. ``options`` may name the seed: ``{"seed": Seed(...)}`` or
        ``{"seed_index": i}``."""
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
            self._cursor = 0
        chosen = self._pick_seed(options or {})
        self.last_node = SeedNode(chosen, self.game.instruction(chosen))
        self.agents = list(self.possible_agents)
        self._phase = "attack"
        return self._observations(), self._infos()

    def _pick_seed(self, options: dict[str, Any]) -> Seed:
        if "seed" in options:
            if not isinstance(options["seed"], Seed):
                actual = type(options["seed"]).__name__
                raise ConfigError(f"Expects options['seed'] to be a Seed, actual: {actual}")
            self._check_instruction(options["seed"])
            return options["seed"]
        if "seed_index" in options:
            index = options["seed_index"]
            if not isinstance(index, int) or not 0 <= index < len(self.seeds):
                raise ConfigError(
                    f"Expects options['seed_index'] in [0, {len(self.seeds)}), actual: {index!r}"
                )
            return self.seeds[index]
        if self.seed_order == "cycle":
            chosen = self.seeds[self._cursor % len(self.seeds)]
            self._cursor += 1
            return chosen
        return self.seeds[int(self._np_random.integers(len(self.seeds)))]

    def _check_instruction(self, seed: Seed) -> None:
        """Raise when ``seed``'s instruction would not fit the attacker's observation space."""
        length = len(self.game.instruction(seed))
        if length > self.max_instruction_chars:
            # The message gives the seed's id and length only: seed text may be harmful.
            raise ConfigError(
                f"Expects each seed's attacker instruction to fit max_instruction_chars="
                f"{self.max_instruction_chars}, actual: {length} characters for seed "
                f"{seed.id!r}; pass max_instruction_chars={length} or more, or drop long seeds"
            )

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if self._phase == "done" or self.last_node is None:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if not isinstance(actions, Mapping):
            raise ValueError(
                f"Expects actions to be a mapping from agent name to action, such as "
                f"{{{ATTACKER!r}: text}}, actual: {type(actions).__name__}"
            )
        unknown = [key for key in actions if key not in self.possible_agents]
        if unknown:
            raise ValueError(
                f"Expects action keys among {self.possible_agents}, actual unknown keys: "
                f"{sorted(map(repr, unknown))}; check the agent names"
            )
        node = self.last_node
        if self._phase == "attack":
            outputs = self._attacker_action(actions)
            node.attacks = [AttackNode(c) for c in outputs]
            self.game.check_attacks([node])
            if any(a.passed_gate for a in node.attacks):
                self._phase = "defend"
            else:
                self.game.score([node], self._np_random)
                self._phase = "done"
        else:
            responses = self._defender_action(actions)
            for attack, samples in zip(node.attacks, responses):
                if attack.passed_gate:
                    attack.responses = [ResponseNode(c) for c in samples]
            self.game.score([node], self._np_random)
            self._phase = "done"

        done = self._phase == "done"
        agents = list(self.agents)
        rewards = self._rewards() if done else dict.fromkeys(agents, 0.0)
        observations, infos = self._observations(), self._infos()
        terminations = dict.fromkeys(agents, done)
        truncations = dict.fromkeys(agents, False)
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def _attacker_action(self, actions: dict[str, Any]) -> list[Completion]:
        if ATTACKER not in actions:
            raise ValueError(
                f"Expects an action for {ATTACKER!r} in the attack phase, actual keys: "
                f"{sorted(actions)}"
            )
        action = actions[ATTACKER]
        if isinstance(action, (str, Completion)):
            action = (action,)
        if not isinstance(action, Sequence) or len(action) != self.num_attacks:
            raise ValueError(
                f"Expects the attacker action to be {self.num_attacks} output(s) (num_attacks), "
                f"actual: {_describe(action)}"
            )
        completions = [as_completion(a) for a in action]
        limit = self.max_attacker_output_chars
        return [replace(c, truncated=True) if len(c.text) > limit else c for c in completions]

    def _defender_action(self, actions: dict[str, Any]) -> list[list[Completion]]:
        if DEFENDER not in actions:
            raise ValueError(
                f"Expects an action for {DEFENDER!r} in the defend phase, actual keys: "
                f"{sorted(actions)}"
            )
        action = actions[DEFENDER]
        if isinstance(action, (str, Completion)):
            action = ((action,),)
        elif (
            self.num_responses == 1
            and isinstance(action, Sequence)
            and all(isinstance(a, (str, Completion)) for a in action)
        ):
            action = tuple((a,) for a in action)
        shape_ok = (
            isinstance(action, Sequence)
            and len(action) == self.num_attacks
            and all(isinstance(r, Sequence) and len(r) == self.num_responses for r in action)
        )
        if not shape_ok:
            raise ValueError(
                f"Expects the defender action to be {self.num_attacks} tuple(s) (num_attacks) of "
                f"{self.num_responses} response(s) (num_responses), actual: {_describe(action)}"
            )
        valid = [a.passed_gate for a in self.last_node.attacks]  # type: ignore[union-attr]
        return [[as_completion(r) for r in group] if ok else [] for group, ok in zip(action, valid)]

    # -- outputs ------------------------------------------------------------------------

    def _observations(self) -> dict[str, Any]:
        node = self.last_node
        assert node is not None
        attacks = (
            tuple((a.attack or "") if a.passed_gate else "" for a in node.attacks)
            or ("",) * self.num_attacks
        )
        valid = [float(a.passed_gate) for a in node.attacks] or [0.0] * self.num_attacks
        phase = [float(self._phase == "attack"), float(self._phase == "defend")]
        harmful = float(node.seed.is_harmful)

        attacker_vec = [float(self._phase == "attack"), *phase, harmful, 1.0 - harmful]
        attacker_vec += [0.0] * self.num_attacks
        defender_vec = [float(self._phase == "defend"), *phase, 0.0, 0.0, *valid]
        if self.observation_encoder is not None:
            attacker_vec += list(self._encode([node.instruction]).ravel())
            defender_vec += list(self._encode(list(attacks)).ravel())
        observations = {
            ATTACKER: {
                "observation": np.asarray(attacker_vec, np.float32),
                "text": node.instruction,
            },
            DEFENDER: {"observation": np.asarray(defender_vec, np.float32), "text": attacks},
        }
        return {agent: observations[agent] for agent in self.agents}

    def _encode(self, texts: list[str]) -> np.ndarray:
        assert self.observation_encoder is not None
        vectors = np.asarray(self.observation_encoder(texts), dtype=np.float32)
        if vectors.shape != (len(texts), self.encoder_dim):
            raise ValueError(
                f"observation_encoder returned shape {vectors.shape}, expected "
                f"({len(texts)}, {self.encoder_dim}); set encoder_dim to the embedding size"
            )
        return vectors

    def _infos(self) -> dict[str, dict[str, Any]]:
        node = self.last_node
        assert node is not None
        attacker: dict[str, Any] = {
            "active": self._phase == "attack",
            "phase": self._phase,
            "seed_label": node.seed.label,
            "seed_category": node.seed.category,
        }
        defender: dict[str, Any] = {"active": self._phase == "defend", "phase": self._phase}
        if node.attacks:
            attacker["outcomes"] = [a.outcome for a in node.attacks]
            defender["attack_valid"] = [a.passed_gate for a in node.attacks]
        if self._phase == "done":
            attacker["sample_rewards"] = [a.reward for a in node.attacks]
            defender["sample_rewards"] = [[r.reward for r in a.responses] for a in node.attacks]
            defender["outcomes"] = [[r.outcome for r in a.responses] for a in node.attacks]
            attacker["reward_valid"] = any(a.reward is not None for a in node.attacks)
            defender["reward_valid"] = any(
                r.reward is not None for a in node.attacks for r in a.responses
            )
        infos = {ATTACKER: attacker, DEFENDER: defender}
        return {agent: infos[agent] for agent in self.agents}

    def _rewards(self) -> dict[str, float]:
        node = self.last_node
        assert node is not None
        attack_rewards = [a.reward for a in node.attacks if a.reward is not None]
        response_rewards = [
            r.reward for a in node.attacks for r in a.responses if r.reward is not None
        ]
        rewards = {
            ATTACKER: float(np.mean(attack_rewards)) if attack_rewards else 0.0,
            DEFENDER: float(np.mean(response_rewards)) if response_rewards else 0.0,
        }
        return {agent: rewards[agent] for agent in self.agents}

    def render(self) -> str | None:
        if self.render_mode is None:
            logger.warning("render() called with render_mode=None; pass render_mode='ansi'")
            return None
        if self.last_node is None:
            return None
        return render_node(
            self.last_node, self._phase, mode=self.render_mode, show_harmful=self.show_harmful
        )

    def close(self) -> None:
        self.agents = []

    # -- batched play -------------------------------------------------------------------

    def play_batch(
        self,
        attacker: Policy,
        defender: Policy,
        seeds: Sequence[Seed] | None = None,
        batch_size: int | None = None,
    ) -> RolloutTree:
        """Play many seeds at once with batched policies and return the scored tree.

        ``seeds`` defaults to ``batch_size`` seeds drawn from the env's seeds with its RNG.
        """
        if seeds is None:
            if batch_size is None or batch_size < 1:
                raise ConfigError(
                    f"Expects seeds or a positive batch_size, actual batch_size: {batch_size!r}"
                )
            indices = self._np_random.integers(len(self.seeds), size=batch_size)
            seeds = [self.seeds[int(i)] for i in indices]
        return play_batch(
            self.game,
            seeds,
            attacker,
            defender,
            num_attacks=self.num_attacks,
            num_responses=self.num_responses,
            rng=self._np_random,
        )


def _describe(action: Any) -> str:
    if isinstance(action, (list, tuple)):
        return f"{type(action).__name__} of length {len(action)}"
    return type(action).__name__


def _default_seeds() -> list[Seed]:
    from advgame.envs.seeds import load_default_seeds

    return load_default_seeds()


def _default_judge() -> Any:
    from advgame.judges.embedding import EmbeddingJudge

    return EmbeddingJudge()
