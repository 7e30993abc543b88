"""The scored rollout tree: seeds, their attacks, and the defender's responses to each attack.

One training step plays B seeds × A attacks × D responses. Every node keeps the sampled
completion (text, token ids, sampler log-probs), a typed :class:`Outcome` and the patched
reward, so learners read per-sample rewards straight from the tree.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from advgame.agents.base import Completion
from advgame.envs.parsing import ParsedAttack
from advgame.envs.seeds.base import Seed
from advgame.judges.base import Faithfulness


class Outcome(str, enum.Enum):
    """What happened to one sample; decides its reward under the patching table.

    ========================  ==========  =======================================
    outcome                   reward      meaning
    ========================  ==========  =======================================
    ``JUDGED``                0 to 10     scored by the judge
    ``PARSE_ERROR``           -1          attacker output did not match the format
    ``MAX_LENGTH``            -1          hit the token or character limit
    ``UNFAITHFUL``            -1          attack dropped its seed's intent
    ``NO_SAMPLE``             none        defender had no turn (attack invalid)
    ``JUDGE_FAILED``          excluded    a judge returned no usable verdict
    ``NO_VALID_RESPONSE``     excluded    attacker: every response was an error
    ========================  ==========  =======================================
    """

    JUDGED = "judged"
    PARSE_ERROR = "parse_error"
    MAX_LENGTH = "max_length"
    UNFAITHFUL = "unfaithful"
    NO_SAMPLE = "no_sample"
    JUDGE_FAILED = "judge_failed"
    NO_VALID_RESPONSE = "no_valid_response"

    @property
    def is_error(self) -> bool:
        """Whether the sample itself was invalid (it gets reward -1)."""
        return self in (Outcome.PARSE_ERROR, Outcome.MAX_LENGTH, Outcome.UNFAITHFUL)

    @property
    def is_excluded(self) -> bool:
        """Whether the sample has no reward and must be left out of any loss."""
        return self in (Outcome.NO_SAMPLE, Outcome.JUDGE_FAILED, Outcome.NO_VALID_RESPONSE)


ERROR_REWARD = -1.0


@dataclass
class ResponseNode:
    """One defender response to an attack."""

    completion: Completion
    outcome: Outcome | None = None
    reward: float | None = None

    @property
    def text(self) -> str:
        return self.completion.text


@dataclass
class AttackNode:
    """One attacker output for a seed, and the defender's responses to its attack.

    ``passed_gate`` is set once the attack has parsed, fit the length limit and been judged
    faithful; only such attacks get defender responses.
    """

    completion: Completion
    parsed: ParsedAttack | None = None
    faithfulness: Faithfulness | None = None
    passed_gate: bool = False
    outcome: Outcome | None = None
    reward: float | None = None
    responses: list[ResponseNode] = field(default_factory=list)
    chosen_response: int | None = None

    @property
    def attack(self) -> str | None:
        """The extracted attack, or ``None`` if parsing failed or was not run yet."""
        return self.parsed.attack if self.parsed is not None else None


@dataclass
class SeedNode:
    """A seed, the attacker instruction built from it, and its attacks."""

    seed: Seed
    instruction: str
    attacks: list[AttackNode] = field(default_factory=list)


@dataclass
class RolloutTree:
    """The scored samples of one batch of seeds, plus metrics gathered while scoring."""

    nodes: list[SeedNode]
    metrics: dict[str, float] = field(default_factory=dict)

    def attacks(self) -> Iterator[tuple[SeedNode, AttackNode]]:
        for node in self.nodes:
            for attack in node.attacks:
                yield node, attack

    def responses(self) -> Iterator[tuple[SeedNode, AttackNode, ResponseNode]]:
        for node, attack in self.attacks():
            for response in attack.responses:
                yield node, attack, response
