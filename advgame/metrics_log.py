"""Metrics output of a run: JSON lines, plus TensorBoard when it is installed."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


class MetricsLogger:
    """Appends one JSON object per step to ``metrics.jsonl`` in ``out_dir``.

    Non-finite values are written as ``null`` so that the file stays valid JSON. On resume,
    :meth:`truncate_after` drops lines of steps that the restored checkpoint had not reached.

    Args:
        out_dir: the run folder.
        tensorboard: also write TensorBoard scalars under ``out_dir/tensorboard`` when the
            ``tensorboard`` package is installed; a missing package is logged once.
    """

    def __init__(self, out_dir: str | Path, tensorboard: bool = True) -> None:
        self.path = Path(out_dir) / METRICS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(Path(out_dir) / "tensorboard"))
            except ImportError:
                logger.info("tensorboard is not installed; writing %s only", self.path.name)

    def truncate_after(self, step: int) -> None:
        """Keep only the lines of steps ``<= step``."""
        if not self.path.exists():
            return
        kept = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                # A run killed while appending leaves a partial last line; it is dropped.
                logger.warning("dropping unreadable line %d of %s", number, self.path)
                continue
            if isinstance(record, dict) and record.get("step", 0) <= step:
                kept.append(line)
        self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        record: dict[str, Any] = {"step": step, "time": round(time.time(), 3)}
        for key, value in metrics.items():
            number = float(value)
            record[key] = number if math.isfinite(number) else None
            if self._writer is not None and math.isfinite(number):
                self._writer.add_scalar(key, number, step)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Return the records of a ``metrics.jsonl`` file.

    An unreadable last line, which a run killed while appending leaves behind, is skipped
    with a warning. An unreadable line elsewhere raises ``ValueError`` with its number.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):
                logger.warning("skipping unreadable last line %d of %s", number, path)
                continue
            raise ValueError(
                f"Expects one JSON object per line in {path}, actual: unreadable line "
                f"{number} ({error.msg}); remove or repair that line"
            ) from error
    return records
