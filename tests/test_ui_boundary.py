"""The screen's boundary, read from the source with `ast`.

Engine threads meet the screen in one place (`socklab/ui/bridge.py`), and the
app (`socklab/ui/app.py`) wires the session to it.  No other module of the
screen imports the engine, the server modes, the scenarios or the session,
and none reads an engine object's attributes: what a widget shows comes from
events (the view-state model), never from an `Endpoint` read across threads.
The UI-free modules the screen builds on import neither textual nor rich.
"""

from __future__ import annotations

import ast

from helpers import REPO

UI = REPO / "socklab" / "ui"
#: The two modules allowed to reach the lab.
ALLOWED = {"bridge.py", "app.py"}
ENGINE_SIDE = {"socklab.engine", "socklab.modes", "socklab.scenarios", "socklab.session"}
#: Names of the engine's objects, and attributes only they have (the view-state
#: model's sockets have addresses, bytes and states too: those come from events).
ENGINE_NAMES = {"Endpoint", "Server", "Lab", "Service", "LabSession"}
ENDPOINT_ATTRIBUTES = {"lab", "session", "bus", "sock", "connections", "last_data",
                       "last_datagram", "eof", "open_sockets", "clients",
                       "_closing", "_flood"}
UI_FREE = ["viewstate.py", "session.py", "spool.py", "labcalls.py"]


def imported(tree: ast.AST, module_name: str) -> set[str]:
    """Every module a file imports, relative imports resolved from ``module_name``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module_name.split(".")
                base = parts[: len(parts) - node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_only_the_bridge_and_the_app_reach_the_lab() -> None:
    checked = 0
    for path in sorted(UI.glob("*.py")):
        if path.name in ALLOWED:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        reached = {name for name in imported(tree, f"socklab.ui.{path.stem}")
                   if any(name == m or name.startswith(m + ".") for m in ENGINE_SIDE)}
        assert not reached, f"{path.name} imports {sorted(reached)}"
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        assert not used & ENGINE_NAMES, f"{path.name} names {sorted(used & ENGINE_NAMES)}"
        read = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not read & ENDPOINT_ATTRIBUTES, \
            f"{path.name} reads socket attributes {sorted(read & ENDPOINT_ATTRIBUTES)}"
        checked += 1
    assert checked >= 8  # the panes, the lists, the log, port info... were all read


def test_the_boundary_check_sees_a_violation() -> None:
    """The check above is not vacuous: it catches each way of reaching the lab."""
    for source in ("from ..engine import Endpoint", "import socklab.session",
                   "from .. import scenarios", "from ..modes import MODES"):
        tree = ast.parse(source)
        names = imported(tree, "socklab.ui.x")
        assert any(n == m or n.startswith(m + ".") for n in names for m in ENGINE_SIDE), source


def test_the_modules_under_the_screen_are_ui_free() -> None:
    for name in UI_FREE:
        tree = ast.parse((REPO / "socklab" / name).read_text())
        roots = {n.split(".")[0] for n in imported(tree, f"socklab.{name[:-3]}")}
        assert not roots & {"textual", "rich"}, f"{name} imports {roots & {'textual', 'rich'}}"
