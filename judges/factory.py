"""Build a judge from a name or a configuration mapping, as configs and the CLI do."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from advgame.errors import ConfigError

JUDGE_KINDS: tuple[str, ...] = ("embedding", "rule", "keyword", "lm", "http")


def make_judge(spec: Any) -> Any:
    """Return a judge for ``spec``.

    ``spec`` is a judge object (returned unchanged), a kind name such as ``"embedding"``, or a
    mapping ``{"kind": name, **arguments}`` whose other keys go to the judge's constructor.
    Kinds: ``embedding``, ``rule``, ``keyword``, ``lm`` (arguments of
    :meth:`~advgame.judges.lm.LMJudge.from_pretrained`, for example
    ``{"kind": "lm", "model": "default", "mode": "logprob"}``) and ``http`` (arguments of
    :class:`~advgame.judges.http.HTTPJudge`, for example
    ``{"kind": "http", "base_url": "http://127.0.0.1:8000/v1", "model": "judge"}``).
    """
    if spec is None or isinstance(spec, (bool, int, float, list, tuple)):
        raise ConfigError(
            f"Expects a judge kind in {JUDGE_KINDS}, a mapping with 'kind', or a judge object, "
            f"actual: {spec!r}"
        )
    if not isinstance(spec, (str, Mapping)):
        return spec
    options = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = options.pop("kind", None)
    return _build(kind, options)


def _checked(factory: Any, kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """Return ``options`` unchanged, or raise when ``factory`` does not take them."""
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as error:
        raise ConfigError(
            f"Expects options that the {kind!r} judge takes, actual: {sorted(options)} "
            f"({error}); check the spelling"
        ) from None
    return options


def _build(kind: Any, options: dict[str, Any]) -> Any:
    if kind == "embedding":
        from advgame.judges.embedding import EmbeddingJudge

        return EmbeddingJudge(**_checked(EmbeddingJudge, kind, options))
    if kind == "rule":
        from advgame.judges.rule import RuleJudge

        return RuleJudge(**_checked(RuleJudge, kind, options))
    if kind == "keyword":
        from advgame.judges.keyword import KeywordJudge

        return KeywordJudge(**_checked(KeywordJudge, kind, options))
    if kind == "lm":
        from advgame.judges.lm import LMJudge

        return LMJudge.from_pretrained(**_checked(LMJudge.from_pretrained, kind, options))
    if kind == "http":
        from advgame.judges.http import HTTPJudge

        missing = [key for key in ("base_url", "model") if key not in options]
        if missing:
            raise ConfigError(
                f"the http judge needs {missing}; pass for example "
                "{'kind': 'http', 'base_url': 'http://127.0.0.1:8000/v1', 'model': 'judge'}"
            )
        return HTTPJudge(**_checked(HTTPJudge, kind, options))
    raise ConfigError(f"Expects a judge kind in {JUDGE_KINDS}, actual: {kind!r}")
