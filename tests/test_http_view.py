"""The HTTP tab draws a response while it is on screen, and a hidden tab's response
when the tab is shown; the regex box matches each response at once, shown or not."""

from __future__ import annotations

from socklab.events import Event
from socklab.ui.app import SocklabApp

RESPONSE = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
            b"But soft what light through yonder window breaks\n")


def _received(seq: int, data: bytes) -> Event:
    """A client's recv() as the engine reports it (``b''``: the server closed)."""
    return Event(seq=seq, t=0.0, side="client", conn=1, op="recv", nbytes=len(data),
                 result=data, raw=data)


def _shown(app: SocklabApp, part: str) -> str:
    return str(app.http_view.query_one(f"#{part}").render())


async def test_a_response_to_a_hidden_tab_is_drawn_when_the_tab_is_shown() -> None:
    app = SocklabApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        http = app.http_view
        http.query_one("#regex-pattern").value = "[a-z]+ght"
        await pilot.pause()
        empty = _shown(app, "http-status")
        http.add_events([_received(1, RESPONSE), _received(2, b"")])
        await pilot.pause()
        assert _shown(app, "http-status") == empty  # the Lab tab is shown: not drawn yet
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert http.matches == ["light"]  # matched at once all the same
        app.lessons.show_http()  # as the palette does: the focus goes with it
        await pilot.pause()
        await pilot.pause()
        assert _shown(app, "http-status").startswith("HTTP/1.0 200 OK")
        assert "Content-Type" in _shown(app, "http-headers")
        assert "yonder window" in _shown(app, "http-body")


async def test_a_response_to_the_shown_tab_is_drawn_at_once() -> None:
    app = SocklabApp()
    async with app.run_test(size=(120, 40)) as pilot:
        app.lessons.show_http()  # as the palette does: the focus goes with it
        await pilot.pause()
        await pilot.pause()
        app.http_view.add_events([_received(1, RESPONSE)])
        assert _shown(app, "http-status").startswith("HTTP/1.0 200 OK")
        assert "yonder window" in _shown(app, "http-body")
