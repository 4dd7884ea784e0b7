"""A state event as words: the one phrase the log, the commands and the panes use."""

from __future__ import annotations

from typing import Any


def describe_state(result: Any) -> str:
    """A state event's result as one short phrase: ``CLOSE_WAIT``,
    ``LISTEN · accept queue 3, backlog 2 (full)``."""
    if not isinstance(result, dict):
        return str(result)
    text = str(result.get("state", "?"))
    if "queue" in result:
        queue, backlog = result.get("queue", 0), result.get("backlog", 0)
        full = " (full)" if isinstance(queue, int) and isinstance(backlog, int) \
            and queue > backlog else ""
        text += f" · accept queue {queue}, backlog {backlog}{full}"
    if result.get("retransmits"):
        text += f" · SYN sent again ×{result['retransmits']}"
    return text


def queue_gauge(queue: int, backlog: int, width: int = 15) -> tuple[str, str, bool]:
    """A listener's accept queue as a bar a class can read from the back row.

    Returns (filled, empty, full): the bar stands for the slots Linux admits
    (backlog + 1), each a few cells wide for a small backlog, scaled down to
    ``width`` cells for a big one.
    """
    slots = max(1, backlog + 1)
    cell = max(1, width // slots)
    cells = min(width, slots * cell)
    filled = min(cells, -(-min(queue, slots) * cells // slots)) if queue > 0 else 0
    return "█" * filled, "░" * (cells - filled), queue > backlog
