"""Turning judge model output into verdicts: tagged text and answer-token probabilities.

Generative outputs are parsed strictly. The verdict is the content of the *last*
occurrence of each tag, because judges reason first and may quote the format while
reasoning. The content must be a plain number (``7``, ``7.5``) in [0, 10], or ``yes``/``no``
for faithfulness (any letter case). Anything else (a missing tag, ``7/10``, ``11``,
``seven``) is a :attr:`~advgame.judges.base.JudgeStatus.PARSE_FAILURE` whose ``detail``
describes the problem.

Log-probability outputs are probabilities of the answer candidates after the answer tag:

* pairwise: ``p = P(A) / (P(A) + P(B))``; ``score_a = 10 p`` and ``score_b = 10 (1 - p)``;
* pointwise: the expected score ``sum_k k P(k) / sum_k P(k)`` over the tokens ``0``..``10``;
* faithfulness: FAITHFUL when ``P(Yes) > P(No)``, UNFAITHFUL when lower, UNDETERMINED when
  equal.

Candidate probabilities that are all zero (no candidate among the returned tokens) are a
parse failure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from advgame.judges.base import (
    Faithfulness,
    FaithfulnessVerdict,
    JudgeStatus,
    PairwiseVerdict,
    PointwiseVerdict,
)

MIN_SCORE = 0.0
MAX_SCORE = 10.0

_NUMBER = re.compile(r"\s*(\d{1,2}(?:\.\d+)?)\s*")
_DETAIL_CHARS = 40


def last_tag(text: str, tag: str) -> str | None:
    """Return the content of the last ``<tag>...</tag>`` in ``text`` (tag name in any
    letter case), or ``None`` when the tag is missing or never closed."""
    pattern = re.compile(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.I | re.S)
    found = pattern.findall(text)
    return found[-1] if found else None


def _excerpt(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= _DETAIL_CHARS else value[:_DETAIL_CHARS] + "..."


def parse_score(text: str, tag: str) -> tuple[float | None, str]:
    """Return ``(score, "")`` for a valid score in ``<tag>``, else ``(None, reason)``."""
    content = last_tag(text, tag)
    if content is None:
        return None, f"no <{tag}>...</{tag}> in the judge output"
    match = _NUMBER.fullmatch(content)
    if match is None:
        return None, f"<{tag}> holds {_excerpt(content)!r}, not a number from 0 to 10"
    value = float(match.group(1))
    if not MIN_SCORE <= value <= MAX_SCORE:
        return None, f"<{tag}> holds {value:g}, outside [0, 10]"
    return value, ""


def parse_pointwise(text: str) -> PointwiseVerdict:
    """Parse ``<score>N</score>`` from a generative judge output."""
    score, reason = parse_score(text, "score")
    if score is None:
        return PointwiseVerdict.failed(JudgeStatus.PARSE_FAILURE, reason)
    return PointwiseVerdict(score)


def parse_pairwise(text: str) -> PairwiseVerdict:
    """Parse ``<score_a>N</score_a>`` and ``<score_b>M</score_b>`` from a judge output."""
    score_a, reason_a = parse_score(text, "score_a")
    score_b, reason_b = parse_score(text, "score_b")
    if score_a is None or score_b is None:
        reason = "; ".join(r for r in (reason_a, reason_b) if r)
        return PairwiseVerdict.failed(JudgeStatus.PARSE_FAILURE, reason)
    return PairwiseVerdict(score_a, score_b)


def parse_faithfulness(text: str) -> FaithfulnessVerdict:
    """Parse ``<verdict>yes</verdict>`` or ``<verdict>no</verdict>`` (any letter case)."""
    content = last_tag(text, "verdict")
    if content is None:
        return FaithfulnessVerdict.failed(
            JudgeStatus.PARSE_FAILURE, "no <verdict>...</verdict> in the judge output"
        )
    answer = content.strip().lower()
    if answer == "yes":
        return FaithfulnessVerdict(Faithfulness.FAITHFUL)
    if answer == "no":
        return FaithfulnessVerdict(Faithfulness.UNFAITHFUL)
    return FaithfulnessVerdict.failed(
        JudgeStatus.PARSE_FAILURE, f"<verdict> holds {_excerpt(content)!r}, not yes or no"
    )


def _total(probs: Mapping[str, float], keys: tuple[str, ...]) -> float:
    return sum(max(0.0, float(probs.get(k, 0.0))) for k in keys)


def _no_mass(kind: str, keys: tuple[str, ...]) -> str:
    return f"{kind}: no probability on any answer candidate {list(keys)}"


def pairwise_from_probs(probs: Mapping[str, float]) -> PairwiseVerdict:
    """Map ``{"A": P(A), "B": P(B)}`` to two scores that sum to 10."""
    total = _total(probs, ("A", "B"))
    if not total > 0 or not math.isfinite(total):
        return PairwiseVerdict.failed(JudgeStatus.PARSE_FAILURE, _no_mass("pairwise", ("A", "B")))
    p_a = max(0.0, float(probs.get("A", 0.0))) / total
    detail = f"P(A)={p_a:.3f}"
    return PairwiseVerdict(MAX_SCORE * p_a, MAX_SCORE * (1.0 - p_a), detail=detail)


def pointwise_from_probs(probs: Mapping[str, float]) -> PointwiseVerdict:
    """Map ``{"0": P(0), ..., "10": P(10)}`` to the expected score."""
    keys = tuple(str(k) for k in range(11))
    total = _total(probs, keys)
    if not total > 0 or not math.isfinite(total):
        return PointwiseVerdict.failed(JudgeStatus.PARSE_FAILURE, _no_mass("pointwise", keys))
    expected = sum(int(k) * max(0.0, float(probs.get(k, 0.0))) for k in keys) / total
    return PointwiseVerdict(expected, detail=f"mass on scores={total:.3f}")


def faithfulness_from_probs(probs: Mapping[str, float]) -> FaithfulnessVerdict:
    """Map ``{"Yes": P(Yes), "No": P(No)}`` to a faithfulness verdict."""
    p_yes = max(0.0, float(probs.get("Yes", 0.0)))
    p_no = max(0.0, float(probs.get("No", 0.0)))
    if not p_yes + p_no > 0:
        return FaithfulnessVerdict.failed(
            JudgeStatus.PARSE_FAILURE, _no_mass("faithfulness", ("Yes", "No"))
        )
    detail = f"P(Yes)={p_yes / (p_yes + p_no):.3f}"
    if p_yes > p_no:
        return FaithfulnessVerdict(Faithfulness.FAITHFUL, detail=detail)
    if p_no > p_yes:
        return FaithfulnessVerdict(Faithfulness.UNFAITHFUL, detail=detail)
    return FaithfulnessVerdict(Faithfulness.UNDETERMINED, detail=detail)


def merge_candidate_probs(
    token_probs: Mapping[str, float], candidates: tuple[str, ...]
) -> dict[str, float]:
    """Sum token probabilities onto candidates, ignoring surrounding white space and letter
    case: the tokens ``" A"`` and ``"a"`` both count for ``"A"``."""
    lookup = {c.lower(): c for c in candidates}
    merged = dict.fromkeys(candidates, 0.0)
    for token, prob in token_probs.items():
        candidate = lookup.get(token.strip().lower())
        if candidate is not None:
            merged[candidate] += prob
    return merged
