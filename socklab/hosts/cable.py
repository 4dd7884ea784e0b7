"""The cable's conditions: delay, jitter, loss, duplication, reordering, rate.

A cable is described in words, as ``tc netem`` is (``delay 100ms loss 10%``),
and the same words are what the ``cable`` event carries, the CLI's
``--cable`` takes and the lab's Cable bar shows.  `parse` turns the words into
`Conditions` (or `CableError`, one line saying which word is wrong);
`Conditions.spec` writes them back.  The relay that applies them to each packet
is `socklab.hosts.cable_relay`.  UI-free.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any


class CableError(ValueError):
    """A cable description that cannot be read; ``str()`` is the one line to show."""


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the cable does to each packet, both ways (all zero: a perfect cable)."""

    #: One-way delay added to every packet (ms).
    delay_ms: float = 0.0
    #: Each packet's delay varies by up to this much either way (ms); packets can then
    #: overtake each other, as on a real path.
    jitter_ms: float = 0.0
    #: Share of packets dropped (percent).
    loss: float = 0.0
    #: Share of packets delivered twice (percent).
    duplicate: float = 0.0
    #: Share of packets held back (`cable_relay.REORDER_HOLD`) so later ones overtake them.
    reorder: float = 0.0
    #: The cable's speed in bits per second (0: as fast as the relay goes).
    rate_bps: int = 0

    @property
    def perfect(self) -> bool:
        return self == PERFECT

    def spec(self) -> str:
        """The words that make these conditions again (``perfect`` for none)."""
        words = []
        if self.delay_ms:
            words.append(f"delay {_num(self.delay_ms)}ms")
        if self.jitter_ms:
            words.append(f"jitter {_num(self.jitter_ms)}ms")
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if value:
                words.append(f"{name} {_num(value)}%")
        if self.rate_bps:
            words.append(f"rate {format_rate(self.rate_bps)}")
        return " ".join(words) or "perfect"

    def to_dict(self) -> dict[str, Any]:
        """The ``cable`` event's result: each condition, and the words."""
        return {**asdict(self), "spec": self.spec()}


PERFECT = Conditions()

#: The Cable bar's presets: a name a learner knows, and what it means on a cable.
PRESETS: dict[str, Conditions] = {
    "perfect": PERFECT,
    "wi-fi": Conditions(delay_ms=5, jitter_ms=3, loss=1),
    "lossy": Conditions(delay_ms=20, loss=20),
    "satellite": Conditions(delay_ms=300, jitter_ms=10, loss=0.5),
    "slow link": Conditions(delay_ms=50, rate_bps=256_000),
}

#: Limits a learner's cable stays within (a lab, not a stress test).
MAX_DELAY_MS = 5_000.0
MIN_RATE_BPS, MAX_RATE_BPS = 8_000, 10_000_000_000

_UNITS = {"kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000, "bit": 1}
_TIME = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(kbit|mbit|gbit|bit)$")
_FIELDS = {"delay": "delay_ms", "jitter": "jitter_ms", "loss": "loss",
           "duplicate": "duplicate", "reorder": "reorder", "rate": "rate_bps"}
HELP = ("describe the cable as: delay Nms, jitter Nms, loss N%, duplicate N%, reorder N%, "
        "rate Nkbit|Nmbit (e.g. 'delay 100ms loss 10%'), a preset (" +
        ", ".join(PRESETS) + "), or 'perfect'")


def _num(value: float) -> str:
    return f"{value:g}"


def format_rate(bps: int) -> str:
    """``256kbit``, ``10mbit``: a rate as the cable's words write it."""
    for unit, size in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bps >= size and bps % (size // 1000 or 1) == 0:
            return f"{_num(bps / size)}{unit}"
    return f"{bps}bit"


def _value(word: str, raw: str) -> float:
    """One condition's value, checked; CableError naming the word otherwise."""
    text = raw.strip().lower()
    if word in ("delay", "jitter"):
        match = _TIME.match(text)
        if not match:
            raise CableError(f"{word} {raw!r}: give milliseconds, e.g. {word} 100ms")
        value = float(match.group(1)) * (1000 if match.group(2) == "s" else 1)
        if value > MAX_DELAY_MS:
            raise CableError(f"{word} {raw!r}: at most {MAX_DELAY_MS:g}ms")
        return value
    if word == "rate":
        match = _RATE.match(text)
        if not match:
            raise CableError(f"rate {raw!r}: give a speed, e.g. rate 256kbit or rate 10mbit")
        value = float(match.group(1)) * _UNITS[match.group(2)]
        if not MIN_RATE_BPS <= value <= MAX_RATE_BPS:
            raise CableError(f"rate {raw!r}: between 8kbit and 10gbit")
        return int(value)
    match = _PERCENT.match(text)
    if not match:
        raise CableError(f"{word} {raw!r}: give a percentage, e.g. {word} 10%")
    value = float(match.group(1))
    if value > 100:
        raise CableError(f"{word} {raw!r}: at most 100%")
    return value


def parse(text: str) -> Conditions:
    """``'delay 100ms loss 10%'`` (or a preset's name) as `Conditions`.

    Each condition is a word and its value; a word not given is zero.  Anything
    else raises `CableError` with one line saying what is wrong and what is meant.
    """
    if not text.isprintable():
        raise CableError("the cable's description has control characters; " + HELP)
    cleaned = " ".join(text.split()).lower()
    if cleaned in PRESETS:
        return PRESETS[cleaned]
    if cleaned in ("", "none"):
        return PERFECT
    words = cleaned.split(" ")
    unknown = next((w for w in words[::2] if w not in _FIELDS), None)
    if unknown is not None:
        raise CableError(f"unknown cable condition {unknown!r}; {HELP}")
    if len(words) % 2:
        raise CableError(f"{words[-1]!r} has no value; {HELP}")
    values: dict[str, Any] = {}
    for word, raw in zip(words[::2], words[1::2], strict=True):
        name = _FIELDS.get(word)
        if name is None:
            raise CableError(f"unknown cable condition {word!r}; {HELP}")
        if name in values:
            raise CableError(f"{word} is given twice")
        values[name] = _value(word, raw)
    return replace(PERFECT, **values)


def from_dict(data: Any) -> Conditions | None:
    """A ``cable`` event's result back as `Conditions` (None: not one), for replay."""
    if not isinstance(data, dict) or not isinstance(data.get("spec"), str):
        return None
    try:
        return parse(data["spec"])
    except CableError:
        return None
