"""Next-token scoring for the log-probability mode of :class:`~advgame.judges.lm.LMJudge`.

:class:`NextTokenScorer` returns, for each token row, the next-token distributions at its
last two positions: after the answer prefix, and after the extra token that
:func:`plan_candidates` appends for two-token candidates. Rows are batched, and rows that
share a token prefix (every prompt of one template shares its system turn, instructions and
criteria) run that prefix once: its key-value cache is computed a single time, kept for
later calls, and copied into each micro-batch, whose rows then carry only their own suffix.
When the model or its cache class does not support this, the scorer falls back to left-padded
batches of whole rows and logs the reason once.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from advgame.errors import ConfigError

logger = logging.getLogger(__name__)

# Shorter shared prefixes are not worth a separate forward pass.
MIN_PREFIX_TOKENS = 64
# Prefix caches kept between calls (one per template in use, typically).
MAX_CACHED_PREFIXES = 8


@dataclass(frozen=True)
class CandidatePlan:
    """Token ids that carry each answer candidate after the answer prefix.

    Attributes:
        first: the first token id of each candidate, in candidate order.
        second: for two-token candidates, candidate index -> second token id.
        extension: the first token shared by the two-token candidates; it is appended to
            the input so one forward pass also yields the distribution after it.
    """

    first: tuple[int, ...]
    second: dict[int, int]
    extension: int | None


def plan_candidates(tokenizer: Any, prefix: str, candidates: tuple[str, ...]) -> CandidatePlan:
    """Find the token ids of ``candidates`` when they follow ``prefix``.

    Raises:
        ConfigError: when a candidate is not a token continuation of the prefix, takes
            more than two tokens, or two candidates cannot be distinguished by this scheme.
    """

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False).input_ids)

    prefix_ids = encode(prefix)
    pieces: list[list[int]] = []
    for candidate in candidates:
        ids = encode(prefix + candidate)
        if ids[: len(prefix_ids)] != prefix_ids or len(ids) == len(prefix_ids):
            raise ConfigError(
                f"the tokenizer merges the answer prefix {prefix!r} with the candidate "
                f"{candidate!r}; end the template's answer tag with a character that the "
                "tokenizer keeps separate, such as '>'"
            )
        pieces.append(ids[len(prefix_ids) :])
    if any(len(p) > 2 for p in pieces):
        raise ConfigError(
            f"answer candidates must take at most two tokens after {prefix!r}, actual: "
            f"{dict(zip(candidates, pieces))}"
        )
    shared = {p[0] for p in pieces if len(p) == 2}
    singles = [p[0] for p in pieces if len(p) == 1]
    if len(shared) > 1 or len(set(singles)) != len(singles):
        raise ConfigError(
            f"answer candidates {list(candidates)} cannot be distinguished in one forward pass "
            f"with this tokenizer (token ids {pieces}); use single-token candidates"
        )
    second = {i: p[1] for i, p in enumerate(pieces) if len(p) == 2}
    return CandidatePlan(tuple(p[0] for p in pieces), second, next(iter(shared), None))


def candidate_probs(
    plan: CandidatePlan, candidates: tuple[str, ...], first: Any, after: Any | None
) -> dict[str, float]:
    """Combine the next-token probabilities ``first`` (and ``after``, the distribution after
    the shared first token) into one probability per candidate."""
    continued = sum(float(after[t]) for t in plan.second.values()) if after is not None else 0.0
    probs: dict[str, float] = {}
    for index, candidate in enumerate(candidates):
        p_first = float(first[plan.first[index]])
        if index in plan.second:
            assert after is not None
            probs[candidate] = p_first * float(after[plan.second[index]])
        elif plan.first[index] == plan.extension:
            probs[candidate] = p_first * max(0.0, 1.0 - continued)
        else:
            probs[candidate] = p_first
    return probs


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Return the number of leading tokens that all ``rows`` share."""
    if not rows:
        return 0
    length = min(len(r) for r in rows)
    first = rows[0]
    for position in range(length):
        token = first[position]
        if any(r[position] != token for r in rows):
            return position
    return length


