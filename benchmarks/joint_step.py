"""Seconds per joint training step and peak memory of the CPU preset, against a baseline.

Both runs train the attacker and the defender together with ``advgame train --config
cpu_dpo`` on the embedded SmolLM2-135M-Instruct, with evaluation off. The shipped preset
uses gradient checkpointing and a fixed embedding matrix. The baseline is the same preset
with both turned off, which is what a plain full fine-tune of both players costs. Each run
is a separate process, so its peak resident memory (max RSS) covers everything: both
players, their EMA copies, AdamW states, the judge and the rollouts. The runs share the
seed, so both train on the same seeds, but sampling differs once the weights differ.

Run from the repository root (about eight minutes on two CPU cores)::

    python benchmarks/joint_step.py --steps 3

Prints one JSON object with per-step seconds (the first step is left out as warm-up),
peak memory per run, and the ratios preset / baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINE_OVERRIDES = [
    "players.attacker.gradient_checkpointing=false",
    "players.attacker.freeze_embeddings=false",
    "players.defender.gradient_checkpointing=false",
    "players.defender.freeze_embeddings=false",
]


def child(argv: list[str]) -> None:
    """Run ``advgame`` with ``argv`` in this process, then print its own peak memory."""
    from advgame.cli import main as advgame_main

    status = advgame_main(argv)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"status": status, "peak_rss_gib": peak_gib}))


def run_child(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    """Train in a child process and return its step seconds and peak memory."""
    with tempfile.TemporaryDirectory() as out_dir:
        argv = ["--threads", str(args.threads), "train", "--config", "cpu_dpo"]
        argv += ["--output-dir", out_dir, "--set", f"steps={args.steps}"]
        for override in ["evaluation.enabled=false", "tensorboard=false", *overrides]:
            argv += ["--set", override]
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--child", *argv],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        report = json.loads(done.stdout.strip().splitlines()[-1])
        lines = Path(out_dir, "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
    seconds = [row["train/step_seconds"] for row in rows]
    timed = seconds[1:] or seconds
    return {
        "step_seconds": seconds,
        "median_step_seconds": statistics.median(timed),
        "wall_seconds": wall,
        "peak_rss_gib": report["peak_rss_gib"],
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="training steps per run")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()

    baseline = run_child(args, BASELINE_OVERRIDES)
    preset = run_child(args, [])
    summary = {
        "settings": vars(args),
        "baseline (no checkpointing, trained embeddings)": baseline,
        "cpu_dpo preset": preset,
        "step_time_ratio": preset["median_step_seconds"] / baseline["median_step_seconds"],
        "peak_memory_ratio": preset["peak_rss_gib"] / baseline["peak_rss_gib"],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
