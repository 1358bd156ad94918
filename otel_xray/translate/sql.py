"""The ``sql`` block for SQL database calls, never leaking a password.

STUB: to be implemented (issue 2).
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Optional

from ._attrs import Attributes

MAPPED_KEYS: FrozenSet[str] = frozenset()


def sql_block(attrs: Attributes) -> Optional[Dict[str, Any]]:
    """The ``sql`` field for a SQL system, else ``None``."""
    return None