class NextTokenScorer:
    """Batched next-token distributions at the last two positions of token rows.

    Args:
        model: a ``transformers`` causal LM in eval mode.
        tokenizer: its tokenizer (for the padding id).
        batch_size: rows per forward pass.
        prefix_cache: reuse the key-value cache of shared prefixes; see the module docstring.
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int, *, prefix_cache: bool = True):
        self.model = model
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache
        self._prefixes: OrderedDict[tuple[int, ...], Any] = OrderedDict()

    def last_two_probs(self, rows: Sequence[Sequence[int]]) -> list[tuple[Any, Any]]:
        """Return ``(probs at position -2, probs at position -1)`` per row, each (V,)."""
        import torch

        if any(len(r) < 2 for r in rows):
            raise ValueError("Expects every token row to have at least two tokens")
        results: list[tuple[Any, Any] | None] = [None] * len(rows)
        with torch.no_grad():
            for prefix_length, members in self._groups(rows):
                for start in range(0, len(members), self.batch_size):
                    chunk = members[start : start + self.batch_size]
                    logits = self._chunk_logits([list(rows[i]) for i in chunk], prefix_length)
                    probs = torch.softmax(logits.float(), dim=-1).cpu()  # (B, 2, V)
                    for row, index in enumerate(chunk):
                        results[index] = (probs[row, 0], probs[row, 1])
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    def _groups(self, rows: Sequence[Sequence[int]]) -> list[tuple[int, list[int]]]:
        """Split rows into groups that share a prefix; return ``(prefix length, members)``.

        Rows are sorted by their tokens, so prompts of one template sit next to each other.
        A row joins the current group unless the prefix it would cut from the members
        (members times tokens lost) outweighs the prefix it would share itself.
        """
        order = sorted(range(len(rows)), key=lambda i: list(rows[i]))
        planned: list[tuple[int, list[int]]] = []
        members: list[int] = []
        shared = 0
        for index in order:
            # Every row keeps its last two tokens outside the prefix.
            room = len(rows[index]) - 2
            if not members:
                members, shared = [index], room
                continue
            joined = min(shared, room, common_prefix_length([rows[members[-1]], rows[index]]))
            if len(members) == 1 or len(members) * (shared - joined) <= joined:
                members.append(index)
                shared = joined
            else:
                planned.append(self._plan_group(shared, members, rows))
                members, shared = [index], room
        if members:
            planned.append(self._plan_group(shared, members, rows))
        return planned

    def _plan_group(
        self, shared: int, members: list[int], rows: Sequence[Sequence[int]]
    ) -> tuple[int, list[int]]:
        members = sorted(members, key=lambda i: len(rows[i]))
        use_cache = self.prefix_cache and len(members) > 1 and shared >= MIN_PREFIX_TOKENS
        return (shared if use_cache else 0, members)

    def _chunk_logits(self, rows: list[list[int]], prefix_length: int) -> Any:
        if prefix_length and self.prefix_cache:
            try:
                return self._cached_logits(rows, prefix_length)
            except (TypeError, AttributeError, NotImplementedError, RuntimeError) as error:
                logger.warning(
                    "prefix caching failed (%s: %s); scoring whole rows from now on",
                    type(error).__name__,
                    error,
                )
                self.prefix_cache = False
                self._prefixes.clear()
        return self._plain_logits(rows)

    def _device(self) -> Any:
        return next(self.model.parameters()).device

    def _plain_logits(self, rows: list[list[int]]) -> Any:
        from advgame.agents.backends import left_pad

        input_ids, mask = left_pad(rows, self.pad_id, self._device())
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        inputs = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions}
        try:
            # Projecting only two positions onto the vocabulary skips the output layer's
            # work for the rest of the prompt.
            return self.model(**inputs, logits_to_keep=2).logits[:, -2:]
        except TypeError:
            return self.model(**inputs).logits[:, -2:]

    def _prefix_kv(self, prefix: tuple[int, ...]) -> Any:
        import torch

        if prefix in self._prefixes:
            self._prefixes.move_to_end(prefix)
            return self._prefixes[prefix]
        ids = torch.tensor([prefix], device=self._device())
        output = self.model(input_ids=ids, use_cache=True)
        cache = getattr(output, "cache", None) or getattr(output, "past_key_values", None)
        if cache is None:
            raise NotImplementedError("the model returned no key-value cache")
        self._prefixes[prefix] = cache
        if len(self._prefixes) > MAX_CACHED_PREFIXES:
            self._prefixes.popitem(last=False)
        return cache

    def _cache_argument(self) -> str:
        # transformers 5.x names the argument `cache`; 4.x names it `past_key_values`.
        parameters = inspect.signature(self.model.forward).parameters
        return "cache" if "cache" in parameters else "past_key_values"

    def _cached_logits(self, rows: list[list[int]], prefix_length: int) -> Any:
        import torch

        device = self._device()
        cache = copy.deepcopy(self._prefix_kv(tuple(rows[0][:prefix_length])))
        cache.batch_repeat_interleave(len(rows))
        suffixes = [row[prefix_length:] for row in rows]
        width = max(len(s) for s in suffixes)
        # Suffixes are right-padded: causal attention keeps real tokens from seeing the pads
        # after them, and each row's last two real positions are gathered below.
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), prefix_length + width), dtype=torch.long)
        mask[:, :prefix_length] = 1
        for b, suffix in enumerate(suffixes):
            ids[b, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
            mask[b, prefix_length : prefix_length + len(suffix)] = 1
        positions = prefix_length + torch.arange(width).expand(len(rows), width)
        last = [len(s) - 1 for s in suffixes]
        # Only the last two real positions of each row reach the vocabulary projection.
        keep = sorted({p for end in last for p in (end - 1, end)})
        column = {p: k for k, p in enumerate(keep)}
        inputs = {
            "input_ids": ids.to(device),
            "attention_mask": mask.to(device),
            "position_ids": positions.to(device),
            "use_cache": True,
            self._cache_argument(): cache,
        }
        try:
            logits = self.model(**inputs, logits_to_keep=torch.tensor(keep, device=device)).logits
        except TypeError:
            logits = self.model(**inputs).logits[:, keep]  # (B, K, V)
        rows_index = torch.arange(len(rows), device=logits.device)
        previous = torch.tensor([column[end - 1] for end in last], device=logits.device)
        final = torch.tensor([column[end] for end in last], device=logits.device)
        return torch.stack([logits[rows_index, previous], logits[rows_index, final]], dim=1)
