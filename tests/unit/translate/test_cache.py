"""The one bounded cache of translation, and translating after ``os.fork()``.

A child forked while another thread used (or held a lock of) the translator must be able to
translate: no module-level lock of the parent may be left held in the child (issue 9).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import signal
import threading
import warnings
from types import ModuleType
from typing import Any, Callable, Iterator, List

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

import otel_xray.translate
from otel_xray import TranslateOptions
from otel_xray.translate import to_document
from otel_xray.translate._cache import BoundedCache
from tests.support.helpers import assert_valid_document

OPTIONS = TranslateOptions(indexed_attributes=("order.id",), lambda_mode=False)
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
#: A child that deadlocks is ended by SIGALRM after this many seconds (not a timing check:
#: a healthy child exits at once).
_CHILD_ALARM_SECONDS = 30

posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")


def test_cache_empties_itself_when_full() -> None:
    cache: BoundedCache[int, str] = BoundedCache(2)
    cache.put(1, "a")
    cache.put(2, "b")

    assert cache.put(3, "c") == "c"

    assert (len(cache), cache.get(1), cache.get(3)) == (1, None, "c")


def test_cache_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BoundedCache(0)


def test_translate_submodule_can_be_imported_by_its_dotted_name() -> None:
    import otel_xray.translate.segment as segment

    assert segment.translate_span is otel_xray.translate.translate_span


@posix_only
def test_child_forked_while_another_thread_held_every_translate_lock_translates() -> None:
    locks = list(_module_locks())

    def hold(ready: threading.Event, done: threading.Event) -> None:
        for lock in locks:
            lock.acquire()
        ready.set()
        done.wait()
        for lock in reversed(locks):
            lock.release()

    status = _fork_while(hold)

    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, _describe(status)


@posix_only
def test_child_forked_while_another_thread_translates_translates() -> None:
    def churn(ready: threading.Event, done: threading.Event) -> None:
        index = 0
        while not done.is_set():
            to_document(_span(index), OPTIONS)  # new resource, names, keys: cache writes
            index += 1
            ready.set()

    status = _fork_while(churn)

    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, _describe(status)


def _fork_while(background: Callable[[threading.Event, threading.Event], None]) -> int:
    """Run ``background(ready, done)`` in a thread; once it set ``ready``, fork and
    translate in the child; then set ``done``. Returns the child's wait status."""
    ready, done = threading.Event(), threading.Event()
    thread = threading.Thread(target=background, args=(ready, done), daemon=True)
    thread.start()
    ready.wait()
    try:
        return _fork_and_translate()
    finally:
        done.set()
        thread.join()


def _fork_and_translate() -> int:
    """Fork; the child translates spans that write to every cache and exits 0 when all
    documents are valid. Returns the child's wait status."""
    with warnings.catch_warnings():  # 3.12+ warns about forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            signal.alarm(_CHILD_ALARM_SECONDS)
            for index in range(10_000, 10_050):
                assert_valid_document(to_document(_span(index), OPTIONS))
            assert_valid_document(to_document(_span_with_unparsable_exception(), OPTIONS))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def _span(index: int) -> ReadableSpan:
    """A SQL server span of its own resource, trace, name and key set."""
    context = SpanContext((index + 1) << 64, index + 1, False, TraceFlags(TraceFlags.SAMPLED))
    return ReadableSpan(
        f"op-{index}", context=context, kind=SpanKind.SERVER,
        resource=Resource({"service.name": f"svc-{index}", "cloud.provider": "aws"}),
        attributes={
            "order.id": f"o-{index}", f"key-{index}": index,
            "db.system": f"sql-{index}", "db.statement": "SELECT 1",
        },
        start_time=1_000_000_000, end_time=2_000_000_000,
    )


class _Unreadable(dict):  # type: ignore[type-arg]
    """Event attributes that fail when read: the exception parser's failure path."""

    def get(self, *args: Any) -> Any:
        raise RuntimeError("unreadable")


def _span_with_unparsable_exception() -> ReadableSpan:
    context = SpanContext(7 << 64, 7, False, TraceFlags(TraceFlags.SAMPLED))
    event = Event("exception", _Unreadable({"exception.type": "E"}), timestamp=1_500_000_000)
    return ReadableSpan(
        "op", context=context, events=(event,),
        start_time=1_000_000_000, end_time=2_000_000_000,
    )


def _module_locks() -> Iterator[Any]:
    """Locks held at module level by the translate modules, or one attribute below."""
    for module in _translate_modules():
        for value in list(vars(module).values()):
            if isinstance(value, _LOCK_TYPES):
                yield value
            for name in _attribute_names(value):
                inner = getattr(value, name, None)
                if isinstance(inner, _LOCK_TYPES):
                    yield inner


def _attribute_names(value: Any) -> List[str]:
    if isinstance(value, (type, ModuleType)) or callable(value):
        return []
    names = list(getattr(value, "__dict__", {}))
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return names


def _translate_modules() -> List[ModuleType]:
    package = otel_xray.translate
    return [package] + [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"the child was killed by signal {os.WTERMSIG(status)} (a deadlock: SIGALRM)"
    return f"the child exited with status {os.WEXITSTATUS(status)}"


