"""The lab as keyboard users, projectors and wide screens need it (issue 12
items 6 and 9, issue 15 item 13), driven with Pilot over real loopback sockets."""

from __future__ import annotations

from pathlib import Path

from pilot import SIZE, click, is_, run_server, settle, watch
from textual.widgets import Button, Select, Static, TabbedContent

from socklab.logformat import line_parts as accept_parts
from socklab.ui.app import SocklabApp
from socklab.ui.code_view import CodeView
from socklab.ui.event_log import TWO_COLUMNS_AT
from socklab.ui.payload_view import PayloadView


async def test_at_start_only_the_servers_run_is_lit_and_focus_shows_on_it() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        server_run = app.query_one("#server-run", Button)
        assert server_run.has_class("-next")
        assert not app.query_one("#client-run", Button).has_class("-next")
        # The focus marker stays visible on the lit button (it starts focused).
        assert app.focused is server_run
        assert server_run.styles.text_style.reverse
        await run_server(app, pilot)
        await settle(app, pilot)
        assert app.query_one("#client-run", Button).has_class("-next")


async def test_escape_leaves_a_text_field_so_keys_are_keys_again() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        field = app.client_pane.input("message")
        field.focus()
        await pilot.press("h", "i")
        await pilot.press("escape")
        assert app.focused is app.query_one("#client-run", Button)
        await pilot.press("l")  # now the app's "focus the log", not a letter typed
        assert app.focused is app.event_log
        assert field.value == "hi"


async def test_ctrl_e_exports_on_the_code_tab_without_a_click(tmp_path: Path) -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#code-view", CodeView).export_dir = tmp_path
        await click(pilot, "#--content-tab-code")
        assert app.query_one("#tabs", TabbedContent).active == "code"
        assert not isinstance(app.focused, CodeView)  # the tab bar has the focus
        await pilot.press("ctrl+e")
        await pilot.pause()
    assert (tmp_path / "sockets_server.py").is_file()
    assert (tmp_path / "sockets_client.py").is_file()


async def test_clear_log_empties_the_view_and_keeps_the_session() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        await run_server(app, pilot)
        await settle(app, pilot)
        assert app.event_log.row_count > 0
        app.event_log.focus()
        await pilot.press("ctrl+l")
        assert app.event_log.row_count == 0
        await click(pilot, "#client-run")  # the log goes on from here
        await watch(app).until(is_("client", "close"))
        await settle(app, pilot)
        assert app.event_log.buffer.events()[0].op != "socket" or \
            app.event_log.buffer.events()[0].side == "client"


async def test_f2_folds_the_fields_and_gives_the_log_room() -> None:
    app = SocklabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = app.event_log.size.height
        await pilot.press("f2")
        await pilot.pause()
        assert not app.server_pane.input("host").display or \
            not app.server_pane.input("host").parent.display  # type: ignore[union-attr]
        assert app.event_log.size.height >= before + 5
        await pilot.press("f2")
        await pilot.pause()
        assert app.event_log.size.height == before


async def test_an_emptied_host_says_every_interface_before_the_call() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        host = app.server_pane.input("host")
        note = app.query_one("#server-host-note", Static)
        assert not note.display
        host.value = ""
        await pilot.pause()
        assert "127.0.0.1" not in host.placeholder and "every interface" in host.placeholder
        assert note.display and "every interface" in str(note.render())
        host.value = "127.0.0.1"
        await pilot.pause()
        assert not note.display


async def test_a_wide_terminal_shows_the_server_left_and_the_client_right() -> None:
    app = SocklabApp()
    async with app.run_test(size=(TWO_COLUMNS_AT + 40, 50)) as pilot:
        await run_server(app, pilot)
        await click(pilot, "#client-run")
        await watch(app).until(is_("client", "close"))
        await settle(app, pilot)
        log = app.event_log
        assert log.columns >= TWO_COLUMNS_AT // 2 - 2
        rows = log.buffer.rows
        client_row = next(i for i, r in enumerate(rows) if r.event.side == "client")
        server_row = next(i for i, r in enumerate(rows) if r.event.side == "server")
        log.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        client_text = log.render_line(client_row - int(log.scroll_y)).text
        server_text = log.render_line(server_row - int(log.scroll_y)).text
        assert client_text.index("client[") > log.columns - 2
        assert client_text[log.columns - 2] == "│"
        assert server_text.startswith("#")
    narrow = SocklabApp()
    async with narrow.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert narrow.event_log.columns == 0


