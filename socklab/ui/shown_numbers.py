"""How kernel-chosen numbers (ports, descriptors) are displayed.

The lab shows the kernel's real numbers: `RealNumbers` is the identity and
the app's default.  It is a hook: the SVG snapshot tests pass their own
(``tests/stable_numbers.py``), which shows the numbers the kernel picks
differently on every run as stable ones, only where they are displayed.
"""

from __future__ import annotations

from typing import Any

from ..events import Event


class RealNumbers:
    """Show every number as the kernel gave it."""

    def port(self, real: int) -> int:
        return real

    def real_port(self, shown: int) -> int:
        return shown

    def event(self, event: Event) -> Event:
        return event

    def address(self, addr: Any) -> Any:
        return addr
