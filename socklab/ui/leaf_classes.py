"""Classes that style only the widget that carries them (issue 21: a lesson's CPU).

Textual restyles a widget *and its whole subtree* each time one of its classes
changes, because a selector such as ``Screen.-short .calls`` styles descendants
by an ancestor's class.  Opening a lesson once added ``-lesson`` to the screen:
every widget of the app (some 260, the hidden tabs' too) was styled again, a
twentieth of a whole lesson's play, to change three rules.

A class that socklab.tcss names only in the last part of its selectors
(``#panes.-lesson``, ``PortInfoLine.-lesson``, ``Screen.-short #log.-lesson``)
changes the style of the widget that carries it and of nothing under it:
`set_leaf_class` sets it and restyles that widget alone.  The classes allowed
here are `LEAF_CLASSES`; `misplaced` finds a selector that names one of them
before its last part (tests/test_app_restyle.py keeps the stylesheet so).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.css.model import CombinatorType, RuleSet, SelectorType
from textual.dom import DOMNode

#: The lesson layout (the panes keep their buttons in view, port info is hidden,
#: the log keeps a few rows): on the panes, the port-info lines and the log.
LESSON = "-lesson"
LEAF_CLASSES = frozenset({LESSON})


def set_leaf_class(node: DOMNode, on: bool, name: str) -> None:
    """Add (``on``) or remove the leaf class ``name``, restyling ``node`` alone."""
    if name not in LEAF_CLASSES:
        raise ValueError(f"{name!r} is not a leaf class: use set_class")
    if node.has_class(name) == on:
        return
    node.set_class(on, name, update=False)
    if node.parent is not None:  # not mounted: styled when it is
        node.app.stylesheet.update_nodes([node], animate=True)


def misplaced(rules: Iterable[RuleSet], names: Iterable[str] = LEAF_CLASSES) -> list[str]:
    """The selectors (as CSS) that name a leaf class before their last part: there
    it styles the widgets under the one carrying it."""
    leaves = set(names)
    found = []
    for rule in rules:
        for selector_set in rule.selector_set:
            selectors = selector_set.selectors
            last = len(selectors) - 1  # the last part starts after the last combinator
            while last > 0 and selectors[last].combinator == CombinatorType.SAME:
                last -= 1
            if any(s.type == SelectorType.CLASS and s.name in leaves
                   for s in selectors[:last]):
                found.append(selector_set.css)
    return found
