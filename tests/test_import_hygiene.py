"""The engine and the headless commands load without textual or rich.

Run in a fresh interpreter (harlequin's test_import_hygiene pattern): this
test process has long since imported both for the app tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from helpers import LIMIT, REPO, cli_env

CORE = ["engine", "events", "lessons", "inputs", "modes", "demos", "cli"]


def test_core_and_headless_commands_never_import_textual_or_rich() -> None:
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        for name in {CORE!r}:
            __import__("socklab." + name)
        from socklab import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = cli.main(["demo", "welcome", "--json"])
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & {{"textual", "rich"}})
        print(json.dumps({{"status": status, "lines": len(out.getvalue().splitlines()),
                          "loaded": loaded}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=LIMIT * 2, check=False, env=cli_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == 0 and result["lines"] >= 11  # the demo really ran
    assert result["loaded"] == [], f"the core imported {result['loaded']}"
