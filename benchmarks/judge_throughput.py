"""Judgments per second of the LM judge: log-probability mode against generative mode.

Both modes judge the same pairwise requests on the embedded SmolLM2-135M model, in one run:
the first ``--pairs`` XSTest and HarmBench labelled pairs (see
:mod:`advgame.judges.labelled`), each in both orders. Log-probability mode is measured with
and without the shared-prefix cache. Each mode gets one untimed warm-up call first. The
modes run in turn for ``--rounds`` rounds, and each mode's fastest round is reported,
because other processes share the CPU and slow single rounds down unevenly.

Run from the repository root:
    python benchmarks/judge_throughput.py --pairs 8
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from advgame.agents.models import load_causal_lm
from advgame.judges import JudgeStatus
from advgame.judges.labelled import harmbench_pairs, xstest_pairs
from advgame.judges.lm import LMJudge


def measure(judge: LMJudge, requests: list[Any]) -> dict[str, float]:
    started = time.perf_counter()
    verdicts = judge.judge_pairs(requests)
    seconds = time.perf_counter() - started
    failed = sum(v.status is not JudgeStatus.OK for v in verdicts)
    return {
        "judgments": len(verdicts),
        "seconds": seconds,
        "per_second": len(verdicts) / seconds,
        "failed": failed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="public data folder")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per data set")
    parser.add_argument("--batch-size", type=int, default=8, help="micro-batch size")
    parser.add_argument(
        "--max-new-tokens", type=int, default=384, help="generative token limit (judge default)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per mode")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads; 0 keeps torch's default"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = Path(args.data)
    pairs = xstest_pairs(data / "xstest" / "xstest_v2.json", args.pairs)
    pairs += harmbench_pairs(data / "harmbench" / "harmbench_behaviors_text_test.csv", args.pairs)
    requests = [request for pair in pairs for request in pair.requests()]
    model, tokenizer = load_causal_lm("default")
    model.eval()
    load_start = os.getloadavg()
    lenient = {"max_failure_rate": None, "batch_size": args.batch_size}
    judges = {
        "logprob": LMJudge(model, tokenizer, mode="logprob", **lenient),
        "logprob, no prefix cache": LMJudge(
            model, tokenizer, mode="logprob", prefix_cache=False, **lenient
        ),
        "generative": LMJudge(
            model, tokenizer, mode="generative", max_new_tokens=args.max_new_tokens, **lenient
        ),
    }
    for judge in judges.values():
        judge.judge_pairs(requests[:1])
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in judges}
    for round_index in range(args.rounds):
        for name, judge in judges.items():
            row = measure(judge, requests)
            rounds[name].append(row)
            print(
                f"round {round_index + 1} {name}: {row['judgments']} judgments in "
                f"{row['seconds']:.1f} s = {row['per_second']:.3f} per s ({row['failed']} failed)",
                flush=True,
            )
    results = {name: max(rows, key=lambda r: r["per_second"]) for name, rows in rounds.items()}
    for name, row in results.items():
        print(f"best {name}: {row['per_second']:.3f} judgments per s")
    ratio = results["logprob"]["per_second"] / results["generative"]["per_second"]
    print(f"log-prob / generative throughput: {ratio:.1f}x")
    environment = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }
    print(json.dumps(environment))
    if args.json:
        payload = {"environment": environment, "rounds": rounds, "best": results, "ratio": ratio}
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
