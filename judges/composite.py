"""A judge per role: faithfulness gate, defender judge and attacker judge."""

from __future__ import annotations

from typing import Any

from advgame.errors import ConfigError
from advgame.judges.base import FaithfulnessJudge, Judge, JudgeStats, PairwiseJudge, PointwiseJudge

ROLES: tuple[str, ...] = ("faithfulness", "defender", "attacker")


class CompositeJudge:
    """Assigns one judge to each role of the game.

    Args:
        default: the judge for every role not given explicitly.
        faithfulness: decides whether attacks keep their seed's intent
            (a :class:`FaithfulnessJudge`).
        defender: scores defender responses against the attack.
        attacker: scores the chosen defender response against the seed.

    Example:
        >>> from advgame.judges import CompositeJudge, RuleJudge
        >>> panel = CompositeJudge(RuleJudge(), attacker=RuleJudge())
        >>> panel.defender is panel.faithfulness
        True
    """

    def __init__(
        self,
        default: Judge | None = None,
        *,
        faithfulness: Judge | None = None,
        defender: Judge | None = None,
        attacker: Judge | None = None,
    ) -> None:
        chosen = {
            "faithfulness": faithfulness or default,
            "defender": defender or default,
            "attacker": attacker or default,
        }
        missing = [role for role, judge in chosen.items() if judge is None]
        if missing:
            raise ConfigError(
                f"CompositeJudge has no judge for role(s) {missing}; pass default= or a judge "
                "for each role"
            )
        if not isinstance(chosen["faithfulness"], FaithfulnessJudge):
            raise ConfigError(
                "Expects the faithfulness judge to be a FaithfulnessJudge, actual: "
                f"{type(chosen['faithfulness']).__name__}"
            )
        for role in ("defender", "attacker"):
            if not isinstance(chosen[role], (PairwiseJudge, PointwiseJudge)):
                raise ConfigError(
                    f"Expects the {role} judge to be a PairwiseJudge or PointwiseJudge, "
                    f"actual: {type(chosen[role]).__name__}"
                )
        self.faithfulness: FaithfulnessJudge = chosen["faithfulness"]
        self.defender: Any = chosen["defender"]
        self.attacker: Any = chosen["attacker"]

    def judges(self) -> dict[str, Judge]:
        """Return the judges by role."""
        return {
            "faithfulness": self.faithfulness,
            "defender": self.defender,
            "attacker": self.attacker,
        }

    def metrics(self) -> dict[str, float]:
        """Return ``judge/`` counts summed over the distinct judges: ``calls``,
        ``parse_failures``, ``errors``, ``failure_rate``, ``{role}_failures`` per role, and
        ``http_attempts``, ``http_retries``, ``http_cache_hits``, ``http_failures`` when a
        judge talks HTTP."""
        distinct: dict[int, Judge] = {id(j): j for j in self.judges().values()}
        total = JudgeStats()
        for judge in distinct.values():
            total.calls += judge.stats.calls
            total.parse_failures += judge.stats.parse_failures
            total.errors += judge.stats.errors
        metrics = total.as_metrics("judge/")
        for role, judge in self.judges().items():
            metrics[f"judge/{role}_failures"] = float(judge.stats.failures)
        # HTTP judges also report transport counts (attempts, retries, cache hits).
        for judge in distinct.values():
            transport = getattr(judge, "transport_stats", None)
            if transport is None:
                continue
            for key, value in transport.as_metrics("judge/http_").items():
                metrics[key] = metrics.get(key, 0.0) + value
        return metrics

    def __repr__(self) -> str:
        parts = ", ".join(f"{role}={type(j).__name__}" for role, j in self.judges().items())
        return f"CompositeJudge({parts})"


def as_composite(judge: Judge | CompositeJudge) -> CompositeJudge:
    """Return a :class:`CompositeJudge` unchanged; wrap any other judge for all roles."""
    if isinstance(judge, CompositeJudge):
        return judge
    if not isinstance(judge, Judge):
        raise ConfigError(
            f"Expects a judge (advgame.judges.Judge or CompositeJudge), actual: "
            f"{type(judge).__name__}"
        )
    return CompositeJudge(judge)
