"""The ``otel-xray`` command line: ``--version``, ``listen``'s options and its printer."""

from __future__ import annotations

import io
import os
from importlib.metadata import version
from pathlib import Path
from typing import List

import pytest

from otel_xray.cli import main
from otel_xray.cli.listen import Stats, check_datagram
from otel_xray.cli.listen_command import Printer, summary_line
from otel_xray.emit.protocol import HEADER
from tests.support.documents import datagram, segment


def test_version_prints_the_installed_package_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"otel-xray {version('otel-xray')}\n"


@pytest.mark.parametrize("where", ["missing-directory", "a-directory"])
def test_listen_reports_an_unwritable_out_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    # Issue 9.7: open() raised out of the command with a raw traceback.
    out = tmp_path / "missing" / "documents.jsonl" if where == "missing-directory" else tmp_path
    assert main(["listen", "--address", "127.0.0.1:2000", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"otel-xray listen: cannot append to --out {out}: ")
    assert "choose a file in a writable directory" in err and "Traceback" not in err


def test_summary_is_unchanged_without_notes_or_errors() -> None:
    stats = Stats(traces=3, documents=9)
    assert summary_line(stats) == "3 traces, 9 documents, 0 problems, 0 warnings"


def test_summary_adds_notes_and_internal_errors_when_there_are_some() -> None:
    stats = Stats(traces=1, documents=1, notes=4, errors=1)
    assert summary_line(stats) == (
        "1 trace, 1 document, 0 problems, 0 warnings, "
        "4 notes (outside the documented format, accepted by X-Ray), "
        "1 internal error (logged; please report)"
    )


class ClosedPipe(io.StringIO):
    """A stream whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_printer_stops_writing_when_the_reader_goes_away() -> None:
    calls: List[str] = []
    printer = Printer(ClosedPipe(), io.StringIO(), on_broken_pipe=lambda: calls.append("stop"))
    printer.say("one")
    printer.say("two")
    assert printer.broken and calls == ["stop"]


def test_printer_without_a_broken_pipe_handler_raises() -> None:
    with pytest.raises(BrokenPipeError):
        Printer(ClosedPipe(), io.StringIO()).say("one")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_printer_says_once_that_the_out_file_cannot_be_written() -> None:
    out, err = io.StringIO(), io.StringIO()
    with open("/dev/full", "ab") as full:
        printer = Printer(out, err, json_mode=True, out_file=full)
        printer.datagram(check_datagram(datagram(segment())))
        printer.datagram(check_datagram(datagram(segment())))
    assert err.getvalue().count("cannot write to /dev/full") == 1
    assert printer.out_file is None and len(out.getvalue().splitlines()) == 2


def test_json_mode_prints_a_multi_line_body_on_one_line_at_any_depth() -> None:
    deep = b"{\n" + b'"a":' + b"[" * 300 + b"]" * 300 + b',\n"name":"x"}'
    out = io.StringIO()
    Printer(out, io.StringIO(), json_mode=True).datagram(check_datagram(HEADER + deep))
    assert out.getvalue().count("\n") == 1 and out.getvalue().startswith('{ "a":[[[')
