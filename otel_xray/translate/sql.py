"""The ``sql`` block for SQL database calls, never leaking a password.

Both generations of the database conventions are read: ``db.system``/``db.statement``/
``db.name`` and the stable ``db.system.name``/``db.query.text``/``db.namespace``. The
connection string, when an instrumentation records one, is stripped of every password
form before it is used anywhere (``user:password@`` user-info, Oracle's
``user/password@``, and ``password=``/``pwd=``/… key-value pairs).
"""

from __future__ import annotations

import re
from typing import Any, Dict, FrozenSet, Optional, Tuple
from urllib.parse import unquote

from opentelemetry.semconv._incubating.attributes.db_attributes import (
    DB_CONNECTION_STRING,
    DB_NAME,
    DB_NAMESPACE,
    DB_QUERY_TEXT,
    DB_STATEMENT,
    DB_SYSTEM,
    DB_USER,
)
from opentelemetry.semconv._incubating.attributes.net_attributes import (
    NET_PEER_IP,
    NET_PEER_NAME,
    NET_PEER_PORT,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PEER_ADDRESS
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT

from ._attrs import Attributes, bounded_text, first_int, text_of
from ._cache import BoundedCache

#: ``DB_SYSTEM_NAME`` of semconv ≥ 0.51b0; spelled out since the package supports 0.48b0.
DB_SYSTEM_NAME = "db.system.name"

#: ``sql.user`` is limited to 250 characters by X-Ray.
MAX_USER_LENGTH = 250
#: Cut for ``url`` and ``connection_string``.
MAX_URL_LENGTH = 1024
#: Cut for ``sanitized_query``; whole documents are kept under 64 kB by the packer.
MAX_QUERY_LENGTH = 10_000

SQL_SYSTEMS: FrozenSet[str] = frozenset(
    {
        # db.system (the older conventions)
        "other_sql", "adabas", "cache", "intersystems_cache", "clickhouse", "cloudscape",
        "cockroachdb", "db2", "derby", "edb", "firebird", "firstsql", "h2", "hanadb", "hive",
        "hsqldb", "informix", "ingres", "instantdb", "interbase", "mariadb", "maxdb", "mssql",
        "mssqlcompact", "mysql", "netezza", "oracle", "pervasive", "pointbase", "postgresql",
        "progress", "redshift", "spanner", "sqlite", "sybase", "teradata", "trino", "vertica",
        # db.system.name (the stable conventions)
        "softwareag.adabas", "actian.ingres", "aws.redshift", "intersystems.cache",
        "firebirdsql", "gcp.spanner", "h2database", "ibm.db2", "ibm.informix", "ibm.netezza",
        "microsoft.sql_server", "oracle.db", "sap.hana", "sap.maxdb",
        # spellings seen in the wild (custom and third-party instrumentations)
        "postgres", "sqlserver", "sqlite3", "duckdb", "snowflake",
    }
)
"""``db.system``/``db.system.name`` values of SQL databases (compared in lower case)."""

MAPPED_KEYS: FrozenSet[str] = frozenset({DB_CONNECTION_STRING})
"""Left out of metadata on every span: a connection string may hold a password.

On SQL spans it is carried, sanitized, as ``sql.url``/``sql.connection_string``.
"""

SQL_KEYS: FrozenSet[str] = MAPPED_KEYS | {
    DB_SYSTEM, DB_SYSTEM_NAME, DB_STATEMENT, DB_QUERY_TEXT, DB_USER,
}
"""Keys the ``sql`` block carries on a SQL span (when :func:`sql_block` returns a block);
on other database spans (Redis, MongoDB …) they belong in metadata."""

# URL schemes for systems whose names are not valid schemes (or not the usual one).
_SCHEMES = {
    "microsoft.sql_server": "sqlserver",
    "mssql": "sqlserver",
    "other_sql": "sql",
    "intersystems_cache": "cache",
    "oracle.db": "oracle",
    "ibm.db2": "db2",
}
_SCHEME_INVALID = re.compile(r"[^a-z0-9+.\-]")
_SPACES = re.compile(r"\s{2,}")
_NOT_A_USER = re.compile(r"[=;&?/@\s{}]")
_ORACLE_PREFIX = re.compile(r"jdbc:oracle:[a-z0-9]+:", re.IGNORECASE)
_SECRET_KEYS = (
    r"(?:ssl)?pass(?:word|wd)?|pwd|user\s*password|secret(?:[_ ]?(?:access[_ ]?)?key)?"
    r"|(?:access|auth|api|session)?[_ ]?token|account[_ ]?key|api[_ ]?key|access[_ ]?key"
)
_SECRET_VALUE = r"(?:\{(?:[^}]|\}\})*\}|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|{rest})"
# No "\s*" between the separator and the key: it would make long blank runs quadratic
# (a blank is a separator itself, so "; Password=" still matches).
# "a=1;Password=x;b=2" (ADO.NET, ODBC, JDBC properties): a value runs to the next ';'.
_SECRET_PAIR_SEMI = re.compile(
    r"(^|[;&?\s])(?:" + _SECRET_KEYS + r")\s*=\s*"
    + _SECRET_VALUE.replace("{rest}", r"[^;]*") + r"\s*;?",
    re.IGNORECASE,
)
# "host=h password=x" (libpq) and URL query strings: a value runs to whitespace or '&'.
_SECRET_PAIR_SPACE = re.compile(
    r"(^|[;&?\s])(?:" + _SECRET_KEYS + r")\s*=\s*"
    + _SECRET_VALUE.replace("{rest}", r"[^&\s]*") + r"&?",
    re.IGNORECASE,
)


def is_sql_system(system: Any) -> bool:
    """True for a ``db.system``/``db.system.name`` value naming a SQL database."""
    return isinstance(system, str) and system.lower() in SQL_SYSTEMS


def sql_block(attrs: Attributes) -> Optional[Dict[str, Any]]:
    """The ``sql`` field for a SQL system, else ``None``."""
    system = _sql_system(attrs)
    if system is None:
        return None
    database_type = system
    if len(database_type) > MAX_USER_LENGTH or not database_type.isascii():
        database_type = bounded_text(database_type, MAX_USER_LENGTH)
    block: Dict[str, Any] = {"database_type": database_type}
    query = text_of(attrs, DB_QUERY_TEXT, DB_STATEMENT, limit=MAX_QUERY_LENGTH)
    if query is not None:
        block["sanitized_query"] = query
    user = text_of(attrs, DB_USER, limit=MAX_USER_LENGTH)
    connection = attrs.get(DB_CONNECTION_STRING)
    if isinstance(connection, str) and connection.strip():
        clean, found_user = strip_secrets(connection.strip())
        field = "url" if "://" in clean else "connection_string"
        if clean:
            block[field] = bounded_text(clean, MAX_URL_LENGTH)
        if user is None and found_user:
            user = bounded_text(found_user, MAX_USER_LENGTH)
    else:
        url = _url_from_parts(system, attrs)
        if url is not None:
            block["url"] = bounded_text(url, MAX_URL_LENGTH)
    if user is not None:
        block["user"] = user
    return block


def strip_secrets(connection: str) -> Tuple[str, Optional[str]]:
    """``connection`` without any password, and the user name it named (if any).

    Removes URL user-info (``scheme://user:password@host`` → ``scheme://host``, also after
    ``jdbc:`` prefixes and for every URL in a fail-over list), Oracle's
    ``user/password@host`` and key-value secrets (``Password=…;``, ``pwd={…}``,
    ``password='…'``, ``?password=…&``). When in doubt it removes too much, never too little.
    """
    text, user = _strip_user_info(connection)
    pattern = _SECRET_PAIR_SEMI if ";" in text else _SECRET_PAIR_SPACE
    text = _SPACES.sub(" ", pattern.sub(lambda m: m.group(1), text))
    return text.strip().rstrip("?&;").strip(), user


def _sql_system(attrs: Attributes) -> Optional[str]:
    for key in _SYSTEM_KEYS:
        value = attrs.get(key)
        if is_sql_system(value):
            return str(value)
    return None


_SYSTEM_KEYS = (DB_SYSTEM_NAME, DB_SYSTEM)


def _strip_user_info(text: str) -> Tuple[str, Optional[str]]:
    """Drop ``user[:password]@`` after ``://`` (or Oracle's ``user/password@``)."""
    scheme_end = text.find("://")
    if scheme_end >= 0:
        start = scheme_end + 3
        # The last '@' wins: a password may (wrongly, unencoded) contain '@', '/' or '?'.
        # A query with an '@' then costs the host, never a leaked password.
        at = text.rfind("@", start)
        if at < 0:
            return text, None
        info = text[start:at]
        return text[:start] + text[at + 1 :], _user_of(info, ":")
    prefix = _ORACLE_PREFIX.match(text)
    start = prefix.end() if prefix else 0
    at = text.rfind("@", start)
    if at < 0 or "=" in text[start:at]:
        return text, None  # no user-info, or a key-value string (handled by the caller)
    info = text[start:at]
    separator = "/" if "/" in info else ":"
    # "jdbc:oracle:thin:scott/tiger@//h/s" → "jdbc:oracle:thin:@//h/s" (the no-user form)
    kept = text[:start] + "@" if prefix else ""
    return kept + text[at + 1 :], _user_of(info, separator)


def _user_of(info: str, separator: str) -> Optional[str]:
    """The user part of stripped user-info, if it plainly is one (else nothing)."""
    user = unquote(info.split(separator, 1)[0]).strip()
    if not user or _NOT_A_USER.search(user):
        return None  # e.g. "h;Password=p" when '://' sat inside a key-value string
    return user


def _url_from_parts(system: str, attrs: Attributes) -> Optional[str]:
    """``scheme://host:port/database`` from ``server.*``/``net.peer.*`` and the db name."""
    host = text_of(attrs, SERVER_ADDRESS, NET_PEER_NAME, NETWORK_PEER_ADDRESS, NET_PEER_IP)
    database = text_of(attrs, DB_NAMESPACE, DB_NAME)
    if host is None and database is None:
        return None
    scheme = _scheme(system)
    authority = ""
    if host is not None:
        if "@" in host:  # never expected; never let user-info through
            host = host.rsplit("@", 1)[1]
        authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
        port = first_int(attrs, SERVER_PORT, NET_PEER_PORT)
        if port is not None and 0 < port < 65536:
            authority += f":{port}"
    return f"{scheme}://{authority}/{database or ''}"


def _scheme(system: str) -> str:
    scheme = _schemes.get(system)
    if scheme is None:
        lowered = system.lower()
        scheme = _schemes.put(system, _SCHEMES.get(lowered) or _SCHEME_INVALID.sub("-", lowered))
    return scheme


# A process talks to few database systems: their schemes are worked out once.
_schemes: BoundedCache[str, str] = BoundedCache(256)
