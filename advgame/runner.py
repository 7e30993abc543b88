"""The training loop behind ``advgame train``, with rich progress and the before/after table."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from advgame.config import RunConfig
from advgame.evaluation import EvalResult, evaluate_defender
from advgame.metrics_log import MetricsLogger
from advgame.training import (
    StopRequest,
    build_run,
    check_resumable,
    checkpoints,
    save_checkpoint,
    save_config,
    write_json,
)

logger = logging.getLogger(__name__)

# Live figures on the progress line: metric key and its short label.
LIVE_METRICS = (
    ("attacker/reward_mean", "atk R"),
    ("defender/reward_mean", "def R"),
    ("attacker/loss", "atk loss"),
    ("defender/loss", "def loss"),
    ("attacker/parse_error_rate", "parse err"),
)


@dataclass
class RunSummary:
    """Outcome of a finished or stopped run."""

    out_dir: Path
    steps_done: int
    stopped_early: bool
    before: EvalResult | None
    after: EvalResult | None


def run_training(
    config: RunConfig, *, resume: bool = False, console: Console | None = None
) -> RunSummary:
    """Train with the settings of ``config``, evaluating the defender before and after."""
    console = console or Console()
    out_dir = Path(config.output_dir)
    if resume:
        from advgame.agents.learners.checkpoint import read_checkpoint_state

        check_resumable(config, out_dir)
        # A damaged checkpoint state is found here, before the models load.
        read_checkpoint_state(checkpoints(out_dir)[-1])
    elif checkpoints(out_dir):
        from advgame.errors import ConfigError

        raise ConfigError(
            f"{out_dir} already contains checkpoints; pass --resume to continue that run or "
            "choose another output_dir"
        )
    save_config(config, out_dir)

    with console.status("loading models, judge and seeds"):
        parts = build_run(config)
    learner = parts.learner
    if resume:
        latest = checkpoints(out_dir)[-1]
        learner.load_checkpoint(latest)
        console.print(f"resumed from {latest} at step {learner.step_count}")
    metrics_log = MetricsLogger(out_dir, tensorboard=config.tensorboard)
    metrics_log.truncate_after(learner.step_count)

    evaluate = bool(config.evaluation.get("enabled", True)) and bool(parts.eval_seeds)
    before = _evaluate(parts, config, out_dir / "eval_before.json", console) if evaluate else None

    stopped = _train_loop(config, learner, metrics_log, out_dir, console)
    metrics_log.close()
    if stopped:
        console.print(f"stopped at step {learner.step_count}; resume with --resume")
        return RunSummary(out_dir, learner.step_count, True, before, None)

    parts.attacker.save(out_dir / "final" / "attacker")
    parts.defender.save(out_dir / "final" / "defender")
    after = None
    if evaluate:
        after = _evaluate(parts, config, out_dir / "eval_after.json", console, reuse=False)
        console.print(comparison_table(before, after))
    return RunSummary(out_dir, learner.step_count, False, before, after)


def _train_loop(
    config: RunConfig, learner: Any, metrics_log: MetricsLogger, out_dir: Path, console: Console
) -> bool:
    """Run the remaining steps; return ``True`` when stopped by Ctrl-C."""
    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[live]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("train", total=config.steps, completed=learner.step_count, live="")
        with StopRequest(
            lambda: console.print("[yellow]stopping after this step[/yellow]")
        ) as stop:
            while learner.step_count < config.steps:
                started = time.perf_counter()
                metrics = dict(learner.step())
                metrics["train/step_seconds"] = time.perf_counter() - started
                metrics_log.log(learner.step_count, metrics)
                progress.update(task, completed=learner.step_count, live=_live(metrics))
                if not console.is_terminal:
                    # A progress bar only redraws on a terminal, so logs get a line per step.
                    console.print(
                        f"step {learner.step_count}/{config.steps} "
                        f"({metrics['train/step_seconds']:.0f} s)  {_live(metrics)}"
                    )
                due = config.checkpoint_every and learner.step_count % config.checkpoint_every == 0
                if due or stop.requested or learner.step_count == config.steps:
                    save_checkpoint(learner, out_dir, config.keep_checkpoints)
                if stop.requested:
                    return True
    return False


def _live(metrics: dict[str, float]) -> str:
    parts = []
    for key, label in LIVE_METRICS:
        value = metrics.get(key)
        if value is not None and math.isfinite(value):
            parts.append(f"{label} {value:.2f}")
    return "  ".join(parts)


def _evaluate(
    parts: Any, config: RunConfig, path: Path, console: Console, reuse: bool = True
) -> EvalResult:
    """Evaluate the defender with greedy decoding, or reuse a saved result for a resumed run."""
    from advgame.agents.sampling import SamplingConfig
    from advgame.judges.base import PointwiseJudge

    if reuse and path.is_file():
        import json

        saved = json.loads(path.read_text())
        return EvalResult(**{k: v for k, v in saved.items() if k != "records"})
    sampling = SamplingConfig(
        temperature=0,
        max_new_tokens=int(config.evaluation.get("max_new_tokens", 128)),
        batch_size=parts.defender.sampling.batch_size,
    )
    use_judge = config.evaluation.get("judge", True) and isinstance(parts.judge, PointwiseJudge)
    label = "before" if "before" in path.name else "after"
    with console.status(
        f"evaluating the defender ({label} training) on {len(parts.eval_seeds)} seeds"
    ):
        result = evaluate_defender(
            parts.defender,
            parts.eval_seeds,
            judge=parts.judge if use_judge else None,
            generation_options={"sampling": sampling, "seed": config.seed},
        )
    payload = asdict(result)
    payload.pop("records")
    write_json(path, payload)
    return result


def comparison_table(before: EvalResult | None, after: EvalResult) -> Table:
    """Return a rich table of the held-out metrics before and after training."""
    table = Table(title="Defender on held-out seeds (greedy decoding)")
    table.add_column("metric")
    table.add_column("better")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    rows = (
        ("keyword attack success rate (harmful)", "lower", "harmful_asr", "{:.1%}"),
        ("compliance rate (benign)", "higher", "benign_compliance", "{:.1%}"),
        ("judge score, DEFLECTION (harmful)", "higher", "harmful_judge_score", "{:.2f}"),
        ("judge score, COMPLIANCE (benign)", "higher", "benign_judge_score", "{:.2f}"),
    )
    for name, better, field, template in rows:
        old = getattr(before, field) if before is not None else float("nan")
        new = getattr(after, field)
        table.add_row(name, better, _format(template, old), _format(template, new))
    table.caption = f"{after.harmful_count} harmful and {after.benign_count} benign seeds"
    return table


def _format(template: str, value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else template.format(value)
