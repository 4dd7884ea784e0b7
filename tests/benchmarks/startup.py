"""Start-up: process start to the first painted lab screen, vs a bare Textual app.

Each app runs in a fresh interpreter (``python -m tests.benchmarks.startup
lab|bare``), headless at 120×40, and exits on Textual's ``Ready`` event, which
is sent once the first frame has been painted.  The parent notes the monotonic
clock just before it starts the process; the child prints the same clock at
first paint (CLOCK_MONOTONIC is system-wide), so the figure includes the
interpreter's start, every import and the first layout and paint.

The bare app has the lab's widget tree without socklab: the same number of
each stock widget the lab screen shows (Selects, Inputs, Buttons, Labels,
OptionLists, Statics, a Log for the event log), in the same containers,
counted from the real lab at benchmark time so the two never drift apart.

Both start from cached bytecode: the bare app's Textual was compiled when it
was installed (pip writes every module's ``.pyc``), and so is an installed
socklab; `cache_bytecode` writes socklab's (and this package's) first, since a
checkout run with ``PYTHONDONTWRITEBYTECODE`` (as on the machines socklab is
developed on) would otherwise compile some hundred modules at every start.

Wall-clock ratios move with the machine's load, so the figure also notes the
instructions each app runs up to its first paint (valgrind's callgrind, when
installed; not with ``--quick``): a count the load does not change.
"""

from __future__ import annotations

import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from importlib.util import find_spec
from pathlib import Path

from .report import Figure, median

SIZE = (120, 40)
#: Stock widgets the bare app reproduces, by the Textual class they are made of.
STOCK = ("Select", "Input", "Button", "Label", "OptionList", "Static", "Checkbox", "Switch",
         "TabPane", "DataTable", "Collapsible")


def lab_widget_counts() -> dict[str, int]:
    """How many of each stock widget the lab screen holds (run in a child)."""
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.startup", "count"],
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _count() -> None:
    import asyncio

    from socklab.ui.app import SocklabApp

    async def count() -> dict[str, int]:
        app = SocklabApp()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            counts: Counter[str] = Counter()
            for widget in app.query("*"):
                # The nearest class Textual defines: a Select's own parts
                # (SelectOverlay, ...) are not Selects, Labels or OptionLists.
                stock = next(c for c in type(widget).__mro__ if c.__module__.startswith("textual"))
                if stock.__name__ in STOCK:
                    counts[stock.__name__] += 1
            return dict(counts)

    print(json.dumps(asyncio.run(count())))


