"""Sampling for X-Ray: parent-based with X-Ray's "no decision", and the console's rules.

- :class:`XRayParentBased`: ``ParentBased`` that decides ``Sampled=?`` requests with its
  root sampler instead of dropping them;
- :class:`XRayRemoteSampler`: the same, with the sampling rules of the X-Ray console as
  the root (polled through the daemon's TCP proxy, or the X-Ray API).

See docs/sampling.md.
"""

from __future__ import annotations

from .parent_based import XRayParentBased
from .remote import XRayRemoteSampler

__all__ = ["XRayParentBased", "XRayRemoteSampler"]
