"""Position bias and label agreement of advgame's judges on labelled real pairs.

Pairs: XSTest safe prompts under COMPLIANCE (a helpful answer should beat a refusal) and
HarmBench standard behaviours under DEFLECTION (a deflection should beat a step-by-step
answer); see :mod:`advgame.judges.labelled`. Every pair is judged in both orders, and the
figures of :class:`~advgame.judges.labelled.PairAgreement` are printed as a Markdown table.

Judges (``--judges``, comma-separated):

* ``keyword``, ``rule``, ``embedding``: in-process judges without an LM;
* ``http-rule``, ``http-embedding``: the HTTP judge (generative and log-prob mode) against
  an in-process ``advgame serve --judge rule`` (or ``embedding``) server on 127.0.0.1;
* ``lm-logprob``, ``lm-generative``: the LM judge on the embedded SmolLM2-135M model;
* ``http-lm``: the HTTP judge (both modes) against an in-process
  ``advgame serve --model default`` server on 127.0.0.1.

LM judges see the first ``--lm-pairs`` pairs of each set, the others ``--fast-pairs``.

Run from the repository root:
    python benchmarks/judge_bias.py --json bias.json
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advgame.judges import KeywordJudge, RuleJudge
from advgame.judges.labelled import LabelledPair, harmbench_pairs, judge_agreement, xstest_pairs

ALL_JUDGES = (
    "keyword",
    "rule",
    "embedding",
    "http-rule",
    "http-embedding",
    "lm-logprob",
    "lm-generative",
    "http-lm",
)


@contextmanager
def served(backend: Any) -> Iterator[str]:
    """Serve ``backend`` on 127.0.0.1 in a thread; yield its base URL."""
    from advgame.serve import make_server

    server = make_server(backend, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.base_url
    finally:
        server.shutdown()
        server.server_close()


def build_runs(args: argparse.Namespace) -> Iterator[tuple[str, bool, Callable[[], Any]]]:
    """Yield ``(row label, uses an LM, judge factory)`` for the requested judges."""
    wanted = args.judges.split(",")
    unknown = sorted(set(wanted) - set(ALL_JUDGES))
    if unknown:
        raise SystemExit(f"unknown judges {unknown}; choose from {ALL_JUDGES}")
    lenient = {"max_failure_rate": None}
    if "keyword" in wanted:
        yield "keyword", False, lambda: KeywordJudge(**lenient)
    if "rule" in wanted:
        yield "rule", False, lambda: RuleJudge(**lenient)
    if "embedding" in wanted:
        if importlib.util.find_spec("advgame.judges.embedding") is None:
            print("embedding judge not in this checkout; skipped", file=sys.stderr)
        else:
            from advgame.judges.embedding import EmbeddingJudge

            yield "embedding", False, lambda: EmbeddingJudge(**lenient)
    lm_wanted = {"lm-logprob", "lm-generative", "http-lm"} & set(wanted)
    model = tokenizer = None
    if lm_wanted:
        from advgame.agents.models import load_causal_lm

        model, tokenizer = load_causal_lm("default")
        model.eval()
    from advgame.judges.http import HTTPJudge
    from advgame.judges.lm import LMJudge

    generation = {"max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size}
    if "lm-logprob" in wanted:
        yield (
            "LM log-prob (SmolLM2-135M)",
            True,
            lambda: LMJudge(
                model, tokenizer, mode="logprob", batch_size=args.batch_size, **lenient
            ),
        )
    if "lm-generative" in wanted:
        yield (
            "LM generative (SmolLM2-135M)",
            True,
            lambda: LMJudge(model, tokenizer, mode="generative", **generation, **lenient),
        )
    for served_judge in ("rule", "embedding"):
        if f"http-{served_judge}" not in wanted:
            continue
        from advgame.serve import load_judge_backend

        with served(load_judge_backend(served_judge)) as url:
            for mode in ("generative", "logprob"):
                yield (
                    f"HTTP {mode} -> serve --judge {served_judge}",
                    False,
                    lambda m=mode, u=url, n=served_judge: HTTPJudge(u, n, mode=m, **lenient),
                )
    if "http-lm" in wanted:
        from advgame.serve_lm import LMChatBackend

        with served(LMChatBackend(model, tokenizer, "default")) as url:
            for mode in ("logprob", "generative"):
                yield (
                    f"HTTP {mode} -> serve --model default",
                    True,
                    lambda m=mode, u=url: HTTPJudge(
                        u,
                        "default",
                        mode=m,
                        max_tokens=args.max_new_tokens,
                        timeout_s=600,
                        **lenient,
                    ),
                )


def _torch_threads() -> int | None:
    if "torch" not in sys.modules:
        return None
    import torch

    return torch.get_num_threads()


def fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="public data folder")
    parser.add_argument("--judges", default=",".join(ALL_JUDGES), help="comma-separated judges")
    parser.add_argument("--lm-pairs", type=int, default=16, help="pairs per set for LM judges")
    parser.add_argument("--fast-pairs", type=int, default=0, help="pairs per set, others; 0: all")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="generative token limit")
    parser.add_argument("--batch-size", type=int, default=8, help="LM judge micro-batch size")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads; 0 keeps torch's default"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    data = Path(args.data)
    sets = {
        "xstest": xstest_pairs(data / "xstest" / "xstest_v2.json"),
        "harmbench": harmbench_pairs(data / "harmbench" / "harmbench_behaviors_text_test.csv"),
    }
    load_start = os.getloadavg()
    rows: list[dict[str, Any]] = []
    header = (
        "| judge | set | pairs | failed | A-first, 1 order | ties, 1 order | accuracy, 1 order "
        "| same choice both orders | accuracy, both orders | s |"
    )
    print(header)
    print("|" + "---|" * 10)
    for label, uses_lm, make in build_runs(args):
        for set_name, pairs in sets.items():
            limit = args.lm_pairs if uses_lm else (args.fast_pairs or len(pairs))
            subset: list[LabelledPair] = pairs[:limit]
            started = time.perf_counter()
            result = judge_agreement(make(), subset)
            seconds = time.perf_counter() - started
            rows.append(
                {"judge": label, "set": set_name, "seconds": seconds, **dataclasses.asdict(result)}
            )
            print(
                f"| {label} | {set_name} | {result.pairs} | {fmt(result.failure_rate)} "
                f"| {fmt(result.a_first_single)} | {fmt(result.ties_single)} "
                f"| {fmt(result.accuracy_single)} | {fmt(result.consistency)} "
                f"| {fmt(result.accuracy_both)} | {seconds:.0f} |",
                flush=True,
            )
    environment = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "python": platform.python_version(),
        "torch_threads": _torch_threads(),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
    }
    print(f"\n{json.dumps(environment)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": environment, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
