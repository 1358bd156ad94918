"""SQL database calls: the ``sql`` block, for SQL systems only, never with a password."""

from __future__ import annotations

import sqlite3
from typing import Any, Dict, Iterator

import orjson
import pytest
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.translate import sql, to_document
from tests.support.helpers import SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)
SECRET = "s3cr3t-Pa55"


def _doc(recorder: SpanRecorder, attributes: Dict[str, Any]) -> Dict[str, Any]:
    span = recorder.span("query", kind=SpanKind.CLIENT, parent="local", attributes=attributes)
    return assert_valid_document(to_document(span, OPTIONS))


@pytest.mark.parametrize(
    ("key", "system"),
    [
        pytest.param("db.system", "postgresql", id="postgresql"),
        pytest.param("db.system", "mysql", id="mysql"),
        pytest.param("db.system", "mariadb", id="mariadb"),
        pytest.param("db.system", "mssql", id="mssql"),
        pytest.param("db.system", "oracle", id="oracle"),
        pytest.param("db.system", "sqlite", id="sqlite"),
        pytest.param("db.system", "db2", id="db2"),
        pytest.param("db.system", "h2", id="h2"),
        pytest.param("db.system", "derby", id="derby"),
        pytest.param("db.system", "hsqldb", id="hsqldb"),
        pytest.param("db.system", "other_sql", id="other-sql"),
        pytest.param("db.system.name", "microsoft.sql_server", id="stable-sql-server"),
        pytest.param("db.system.name", "oracle.db", id="stable-oracle"),
        pytest.param("db.system.name", "ibm.db2", id="stable-db2"),
        pytest.param("db.system.name", "postgresql", id="stable-postgresql"),
        pytest.param("db.system", "PostgreSQL", id="case-insensitive"),
    ],
)
def test_sql_system_gets_sql_block(recorder: SpanRecorder, key: str, system: str) -> None:
    doc = _doc(recorder, {key: system, "db.statement": "SELECT 1"})
    assert doc["sql"]["database_type"] == system


@pytest.mark.parametrize(
    "system", ["redis", "mongodb", "dynamodb", "cassandra", "elasticsearch", "memcached", ""]
)
def test_non_sql_system_gets_no_sql_block(recorder: SpanRecorder, system: str) -> None:
    doc = _doc(recorder, {"db.system": system, "db.statement": "GET k", "db.user": "u"})
    assert "sql" not in doc


def test_span_without_db_system_gets_no_sql_block(recorder: SpanRecorder) -> None:
    assert "sql" not in _doc(recorder, {"db.statement": "SELECT 1"})


def test_stable_system_name_wins_over_old_system(recorder: SpanRecorder) -> None:
    doc = _doc(recorder, {"db.system": "mssql", "db.system.name": "microsoft.sql_server"})
    assert doc["sql"]["database_type"] == "microsoft.sql_server"


FIELD_CASES = [
    pytest.param({"db.statement": "SELECT * FROM t WHERE id = ?"},
                 {"sanitized_query": "SELECT * FROM t WHERE id = ?"}, id="old-statement"),
    pytest.param({"db.query.text": "SELECT 2", "db.statement": "SELECT 1"},
                 {"sanitized_query": "SELECT 2"}, id="stable-query-text-wins"),
    pytest.param({"db.statement": "S" * 20_000}, {"sanitized_query": "S" * sql.MAX_QUERY_LENGTH},
                 id="long-query-bounded"),
    pytest.param({"db.user": "readonly"}, {"user": "readonly"}, id="user"),
    pytest.param({"db.user": "u" * 300}, {"user": "u" * 250}, id="user-bounded-to-250"),
    pytest.param({"server.address": "db.example.com", "server.port": 5432, "db.namespace": "shop"},
                 {"url": "postgresql://db.example.com:5432/shop"}, id="url-from-stable-keys"),
    pytest.param({"net.peer.name": "db.local", "net.peer.port": 6543, "db.name": "shop"},
                 {"url": "postgresql://db.local:6543/shop"}, id="url-from-old-keys"),
    pytest.param({"server.address": "::1", "server.port": 5432, "db.name": "shop"},
                 {"url": "postgresql://[::1]:5432/shop"}, id="url-with-ipv6-host"),
    pytest.param({"server.address": "db.local"}, {"url": "postgresql://db.local/"},
                 id="url-from-host-alone"),
    pytest.param({"db.name": "shop"}, {"url": "postgresql:///shop"}, id="url-from-name-alone"),
    pytest.param({"server.address": "admin:pw@db.local"}, {"url": "postgresql://db.local/"},
                 id="url-never-with-user-info-from-host"),
]


@pytest.mark.parametrize(("attributes", "expected"), FIELD_CASES)
def test_sql_fields(
    recorder: SpanRecorder, attributes: Dict[str, Any], expected: Dict[str, Any]
) -> None:
    doc = _doc(recorder, {"db.system": "postgresql", **attributes})
    for field, value in expected.items():
        assert doc["sql"][field] == value, field


def test_stable_sql_server_url_uses_a_valid_scheme(recorder: SpanRecorder) -> None:
    attributes = {"db.system.name": "microsoft.sql_server", "server.address": "h",
                  "db.namespace": "d"}
    assert _doc(recorder, attributes)["sql"]["url"] == "sqlserver://h/d"


