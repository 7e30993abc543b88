"""Build a judge from a name or a configuration mapping, as configs and the CLI do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from advgame.errors import ConfigError

JUDGE_KINDS: tuple[str, ...] = ("embedding", "rule")


def make_judge(spec: Any) -> Any:
    """Return a judge for ``spec``.

    ``spec`` is a judge object (returned unchanged), a kind name such as ``"embedding"``, or a
    mapping ``{"kind": name, **arguments}`` whose other keys go to the judge's constructor.
    """
    if not isinstance(spec, (str, Mapping)):
        return spec
    options = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = options.pop("kind", None)
    if kind == "embedding":
        from advgame.judges.embedding import EmbeddingJudge

        return EmbeddingJudge(**options)
    if kind == "rule":
        from advgame.judges.rule import RuleJudge

        return RuleJudge(**options)
    raise ConfigError(f"Expects a judge kind in {JUDGE_KINDS}, actual: {kind!r}")
