"""``python -m otel_xray``: the same as the ``otel-xray`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
