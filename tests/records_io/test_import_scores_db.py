"""`import_scores` on SQLite and PostgreSQL: exact read-back, idempotency, all-or-nothing.

Every rejected import leaves every table it could write unchanged (counted
before and after), as reliability-security.md §4.2 (#37, #38, #42, #43) asks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from records_world import DbWorld

from twostep.domain.records import Role
from twostep.errors import AccessDeniedError, InputFileError
from twostep.interop.scores_import import import_scores
from twostep.services.access import Actor

HEADER = "client_id,date,instrument,score," + ",".join(f"item_{i}" for i in range(1, 10))
NO_ITEMS = "," * 9


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rows(w: DbWorld) -> list[str]:
    """A file's rows: items for a1 (two of them), totals only for a2 (by e-mail), an offset time."""
    a1, a2 = w.id("client_a1"), w.email("client_a2").upper()  # e-mails match case-folded
    return [
        f"{a1},2024-03-04,phq9,,1,1,1,1,1,1,1,1,1",  # items; risk item 9 answered 1
        f"{a1},2024-03-11T10:30:00+02:00,phq9,,3,3,2,2,1,1,0,0,0",  # items, with a time
        f"{a2},2024-03-05,phq9,17{NO_ITEMS}",  # a total only: risk not assessed
        f"{a2},2024-03-12,gad7,6,,,,,,,,,",  # another instrument, total only
    ]


def test_inserted_rows_read_back_exactly(world: DbWorld, tmp_path: Path) -> None:
    w = world
    path = write(tmp_path, "scores.csv", [HEADER, *rows(w)])
    result = import_scores(path, w.factory, w.actor("ther_a"), now=datetime(2024, 6, 3, tzinfo=UTC))
    assert (result.rows, result.inserted, result.skipped, result.clients) == (4, 4, 0, 2)
    assert result.already_imported is False
    with w.factory() as uow:
        a1 = uow.administrations.history(w.id("client_a1"), "phq9")
        a2 = uow.administrations.history(w.id("client_a2"), "phq9")
        gad = uow.administrations.history(w.id("client_a2"), "gad7")
    assert [a.completed_at for a in a1] == [
        datetime(2024, 3, 4, 12, 0, tzinfo=UTC),  # a date alone: 12:00 UTC
        datetime(2024, 3, 11, 10, 30, tzinfo=timezone(timedelta(hours=2))),  # that instant
    ]
    first, second = a1
    assert first.answers == {
        **{f"item_{i}": 1.0 for i in range(1, 10)},
        "item_10": None,
    }
    assert (first.total, first.band, first.case) == (9, "mild", False)
    assert (first.risk, first.risk_level, first.risk_not_assessed) == (True, 1, False)
    assert (second.total, second.band, second.case, second.risk) == (12, "moderate", True, False)
    assert second.answers["item_1"] == 3.0
    assert all(a.source == "import" and a.submitted_by == w.id("ther_a") for a in a1)
    assert all(a.clinic_id == w.clinic_id and a.version == 1 for a in a1)
    (total_only,) = a2
    assert total_only.answers == {}
    assert (total_only.total, total_only.band, total_only.case) == (17, "moderately severe", True)
    assert (total_only.risk, total_only.risk_not_assessed) == (False, True)
    assert total_only.completed_at == datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    (g,) = gad
    assert (g.total, g.band, g.case, g.risk_not_assessed) == (6, "mild", False, False)
    # history raises no alerts; one audit event per client
    assert w.counts()["alerts"] == 0
    with w.factory() as uow:
        for name in ("client_a1", "client_a2"):
            events = [e for e in uow.audit.for_client(w.id(name)) if e.action == "import"]
            assert [(e.object_type, e.actor_id, e.outcome) for e in events] == [
                ("administration", w.id("ther_a"), "ok")
            ]


def test_the_same_file_again_adds_nothing(world: DbWorld, tmp_path: Path) -> None:
    w = world
    path = write(tmp_path, "scores.csv", [HEADER, *rows(w)])
    import_scores(path, w.factory, w.actor("ther_a"))
    before = w.counts()
    again = import_scores(path, w.factory, w.actor("ther_a"))
    assert again.already_imported is True
    assert (again.inserted, again.skipped) == (0, 4)
    assert w.counts() == before


def test_the_same_rows_in_a_new_file_are_skipped(world: DbWorld, tmp_path: Path) -> None:
    w = world
    import_scores(write(tmp_path, "one.csv", [HEADER, *rows(w)]), w.factory, w.actor("ther_a"))
    n = w.counts()["administrations"]
    a1 = w.id("client_a1")
    extra = f"{a1},2024-03-18,phq9,,0,0,0,0,0,0,0,0,0"
    two = write(tmp_path, "two.csv", [HEADER, *reversed(rows(w)), extra])
    result = import_scores(two, w.factory, w.actor("ther_a"))
    assert (result.already_imported, result.inserted, result.skipped) == (False, 1, 4)
    assert w.counts()["administrations"] == n + 1


