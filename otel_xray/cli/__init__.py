"""The ``otel-xray`` command: ``listen`` (a local X-Ray daemon stand-in) and ``demo``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Optional, Sequence

USAGE_EPILOG = """\
commands:
  listen   a local stand-in for the X-Ray daemon: checks every document as X-Ray would
           and prints each trace as a waterfall
  demo     run a small instrumented workload against an embedded listener and show
           the traces (no AWS account or network needed)

Run 'otel-xray COMMAND --help' for the options of a command.
"""


def build_parser() -> argparse.ArgumentParser:
    from .demo import add_demo_arguments
    from .listen_command import add_listen_arguments

    parser = argparse.ArgumentParser(
        prog="otel-xray",
        description="Tools for otel-xray: see what your application sends to AWS X-Ray.",
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"otel-xray {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_listen_arguments(commands.add_parser(
        "listen",
        help="a local X-Ray daemon stand-in that checks and shows traces",
        description="Listen for X-Ray daemon datagrams (UDP), report every problem X-Ray "
        "would reject or silently ignore, and print each trace as a waterfall once it "
        "has been quiet for a moment. Stop with Ctrl-C: a summary is printed.",
    ))
    add_demo_arguments(commands.add_parser(
        "demo",
        help="run an instrumented demo workload and show its traces",
        description="Start an embedded listener on a free port, run two small HTTP "
        "services (with a database query, an AWS SDK call against a local stub, and one "
        "failing request), and print the traces they produced. Uses 127.0.0.1 only; no "
        "AWS account or credentials.",
    ))
    return parser


def _version() -> str:
    """The installed package's version (``unknown`` when running from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("otel-xray")
    except PackageNotFoundError:
        return "unknown (otel-xray is not installed; pip install otel-xray)"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``otel-xray`` command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (e.g. `otel-xray demo | head`): stop quietly, like cat does.
        _silence_stdout()
        return 1
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


__all__ = ["build_parser", "main"]
