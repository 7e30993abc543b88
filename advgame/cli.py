"""The ``advgame`` command line: play rounds, train, evaluate and serve.

Harmful text stays hidden in terminal output unless ``--show-harmful`` is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.logging import RichHandler

from advgame.errors import AdvGameError

console = Console(stderr=True)


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects a positive integer, actual: {text!r}")
    return value


def _add_play(subparsers: argparse._SubParsersAction) -> None:
    play = subparsers.add_parser(
        "play", help="play and render a few rounds with LM attacker and defender"
    )
    play.add_argument("--rounds", type=_positive_int, default=3, help="rounds to play (default: 3)")
    play.add_argument(
        "--seeds",
        default="builtin",
        help="seed source: 'builtin', FORMAT:PATH (for example wildjailbreak:FILE.jsonl)",
    )
    play.add_argument("--attacker", default="default", help="'default' or a local HF folder")
    play.add_argument("--defender", default="default", help="'default' or a local HF folder")
    play.add_argument(
        "--judge", default="embedding", help="judge: embedding (default), rule or keyword"
    )
    play.add_argument(
        "--format",
        choices=("think", "nothink", "plain"),
        default="plain",
        help="attacker output format (default: plain, the one the 135M model can keep)",
    )
    play.add_argument(
        "--max-new-tokens",
        type=_positive_int,
        default=96,
        help="token limit per completion (default: 96)",
    )
    play.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    play.add_argument(
        "--show-harmful", action="store_true", help="print the text of harmful rounds"
    )
    play.set_defaults(handler=_run_play)


def _run_play(args: argparse.Namespace) -> int:
    from advgame.play import play_rounds

    play_rounds(
        rounds=args.rounds,
        seeds=args.seeds,
        attacker=args.attacker,
        defender=args.defender,
        judge=args.judge,
        attacker_format=args.format,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        show_harmful=args.show_harmful,
        console=console,
    )
    return 0


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train attacker and defender jointly from a run file or preset",
        description="Train the attacker and the defender jointly, then compare the defender "
        "before and after training on held-out seeds. Metrics, checkpoints and the final "
        "weights go to the run folder.",
    )
    train.add_argument(
        "--config", required=True, help="a run YAML file, or a preset name (see: advgame presets)"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint of the run"
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, for example --set steps=3 --set players.defender.lr=1e-5",
    )
    train.add_argument("--output-dir", help="run folder (overrides output_dir)")
    train.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from advgame.config import load_run_config, merge_dicts, parse_override
    from advgame.runner import run_training

    overrides: dict = {}
    for text in args.overrides:
        overrides = merge_dicts(overrides, parse_override(text))
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    config = load_run_config(args.config, overrides)
    summary = run_training(config, resume=args.resume, console=console)
    return 130 if summary.stopped_early else 0


def _add_presets(subparsers: argparse._SubParsersAction) -> None:
    presets = subparsers.add_parser("presets", help="list the preset run files")
    presets.set_defaults(handler=_run_presets)


def _run_presets(args: argparse.Namespace) -> int:
    from rich.table import Table

    from advgame.config import load_run_config, preset_names

    table = Table(title="advgame presets (advgame train --config NAME)")
    for column in ("name", "learner", "attacker", "defender", "steps"):
        table.add_column(column, overflow="fold")
    for name in preset_names():
        config = load_run_config(name)
        table.add_row(
            name, config.learner, config.attacker.model, config.defender.model, str(config.steps)
        )
    Console().print(table)
    return 0


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        add_help=False,
        help="serve a local LM or an advgame judge behind the OpenAI chat API "
        "(advgame serve --help lists its options)",
    )
    serve.add_argument("serve_args", nargs=argparse.REMAINDER)
    serve.set_defaults(handler=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from advgame.serve import serve as serve_main

    forwarded = list(args.serve_args)
    if forwarded[:1] == ["--"]:
        forwarded = forwarded[1:]
    return serve_main(forwarded)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advgame", description="LM safety alignment as a two-player game."
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        help="torch CPU threads (default: torch's choice; 1 is faster when other jobs share "
        "the cores)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_play(subparsers)
    _add_train(subparsers)
    _add_presets(subparsers)
    _add_serve(subparsers)
    return parser


def _quiet_third_party_progress() -> None:
    # transformers draws a progress bar for every weight load; the CLI has its own display.
    # transformers reads this huggingface_hub setting when it is first imported.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        # The server has its own parser; argparse's REMAINDER would swallow "--help".
        arguments = ["serve", "--", *arguments[1:]]
    args = build_parser().parse_args(arguments)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    _quiet_third_party_progress()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return int(args.handler(args))
    except AdvGameError as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