def test_a_changed_total_is_a_conflict_naming_the_row(world: DbWorld, tmp_path: Path) -> None:
    w = world
    import_scores(write(tmp_path, "one.csv", [HEADER, *rows(w)]), w.factory, w.actor("ther_a"))
    before = w.counts()
    changed = rows(w)
    changed[2] = changed[2].replace(",17,", ",18,")
    fresh = f"{w.id('client_a1')},2024-04-01,phq9,,0,0,0,0,0,0,0,0,0"
    with pytest.raises(InputFileError) as err:
        import_scores(
            write(tmp_path, "two.csv", [HEADER, fresh, *changed]), w.factory, w.actor("ther_a")
        )
    problems = err.value.problems
    assert [(p.code, p.where) for p in problems] == [("conflict", f"{tmp_path / 'two.csv'}, row 5")]
    assert w.counts() == before  # the fresh row was not stored either


@pytest.mark.parametrize(
    ("who", "client"),
    [("ther_a", "client_b1"), ("ther_a", "client_x"), ("admin", "client_x")],
)
def test_a_client_out_of_reach_is_forbidden_naming_the_row(
    world: DbWorld, tmp_path: Path, who: str, client: str
) -> None:
    w = world
    before = w.counts()
    lines = [HEADER, *rows(w), f"{w.id(client)},2024-03-20,phq9,4{NO_ITEMS}"]
    path = write(tmp_path, "scores.csv", lines)
    with pytest.raises(InputFileError) as err:
        import_scores(path, w.factory, w.actor(who))
    assert [(p.code, p.where) for p in err.value.problems] == [
        ("forbidden_subject", f"{path}, row 6, column client_id")
    ]
    assert w.counts() == refused(before)


def test_an_admin_imports_for_the_whole_clinic(world: DbWorld, tmp_path: Path) -> None:
    w = world
    lines = [HEADER, *rows(w), f"{w.id('client_b1')},2024-03-20,phq9,4{NO_ITEMS}"]
    result = import_scores(write(tmp_path, "s.csv", lines), w.factory, w.actor("admin"))
    assert (result.inserted, result.clients) == (5, 3)


@pytest.mark.parametrize("who", ["client_a1", "researcher"])
def test_only_staff_import(world: DbWorld, tmp_path: Path, who: str) -> None:
    w = world
    before = w.counts()
    with pytest.raises(AccessDeniedError):
        import_scores(write(tmp_path, "s.csv", [HEADER, *rows(w)]), w.factory, w.actor(who))
    assert w.counts() == refused(before)


@pytest.mark.parametrize(
    ("content", "code"),
    [("", "empty_file"), (HEADER + "\n", "empty_import"), ("\n\n", "empty_file")],
)
def test_an_empty_file_is_an_error(world: DbWorld, tmp_path: Path, content: str, code: str) -> None:
    w = world
    before = w.counts()
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        import_scores(path, w.factory, w.actor("ther_a"))
    assert [p.code for p in err.value.problems] == [code]
    assert w.counts() == before


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("{a1},2024-03-04,phq9,,1,1,1,1,1,1,1,1,4", "not_an_allowed_answer"),
        ("{a1},03/04/2024,phq9,5" + NO_ITEMS, "invalid_date"),
        ("{a1},2024-03-04T10:00:00,phq9,5" + NO_ITEMS, "timezone_required"),
        ("{a1},2024-03-04,phq9,N/A" + NO_ITEMS, "not_a_number"),
    ],
)
def test_every_bad_row_leaves_the_database_unchanged(
    world: DbWorld, tmp_path: Path, line: str, code: str
) -> None:
    w = world
    before = w.counts()
    bad = line.format(a1=w.id("client_a1"))
    path = write(tmp_path, "bad.csv", [HEADER, *rows(w), bad])
    with pytest.raises(InputFileError) as err:
        import_scores(path, w.factory, w.actor("ther_a"))
    assert code in {p.code for p in err.value.problems}
    assert any("row 6" in p.where for p in err.value.problems)
    assert w.counts() == before


def test_import_checks_the_roles_on_record(world: DbWorld, tmp_path: Path) -> None:
    w = world
    claimed = Actor(w.id("ther_a"), w.clinic_id, frozenset({Role.THERAPIST, Role.ADMIN}))
    line = f"{w.id('client_b1')},2024-03-20,phq9,4{NO_ITEMS}"  # not ther_a's client
    path = write(tmp_path, "s.csv", [HEADER, line])
    before = w.counts()
    with pytest.raises((AccessDeniedError, InputFileError)):
        import_scores(path, w.factory, claimed)
    assert w.counts() == refused(before)


def refused(before: dict[str, int]) -> dict[str, int]:
    """The counts after a refused import: one ``denied`` audit event and nothing else."""
    return {**before, "audit_log": before["audit_log"] + 1}
