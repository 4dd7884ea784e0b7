"""The Cable bar on the lab screen (issue 26): shown only in two-hosts mode; a preset
or words change the real cable and log a ``cable`` event; bad words are one line."""

from __future__ import annotations

import pytest
from hosts_helpers import machine_network, needs_hosts
from pilot import SIZE, settle, until, watch

from socklab.hosts.cable import PRESETS, parse
from socklab.ui.app import SocklabApp
from socklab.ui.cable_bar import CableBar

pytestmark = [pytest.mark.system, needs_hosts]


async def test_the_cable_bar_sets_the_cable_and_the_log_says_so() -> None:
    before = machine_network()
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.query_one(CableBar)
        assert not bar.display  # one machine: no cable
        await app.hosts.set(True)
        await settle(app, pilot)
        assert bar.display
        bar.query_one("#cable-preset").value = "lossy"
        event = await watch(app).until(lambda e: e.op == "cable")
        assert event.result["spec"] == PRESETS["lossy"].spec() and event.host is None
        assert "lost" in event.lesson
        await until(lambda: app.lab.hosts.relay.conditions == PRESETS["lossy"], "cable set")
        preset = bar.query_one("#cable-preset")
        bar.field.value = "delay 30ms reorder 5%"
        await pilot.click("#cable-apply")
        event = await watch(app).until(lambda e: e.op == "cable", count=2)
        assert event.args == ("delay 30ms reorder 5%",)
        assert app.lab.hosts.relay.conditions == parse("delay 30ms reorder 5%")
        await until(lambda: preset.value == "custom", "the preset choice says Custom")
        bar.field.value = PRESETS["satellite"].spec()  # a preset's words, typed
        await pilot.click("#cable-apply")
        await watch(app).until(lambda e: e.op == "cable", count=3)
        await until(lambda: preset.value == "satellite", "the preset the words are")
        bar.field.value = "delay 30ms reorder 5%"
        await pilot.click("#cable-apply")
        await watch(app).until(lambda e: e.op == "cable", count=4)
        bar.field.value = "loss lots"
        await pilot.click("#cable-apply")
        await settle(app, pilot)
        error = bar.query_one("#cable-error")
        assert "loss 'lots'" in str(error.render()) and error.has_class("-shown")
        assert app.lab.hosts.relay.conditions == parse("delay 30ms reorder 5%")  # unchanged
        await app.hosts.set(False)
        await settle(app, pilot)
        assert not bar.display
        await app.hosts.set(True)  # new hosts, a perfect cable: the bar says so
        await settle(app, pilot)
        assert app.lab.hosts.relay.conditions == parse("perfect")
        assert preset.value == "perfect" and bar.field.value == PRESETS["perfect"].spec()
        await app.hosts.set(False)
        await settle(app, pilot)
    assert machine_network() == before


async def test_the_lab_opens_with_the_cable_it_was_given() -> None:
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts, start=True, cable=parse("delay 40ms"))
    async with app.run_test(size=SIZE) as pilot:
        event = await watch(app).until(lambda e: e.op == "cable")
        assert event.result["delay_ms"] == 40
        assert app.query_one(CableBar).field.value == "delay 40ms"
        await settle(app, pilot)
        assert app.query_one("#cable-preset").value == "custom"  # no preset's name over it


async def test_the_palette_offers_the_cable_presets_in_two_hosts_mode_only() -> None:
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        def cable_commands() -> dict:
            return {c.title: c for c in app.get_system_commands(app.screen)
                    if c.title.startswith("Cable: ")}

        assert cable_commands() == {}  # one machine: no cable to set
        await app.hosts.set(True)
        await settle(app, pilot)
        commands = cable_commands()
        assert set(commands) == {"Cable: Perfect", "Cable: Wi-Fi", "Cable: Lossy",
                                 "Cable: Satellite", "Cable: Slow link"}
        assert PRESETS["lossy"].spec() in commands["Cable: Lossy"].help
        commands["Cable: Lossy"].callback()
        event = await watch(app).until(lambda e: e.op == "cable")
        assert event.result["spec"] == PRESETS["lossy"].spec()
        await until(lambda: app.lab.hosts.relay.conditions == PRESETS["lossy"], "cable set")
        assert app.query_one("#cable-preset").value == "lossy"
        await app.hosts.set(False)
        await settle(app, pilot)