CONNECTION_CASES = [
    pytest.param(f"postgresql://alice:{SECRET}@db.example.com:5432/shop",
                 {"url": "postgresql://db.example.com:5432/shop", "user": "alice"},
                 id="url-user-and-password"),
    pytest.param("mysql://alice@db.example.com/shop",
                 {"url": "mysql://db.example.com/shop", "user": "alice"}, id="url-user-only"),
    pytest.param(f"mysql://alice:{SECRET}@x@db.example.com/shop",
                 {"url": "mysql://db.example.com/shop"}, id="url-password-with-at-sign"),
    pytest.param(f"mysql://alice:a/{SECRET}@db.example.com/shop",
                 {"url": "mysql://db.example.com/shop"}, id="url-password-with-slash"),
    pytest.param(f"jdbc:postgresql://alice:{SECRET}@h:5432/shop?sslmode=require&password={SECRET}",
                 {"url": "jdbc:postgresql://h:5432/shop?sslmode=require"},
                 id="jdbc-url-with-password-parameter"),
    pytest.param(f"jdbc:sqlserver://h:1433;databaseName=shop;user=sa;password={SECRET};encrypt=true",
                 {"url": "jdbc:sqlserver://h:1433;databaseName=shop;user=sa;encrypt=true"},
                 id="jdbc-sql-server-properties"),
    pytest.param(f"Server=h;Database=shop;User Id=sa;Password={SECRET} x;",
                 {"connection_string": "Server=h;Database=shop;User Id=sa"},
                 id="ado-net-password-with-space"),
    pytest.param(f"DRIVER={{ODBC Driver 18}};SERVER=h;UID=sa;PWD={{{SECRET};}}}}x}};",
                 {"connection_string": "DRIVER={ODBC Driver 18};SERVER=h;UID=sa"},
                 id="odbc-braced-pwd"),
    pytest.param(f"host=h port=5432 dbname=shop user=me password='{SECRET} x' sslmode=require",
                 {"connection_string": "host=h port=5432 dbname=shop user=me sslmode=require"},
                 id="libpq-quoted-password"),
    pytest.param(f"scott/{SECRET}@//dbhost:1521/orcl",
                 {"connection_string": "//dbhost:1521/orcl", "user": "scott"},
                 id="oracle-ezconnect"),
    pytest.param(f"jdbc:oracle:thin:scott/{SECRET}@//dbhost:1521/orcl",
                 {"connection_string": "jdbc:oracle:thin:@//dbhost:1521/orcl", "user": "scott"},
                 id="oracle-jdbc-thin"),
    pytest.param("mysql://db.example.com:3306/shop", {"url": "mysql://db.example.com:3306/shop"},
                 id="url-without-secrets-unchanged"),
    pytest.param(f"Server=tcp://h;Password={SECRET}@x",
                 {"url": "Server=tcp://x"}, id="key-value-with-url-inside"),
]


@pytest.mark.parametrize(("connection", "expected"), CONNECTION_CASES)
def test_connection_string_without_password(
    recorder: SpanRecorder, connection: str, expected: Dict[str, Any]
) -> None:
    doc = _doc(recorder, {"db.system": "postgresql", "db.connection_string": connection})
    assert SECRET not in orjson.dumps(doc).decode()
    for field, value in expected.items():
        assert doc["sql"][field] == value, field


def test_db_user_wins_over_user_in_connection_string(recorder: SpanRecorder) -> None:
    doc = _doc(recorder, {"db.system": "mysql", "db.user": "app",
                          "db.connection_string": "mysql://other:pw@h/db"})
    assert doc["sql"]["user"] == "app"


def test_connection_string_of_non_sql_system_never_sent(recorder: SpanRecorder) -> None:
    doc = _doc(recorder, {"db.system": "redis",
                          "db.connection_string": f"redis://:{SECRET}@cache.local:6379/0"})
    assert SECRET not in orjson.dumps(doc).decode()


def test_connection_string_is_kept_out_of_metadata() -> None:
    assert "db.connection_string" in sql.MAPPED_KEYS


def test_sql_keys_stay_in_metadata_for_non_sql_databases() -> None:
    # db.statement of a Redis call has nowhere else to go.
    assert not sql.MAPPED_KEYS & {"db.statement", "db.query.text", "db.system", "db.user"}


@pytest.fixture
def sqlite_recorder() -> Iterator[SpanRecorder]:
    recorder = SpanRecorder()
    instrumentor = SQLite3Instrumentor()
    instrumentor.instrument(tracer_provider=recorder.provider)
    try:
        yield recorder
    finally:
        instrumentor.uninstrument()


def test_real_sqlite3_query_becomes_sql_subsegment(sqlite_recorder: SpanRecorder) -> None:
    with sqlite_recorder.tracer.start_as_current_span("handler"):
        connection = sqlite3.connect(":memory:")
        try:
            cursor = connection.cursor()
            cursor.execute("CREATE TABLE items (id INTEGER, name TEXT)")
            cursor.execute("SELECT name FROM items WHERE id = ?", (1,))
        finally:
            connection.close()
    query = next(s for s in sqlite_recorder.spans() if s.name == "SELECT")
    doc = assert_valid_document(to_document(query, OPTIONS))
    assert doc["type"] == "subsegment"
    assert doc["namespace"] == "remote"
    assert doc["sql"] == {
        "database_type": "sqlite",
        "sanitized_query": "SELECT name FROM items WHERE id = ?",
    }
