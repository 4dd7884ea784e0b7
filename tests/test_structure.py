"""The shape of the code: no module grows past about 400 lines.

STYLE.md: small modules with one job each.  Read from the source, so a change
that lets a module grow fails here, not in a review.  (That nothing outside
socklab/ui imports textual or rich is test_import_hygiene's; that widgets reach
the engine only through the bridge is test_ui_boundary's.)
"""

from __future__ import annotations

from helpers import REPO

#: "No module over ~400 lines": the issue's figure, with a little slack.
MAX_LINES = 420


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted((REPO / "socklab").rglob("*.py"))}
    assert len(sizes) > 20  # the walk found the package
    long = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"
