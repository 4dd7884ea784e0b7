"""Every module outside socklab.ui, and the headless commands, load without textual or rich.

Run in a fresh interpreter (harlequin's test_import_hygiene pattern): this
test process has long since imported both for the app tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from helpers import LIMIT, REPO, cli_env


def test_every_module_outside_the_ui_and_the_commands_never_import_textual_or_rich() -> None:
    script = textwrap.dedent("""
        import contextlib, importlib, io, json, pkgutil, sys
        import socklab
        for found in pkgutil.walk_packages(socklab.__path__, "socklab."):
            if found.name != "socklab.ui" and not found.name.startswith("socklab.ui."):
                importlib.import_module(found.name)
        from socklab import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = cli.main(["demo", "welcome", "--json"])
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"textual", "rich"})
        modules = sorted(m for m in sys.modules if m.startswith("socklab."))
        print(json.dumps({"status": status, "lines": len(out.getvalue().splitlines()),
                          "loaded": loaded, "modules": modules}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=LIMIT * 2, check=False, env=cli_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == 0 and result["lines"] >= 11  # the demo really ran
    # the walk really found the packages' modules
    assert {"socklab.engine.floods", "socklab.cli.serve", "socklab.scenarios"} <= set(
        result["modules"])
    assert result["loaded"] == [], f"the core imported {result['loaded']}"