async def test_the_detail_view_shows_the_whole_payload_three_ways_and_copies() -> None:
    """A payload longer than the pane (d): decoded text, repr, hex; Copy fills
    the clipboard with the same escaped text."""
    app = SocklabApp()
    message = "héllo ✓ " + "x" * 300 + "\x1b[2J end"
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.query_one("#server-mode", Select).value = "echo"
        app.client_pane.input("message").value = message.replace("\x1b", r"\x1b")
        seen = await run_server(app, pilot)
        await click(pilot, "#client-run")
        await seen.until(is_("client", "close"))
        await settle(app, pilot)
        log = app.event_log
        rows = log.buffer.rows
        index = next(i for i, r in enumerate(rows)
                     if r.event.side == "client" and r.event.op == "recv" and r.event.nbytes)
        log.focus()
        log.move_cursor(index)
        await pilot.press("d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PayloadView)
        payload = message.encode()
        text = str(screen.query_one("#payload-text", Static).render())
        assert text == "héllo ✓ " + "x" * 300 + r"\x1b[2J end"  # whole, control escaped
        assert str(screen.query_one("#payload-repr", Static).render()) == repr(payload)
        hexed = str(screen.query_one("#payload-hex", Static).render())
        assert hexed.startswith("00000000  68 c3 a9 6c 6c 6f")
        await click(pilot, "#copy-repr")
        assert app.clipboard == repr(payload)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PayloadView)


async def test_at_80x24_the_connect_result_is_not_cut() -> None:
    """The peer port must be comparable at 80×24: the time column gives way,
    and a call still too wide shows its result whole on the row under it."""
    app = SocklabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        seen = await run_server(app, pilot)
        await click(pilot, "#client-run")
        connect = await seen.until(is_("client", "connect"))
        await seen.until(is_("client", "close"))
        await settle(app, pilot)
        log = app.event_log
        assert log.compact
        index = next(i for i, r in enumerate(log.buffer.rows) if r.event is connect)
        log.scroll_to(y=index, animate=False, immediate=True)
        await pilot.pause()
        top = index - int(log.scroll_y)
        call, result = log.render_line(top).text, log.render_line(top + 1).text
        host, port = connect.result
        assert f"connect({connect.args[0]!r})" in call and "+" not in call
        assert result.lstrip().startswith(f"→ None · local address ('{host}', {port})")
        assert app.event_log.buffer.event_index(index + 1) == index  # one event


async def test_numbers_pair_and_start_again_after_reset() -> None:
    """server[k] names client[n] (log and lists); Reset starts numbering at 1."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.query_one("#server-mode", Select).value = "manual"
        seen = await run_server(app, pilot)
        await click(pilot, "#client-run")  # client[1], so numbers differ below
        await seen.until(is_("client", "close"))
        await click(pilot, "#client-connect-n")
        await seen.until(is_("server", "accept"), count=4)
        await settle(app, pilot)
        accepts = [e for e in seen.events if e.op == "accept" and e.phase == "done"]
        connects = {tuple(e.result): e.conn for e in seen.events
                    if e.op == "connect" and e.phase == "done" and e.ok}
        for accept in accepts:
            assert accept.peer_conn == connects[tuple(accept.result)]
            line = "".join(t for t, _ in accept_parts(accept))
            assert line.endswith(f" = client[{accept.peer_conn}]")
        labels = [row.label for row in app.server_pane.rows()]
        for accept in accepts:
            assert f"[{accept.conn}] ⇄ client[{accept.peer_conn}]" in labels
        client_labels = [row.label for row in app.client_pane.rows()]
        assert f"client[{accepts[-1].peer_conn}] ⇄ server[{accepts[-1].conn}]" in client_labels
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert all(side.pairs == {} for side in app.view_state.sides.values())
        before = len(seen.events)
        app.server_pane.input("port").value = "0"
        await click(pilot, "#server-run")
        await seen.until(is_("server", "accept", phase="wait"), count=2)
        await click(pilot, "#client-run")
        await seen.until(is_("client", "close"), count=2)
        await settle(app, pilot)
        fresh = seen.events[before:]
        assert {e.conn for e in fresh if e.side == "client"} == {1}
        assert {e.conn for e in fresh if e.side == "server" and e.conn is not None} == {1}
