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
