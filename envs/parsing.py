"""Strict parsing of the attacker's output.

Think mode expects ``<think>strategy</think>`` followed by ``<prompt>attack</prompt>`` and
nothing after it; nothink mode expects the ``<prompt>`` block alone. Tags are matched
case-insensitively, surrounding white space is allowed, and anything else (text before or
after the blocks, a missing or repeated tag, an empty attack) is a parse error. The
training sequence stays the whole raw output; parsing only extracts the attack.

Plain mode is an addition for small models that cannot keep a tag format (the embedded
135M model closes a ``<prompt>`` tag in well under one output in ten): the whole output,
stripped of surrounding white space, is the attack, and only an empty output is a parse
error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

AttackerFormat = Literal["think", "nothink", "plain"]
ATTACKER_FORMATS: tuple[str, ...] = ("think", "nothink", "plain")

_THINK = re.compile(
    r"\A\s*<think>(?P<think>.*?)</think>\s*<prompt>(?P<prompt>.*)</prompt>\s*\Z",
    re.IGNORECASE | re.DOTALL,
)
_NOTHINK = re.compile(r"\A\s*<prompt>(?P<prompt>.*)</prompt>\s*\Z", re.IGNORECASE | re.DOTALL)
_ANY_TAG = re.compile(r"</?(?:think|prompt)>", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAttack:
    """Result of parsing one attacker output: the attack, or the reason it failed."""

    attack: str | None
    reasoning: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_attack(raw: str, attacker_format: AttackerFormat = "think") -> ParsedAttack:
    """Extract the attack from the attacker's raw output.

    Returns a :class:`ParsedAttack` whose ``error`` says what was wrong when parsing failed;
    this function never raises on model output.
    """
    if attacker_format not in ATTACKER_FORMATS:
        raise ValueError(
            f"Expects attacker_format in {ATTACKER_FORMATS}, actual: {attacker_format!r}"
        )
    if attacker_format == "plain":
        attack = raw.strip()
        return ParsedAttack(attack) if attack else ParsedAttack(None, error="empty output")
    pattern = _THINK if attacker_format == "think" else _NOTHINK
    match = pattern.match(raw)
    if match is None:
        return ParsedAttack(None, error=_explain_mismatch(raw, attacker_format))

    prompt = match.group("prompt")
    reasoning = match.group("think") if attacker_format == "think" else None
    if _ANY_TAG.search(prompt) or (reasoning is not None and _ANY_TAG.search(reasoning)):
        return ParsedAttack(None, error="repeated or nested <think>/<prompt> tags")
    if not prompt.strip():
        return ParsedAttack(None, error="empty <prompt> block")
    if reasoning is not None and not reasoning.strip():
        return ParsedAttack(None, error="empty <think> block")
    return ParsedAttack(prompt.strip(), reasoning=reasoning.strip() if reasoning else None)


def _explain_mismatch(raw: str, attacker_format: AttackerFormat) -> str:
    lowered = raw.lower()
    if "<prompt>" not in lowered:
        return "missing <prompt> block"
    if "</prompt>" not in lowered:
        return "unclosed <prompt> block"
    if attacker_format == "think" and "<think>" not in lowered:
        return "missing <think> block before <prompt>"
    if attacker_format == "think" and "</think>" not in lowered:
        return "unclosed <think> block"
    tail = lowered.rsplit("</prompt>", 1)[1]
    if tail.strip():
        return "text after </prompt>"
    return "text outside the expected blocks"
