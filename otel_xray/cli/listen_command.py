"""``otel-xray listen``: run a :class:`~otel_xray.cli.listen.Listener` and print what it sees."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import IO, Any, Callable, Iterator, List, Optional

import orjson

from .assemble import Trace
from .listen import Listener, Received, Stats, resolve_listen_address
from .sampling_server import add_sampling_arguments, open_sampling_server
from .waterfall import Style, can_draw_blocks, note_lines, render, use_color

DEFAULT_QUIET_AFTER = 1.0


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``otel-xray listen``; ``run`` is set to :func:`run_listen`."""
    parser.add_argument(
        "--address", metavar="HOST:PORT",
        help="UDP address to listen on, in the daemon's syntax ('host:port' or "
        "'tcp:host:port udp:host:port'); default: $AWS_XRAY_DAEMON_ADDRESS, else "
        "127.0.0.1:2000",
    )
    parser.add_argument(
        "--quiet-after", metavar="SECONDS", type=_positive_float, default=DEFAULT_QUIET_AFTER,
        help="print a trace once no document arrived for it for this long (default: 1)",
    )
    parser.add_argument(
        "--json", action="store_true",
        help="print the raw documents (one JSON object per line) instead of waterfalls; "
        "problems and the summary go to stderr",
    )
    parser.add_argument(
        "--out", metavar="FILE",
        help="also append every document to FILE as JSON Lines",
    )
    add_sampling_arguments(parser)
    parser.set_defaults(run=run_listen)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


class Printer:
    """Writes what a listener reports: waterfalls (or JSON documents), problems, a summary.

    Human-readable output goes to ``out``, except in ``json_mode``, where ``out`` carries
    only JSON documents and everything else goes to ``err``.

    When a reader goes away (``BrokenPipeError``) and ``on_broken_pipe`` is given,
    :attr:`broken` is set, ``on_broken_pipe`` is called, and nothing more is written;
    without it the error is raised. When ``out_file`` cannot be written, that is said once
    and the file is no longer used.
    """

    def __init__(
        self,
        out: IO[str],
        err: IO[str],
        *,
        json_mode: bool = False,
        out_file: Optional[IO[bytes]] = None,
        style: Optional[Style] = None,
        on_broken_pipe: Optional[Callable[[], None]] = None,
    ) -> None:
        self.out = out
        self.err = err
        self.human = err if json_mode else out
        self.json_mode = json_mode
        self.out_file = out_file
        self.style = style or Style(use_color(self.human), can_draw_blocks(self.human))
        self.broken = False
        self._on_broken_pipe = on_broken_pipe

    def say(self, text: str) -> None:
        self._write(self.human, text)

    def _write(self, stream: IO[str], text: str) -> None:
        if self.broken:
            return
        try:
            stream.write(text + "\n")
            stream.flush()
        except BrokenPipeError:
            if self._on_broken_pipe is None:
                raise
            self.broken = True
            self._on_broken_pipe()

    def datagram(self, received: Received) -> None:
        document = received.document
        if document is not None:
            line = _json_line(received.body, document)
            if self.json_mode:
                self._write(self.out, line.decode("utf-8", "replace"))
            if self.out_file is not None:
                self._save(self.out_file, line)
        if received.errors:
            style = self.style
            self.say(style(f"REJECTED {received.describe()}", "red", "bold"))
            for error in received.errors:
                self.say(style(f"  - {error}", "red"))
        for warning in received.warnings:
            self.say(self.style(f"WARNING {received.describe()}: {warning}", "yellow"))

    def _save(self, out_file: IO[bytes], line: bytes) -> None:
        try:
            out_file.write(line + b"\n")
            out_file.flush()
        except OSError as exc:
            name = getattr(out_file, "name", "the --out file")
            self.out_file = None
            with contextlib.suppress(OSError):  # what is still buffered cannot be written
                out_file.close()
            self._write(self.err, f"otel-xray listen: cannot write to {name}: {exc}; "
                                  f"documents are no longer saved there (free some space "
                                  f"or choose another --out file)")

    def trace(self, trace: Trace, warnings: List[str]) -> None:
        if self.json_mode:
            for warning in warnings:
                self.say(f"WARNING trace {trace.trace_id}: {warning}")
            for note in note_lines(trace):
                self.say(f"NOTE trace {trace.trace_id}: {note}")
            return
        self.say(render(trace, self.style, warnings=warnings) + "\n")


def _json_line(body: bytes, document: Any) -> bytes:
    """The document as one line: the body as received when it is one line already."""
    stripped = body.strip()
    if b"\n" not in stripped and b"\r" not in stripped:
        return stripped
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes
        # Outside strings JSON has only whitespace line breaks (inside they are escaped).
        return stripped.replace(b"\r", b" ").replace(b"\n", b" ")


def summary_line(stats: Stats) -> str:
    """``3 traces, 9 documents, 0 problems, 0 warnings`` (then notes and errors, if any)."""
    parts = [
        _plural(stats.traces, "trace"),
        _plural(stats.documents, "document"),
        _plural(stats.problems, "problem"),
        _plural(stats.warnings, "warning"),
    ]
    if stats.notes:
        parts.append(_plural(stats.notes, "note") + " (outside the documented format, "
                                                    "accepted by X-Ray)")
    if stats.errors:
        parts.append(_plural(stats.errors, "internal error") + " (logged; please report)")
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def run_listen(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        bind = resolve_listen_address(args.address)
    except ValueError as exc:
        err.write(f"otel-xray listen: {exc}\n")
        return 2
    with contextlib.ExitStack() as stack:
        try:
            out_file = stack.enter_context(open(args.out, "ab")) if args.out else None
        except OSError as exc:
            err.write(f"otel-xray listen: cannot append to --out {args.out}: "
                      f"{exc.strerror or exc}; choose a file in a writable directory\n")
            return 1
        stop = threading.Event()
        printer = Printer(out, err, json_mode=args.json, out_file=out_file,
                          on_broken_pipe=stop.set)
        try:
            listener = Listener(
                bind, quiet_after=args.quiet_after,
                on_datagram=printer.datagram, on_trace=printer.trace,
            )
        except OSError as exc:
            err.write(f"otel-xray listen: cannot listen on {bind[0]}:{bind[1]}: {exc}\n")
            return 1
        try:
            tcp = open_sampling_server(args.address, args.sampling_rules, listener.address)
        except (OSError, ValueError) as exc:
            listener.close()
            err.write(f"otel-xray listen: --sampling-rules: {exc}\n")
            return 2
        if tcp is not None:
            stack.callback(tcp.close)
        with _stop_on_signals(stop):
            printer.say(
                f"otel-xray listen: listening on udp {listener.address} (Ctrl-C to stop)"
            )
            if tcp is not None:
                printer.say(f"otel-xray listen: sampling rules and /TraceSegments on tcp "
                            f"{tcp.address}")
            try:
                listener.serve(stop)
            except KeyboardInterrupt:
                pass
            finally:
                listener.close()
        printer.say(f"otel-xray listen: {summary_line(listener.stats)}")
    if printer.broken:
        raise BrokenPipeError("the reader of the output went away")
    return 0


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM set ``stop``; previous handlers come back afterwards."""

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    saved = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not in the main thread (ValueError): Ctrl-C raises KeyboardInterrupt instead.
        with contextlib.suppress(ValueError):
            saved[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)


__all__ = ["Printer", "add_listen_arguments", "run_listen", "summary_line"]
