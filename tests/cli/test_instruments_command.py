"""`twostep instruments list|show`: the catalogue in the terminal, item text only where licensed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from twostep.cli import main
from twostep.cli.main import app
from twostep.cli.render import instrument_panel
from twostep.instruments.registry import default_catalogue, get_instrument

IDS = [
    "core10", "engagement", "gad2", "gad7", "k10", "ors",
    "pcl5", "phq2", "phq9", "srs", "swemwbs", "wai_sr",
]  # fmt: skip
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide console, so table cells do not wrap (the width otherwise depends on the host)."""
    monkeypatch.setattr(main, "out", Console(width=400, force_terminal=False))


def render(panel: object) -> str:
    console = Console(width=400, record=True, force_terminal=False)
    with console.capture() as cap:
        console.print(panel)
    return cap.get()


def test_list_contains_all_twelve_ids() -> None:
    res = runner.invoke(app, ["instruments", "list"])
    assert res.exit_code == 0
    assert sorted(i.id for i in default_catalogue()) == IDS
    for iid in IDS:
        assert iid in res.stdout, iid
    assert "PHQ-9" in res.stdout
    assert ">= 10" in res.stdout


def test_show_phq9_has_item_text_and_facts() -> None:
    res = runner.invoke(app, ["instruments", "show", "phq9"])
    assert res.exit_code == 0
    text = res.stdout
    phq9 = get_instrument("phq9")
    for item in phq9.items:
        assert item.text is not None
        assert item.text in text, item.id
    assert "RISK" in text  # item 9 is flagged
    assert "reliable change" in text
    assert "Pfizer" in text  # licence notice


@pytest.mark.parametrize("iid", ["ors", "srs", "core10", "wai_sr", "swemwbs"])
def test_show_unlicensed_instrument_has_labels_only(iid: str) -> None:
    res = runner.invoke(app, ["instruments", "show", iid])
    assert res.exit_code == 0
    ins = get_instrument(iid)
    assert not ins.shows_item_text
    assert "label (item text not licensed)" in res.stdout
    for item in ins.items:
        assert item.text is None  # the catalogue ships no wording for it
        assert item.label in res.stdout


def test_panel_never_prints_item_text_without_a_licence() -> None:
    phq9 = get_instrument("phq9")
    hidden = replace(phq9, licence=replace(phq9.licence, ship_item_text=False))
    text = render(instrument_panel(hidden))
    for item in phq9.items:
        assert item.text is not None
        assert item.text not in text
        assert item.label in text
    shown = render(instrument_panel(phq9))
    for item in phq9.items:
        assert item.text is not None
        assert item.text in shown


def test_show_unknown_instrument_exits_2() -> None:
    res = runner.invoke(app, ["instruments", "show", "bdi"])
    assert res.exit_code == 2
    assert "unknown instrument 'bdi'" in res.stderr
    assert "phq9" in res.stderr  # lists the known ids


def test_no_arguments_shows_help() -> None:
    res = runner.invoke(app, ["instruments"])
    assert res.exit_code in (0, 2)
    assert "list" in res.output
    assert "show" in res.output
