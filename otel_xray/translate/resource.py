"""Resource attributes → segment fields: ``origin``, ``aws`` (ec2/ecs/eks/…), ``service``.

STUB: to be implemented (issue 2).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from opentelemetry.sdk.resources import Resource

from ..config import TranslateOptions


def segment_fields(resource: Optional[Resource], options: TranslateOptions) -> Dict[str, Any]:
    """Fields a segment gets from its resource.

    Returns a new dict (the caller may consume it) with any of ``origin``, ``aws`` (a dict
    merged into the segment's ``aws`` block), ``service`` and ``metadata`` (namespaces merged
    into the segment's metadata, for ``options.resource_metadata``).
    """
    return {}
