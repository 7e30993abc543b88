"""Exception types raised at advgame's public boundaries.

Messages follow one pattern: what was expected, the actual value, then the fix.
"""

from __future__ import annotations


class AdvGameError(Exception):
    """Base class of every error that advgame raises on purpose."""


class ConfigError(AdvGameError, ValueError):
    """A user-supplied argument or configuration value is invalid."""


class SeedFileError(AdvGameError, ValueError):
    """A seed data file is malformed; the message names the path and the line."""

    def __init__(self, path: str, line: int | None, expected: str, actual: str = "") -> None:
        self.path = path
        self.line = line
        self.expected = expected
        location = f"{path}:{line}" if line is not None else path
        message = f"{location}: expected {expected}"
        if actual:
            message += f", actual: {actual}"
        super().__init__(message)


class ModelNotFoundError(AdvGameError, FileNotFoundError):
    """A model could not be located on disk (advgame never downloads weights)."""


class JudgeError(AdvGameError):
    """Base class of judge failures that stop a run."""


class JudgeFailureRateError(JudgeError):
    """A judge's share of failed verdicts went above its configured limit."""

    def __init__(self, judge_name: str, rate: float, limit: float, calls: int) -> None:
        self.judge_name = judge_name
        self.rate = rate
        self.limit = limit
        self.calls = calls
        super().__init__(
            f"judge {judge_name!r} failed on {rate:.1%} of {calls} verdicts, above the limit "
            f"of {limit:.1%}; check the judge's server or parser, or raise max_failure_rate"
        )