def _bare(counts: dict[str, int]) -> type:
    from textual.app import App, ComposeResult
    from textual.containers import Horizontal, VerticalScroll
    from textual.widgets import (
        Button,
        Checkbox,
        Collapsible,
        DataTable,
        Footer,
        Header,
        Input,
        Label,
        Log,
        OptionList,
        Select,
        Static,
        Switch,
        TabbedContent,
        TabPane,
    )

    makers = {
        "Select": lambda i: Select([("one", 1), ("two", 2)], value=1, allow_blank=False),
        "Input": lambda i: Input(value=str(i)),
        "Button": lambda i: Button(f"call {i}"),
        "Label": lambda i: Label(f"label {i}"),
        "OptionList": lambda i: OptionList("first", "second"),
        "Static": lambda i: Static(f"static {i}"),
        "Checkbox": lambda i: Checkbox(f"check {i}"),
        "Switch": lambda i: Switch(),
    }

    class BareApp(App[None]):
        """The lab's widget tree with no socklab in it."""

        BINDINGS = [(f"f{i}", "bell", f"Key {i}") for i in range(1, 8)]
        CSS = """
        Horizontal > * { width: 1fr; }
        VerticalScroll { height: 1fr; }
        Log { height: 1fr; }
        """

        def compose(self) -> ComposeResult:
            widgets = [makers[name](i) for name, n in counts.items() if name in makers
                       for i in range(n)]
            halves = (widgets[: len(widgets) // 2], widgets[len(widgets) // 2 :])
            tables = counts.get("DataTable", 0) - counts.get("Collapsible", 0)
            yield Header()
            with TabbedContent():
                with TabPane("Lab"):
                    with Horizontal():
                        for half in halves:
                            with VerticalScroll():
                                for start in range(0, len(half), 3):
                                    with Horizontal():
                                        yield from half[start : start + 3]
                    yield Log()
                for i in range(1, counts.get("TabPane", 1)):
                    with TabPane(f"Tab {i}"):
                        if i == counts.get("TabPane", 1) - 1:
                            for _ in range(tables):
                                yield DataTable()
                            for _ in range(counts.get("Collapsible", 0)):
                                with Collapsible(title="more"):
                                    yield DataTable()
                        else:
                            yield Static("code")
            yield Footer()

        def on_mount(self) -> None:
            for table in self.query(DataTable):
                table.add_columns("PORT", "CLASS", "TCP", "UDP", "PRIV", "EPH", "STATE")

        def on_ready(self) -> None:
            self.painted = time.monotonic()  # type: ignore[attr-defined]
            self.exit()

    return BareApp


def _lab() -> type:
    from pathlib import Path

    import socklab.ui.app
    from socklab.ui.app import SocklabApp

    class FirstPaint(SocklabApp):
        # CSS_PATH is relative to the module that defines the class.
        CSS_PATH = Path(socklab.ui.app.__file__).with_name(str(SocklabApp.CSS_PATH))

        def on_ready(self) -> None:
            self.painted = time.monotonic()  # type: ignore[attr-defined]
            self.exit()

    return FirstPaint


def _child(kind: str) -> None:
    app_class = _lab() if kind == "lab" else _bare(json.loads(os.environ["SOCKLAB_BENCH_COUNTS"]))
    if os.environ.get("SOCKLAB_BENCH_EXIT_AT_PAINT"):  # counting instructions: no teardown

        class ExitAtPaint(app_class):  # type: ignore[misc, valid-type]
            def on_ready(self) -> None:
                sys.stdout.flush()
                os._exit(0)

        app_class = ExitAtPaint
    app = app_class()
    app.run(headless=True, size=SIZE)
    print(json.dumps({"painted": app.painted}))


def cache_bytecode() -> None:
    """Write the bytecode of socklab and of this package, as installing does."""
    spec = find_spec("socklab")  # found, not imported: the bare child imports no socklab
    assert spec is not None and spec.submodule_search_locations
    for folder in (*spec.submodule_search_locations, str(Path(__file__).parent)):
        compileall.compile_dir(folder, quiet=1)


def instructions(kind: str, counts: dict[str, int]) -> int | None:
    """Instructions one app runs from its process's start to its first paint
    (callgrind), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    env = dict(os.environ, SOCKLAB_BENCH_COUNTS=json.dumps(counts),
               SOCKLAB_BENCH_EXIT_AT_PAINT="1")
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, "-m", "tests.benchmarks.startup", kind],
                         capture_output=True, text=True, env=env, timeout=1200)
    found = re.search(r"Collected : (\d+)", out.stderr)
    return int(found.group(1)) if out.returncode == 0 and found else None


def first_paint(kind: str, counts: dict[str, int]) -> float:
    """Seconds from starting a process to its app's first painted frame."""
    env = dict(os.environ, SOCKLAB_BENCH_COUNTS=json.dumps(counts))
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.startup", kind],
                         capture_output=True, text=True, env=env, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"start-up child {kind} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["painted"] - started


def headless_cli_imports() -> list[str]:
    """UI modules a headless command loads (should be none)."""
    code = ("import sys; from socklab.cli import main; "
            "main(['demo', 'welcome']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


def startup_figure(runs: int = 5, count_instructions: bool = True) -> Figure:
    cache_bytecode()
    counts = lab_widget_counts()
    lab, bare = [], []
    for _ in range(runs):
        bare.append(first_paint("bare", counts))
        lab.append(first_paint("lab", counts))
    figure = Figure("5 start-up to first paint", median(lab), median(bare), "s", 1.2, False,
                    goal="the lab paints as soon as a bare app with its widgets (issue 24)")
    tree = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    figure.notes.append(f"process start → first painted frame, {SIZE[0]}×{SIZE[1]} headless, "
                        f"median of {runs}, bytecode cached; bare app: {tree}, a Log, header, "
                        f"footer")
    lab_runs = ", ".join(f"{t:.2f}" for t in lab)
    bare_runs = ", ".join(f"{t:.2f}" for t in bare)
    figure.notes.append(f"every run (s): lab {lab_runs}; bare {bare_runs}; load average "
                        f"{os.getloadavg()[0]:.2f} at the end")
    if count_instructions:
        counted = instructions("lab", counts), instructions("bare", counts)
        if None not in counted:
            lab_n, bare_n = counted
            figure.notes.append(f"instructions to first paint (callgrind, load-independent): "
                                f"lab {lab_n / 1e9:.2f} G, bare {bare_n / 1e9:.2f} G, "
                                f"ratio {lab_n / bare_n:.2f}")
    loaded = headless_cli_imports()
    figure.notes.append("headless command (socklab demo welcome) loads "
                        + (", ".join(loaded) if loaded else "no textual, no rich"))
    if loaded:
        figure.ok = False
    return figure


if __name__ == "__main__":
    if sys.argv[1] == "count":
        _count()
    else:
        _child(sys.argv[1])
