"""`twostep.services.records_io` on the in-memory fakes: imports, a client's records, exports.

The same use cases run on SQLite and PostgreSQL in ``tests/records_io``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from service_world import NOW, World, phq9, phq9_total

from twostep.domain.records import (
    Administration,
    AlertKind,
    EntryKind,
    Role,
    SharingPreference,
    new_id,
)
from twostep.errors import (
    AccessDeniedError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import score_submission
from twostep.interop.fhir import ImportedResponse
from twostep.services import journal
from twostep.services.records_io import (
    EXPORT_COLUMNS,
    StoredImport,
    client_records,
    export_scores,
    pseudonym,
    store_imported_administrations,
)

KEY = b"k" * 32


def adm(
    w: World,
    client: str,
    answers: dict[str, int | None],
    completed_at: datetime,
    *,
    adm_id: str | None = None,
    instrument: str = "phq9",
) -> Administration:
    """An administration as an importer builds it (scored by the catalogue)."""
    score = score_submission(get_instrument(instrument), answers)
    return Administration(
        id=adm_id or new_id(),
        clinic_id="whatever-the-sender-said",
        client_id=w.id(client),
        episode_id=None,
        instrument_id=instrument,
        answers=dict(answers),
        total=score.total,
        subscales=dict(score.subscales),
        band=score.band,
        case=score.case,
        risk=score.risk,
        risk_level=score.risk_level,
        risk_not_assessed=score.risk_not_assessed,
        prorated=score.prorated,
        completed_at=completed_at,
        received_at=completed_at,
        source="fhir",
    )


def imported(a: Administration, *, amended: bool = False, entry: int = 0) -> ImportedResponse:
    return ImportedResponse(
        administration=a,
        natural_key=f"urn:test|{a.id}",
        identifier_system="urn:test",
        identifier_value=a.id,
        amended=amended,
        location=f"Bundle.entry[{entry}].resource",
    )


def store(
    w: World,
    by: str,
    items: Sequence[Administration | ImportedResponse],
    *,
    alert_window_days: int = 7,
) -> StoredImport:
    return store_imported_administrations(
        w.factory, w.actor(by), items, now=NOW, alert_window_days=alert_window_days
    )


def stored(w: World) -> list[Administration]:
    return list(w.store.rows("administrations"))


def events(w: World) -> list[tuple[str, str, str, str | None, str]]:
    return [
        (e.action, e.object_type, e.actor_role, e.client_id, e.outcome)
        for e in w.store.audit_events
    ]


DAY = timedelta(days=1)


# ----------------------------------------------------------------------- importing


def test_therapist_stores_responses_of_their_clients(world: World) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(12), NOW - 30 * DAY)
    b = adm(w, "client_a2", phq9_total(5), NOW - 20 * DAY)
    c = adm(w, "client_a1", phq9_total(9), NOW - 10 * DAY)
    result = store(w, "ther_a", [imported(a), imported(b, entry=1), c])
    assert [x.id for x in result.stored] == [a.id, b.id, c.id]
    assert (result.skipped, result.amended, result.clients) == (0, 0, 2)
    got = {x.id: x for x in stored(w)}
    assert set(got) == {a.id, b.id, c.id}
    first = got[a.id]
    # the clinic, submitter and receipt time are the importer's, not what the sender said
    assert first.clinic_id == w.clinic.id
    assert first.submitted_by == w.id("ther_a")
    assert first.received_at == NOW
    assert first.episode_id == w.episodes["client_a1"].id  # the episode open at the time
    assert (first.total, first.version, first.supersedes_id) == (12, 1, None)
    # one audit event per client, committed with the records
    assert sorted(events(w)) == sorted(
        [
            ("import", "administration", "therapist", w.id("client_a1"), "ok"),
            ("import", "administration", "therapist", w.id("client_a2"), "ok"),
        ]
    )


@pytest.mark.parametrize("who", ["admin", "ther_admin"])
def test_admin_imports_for_any_client_of_the_clinic(world: World, who: str) -> None:
    w = world
    a = adm(w, "client_b1", phq9_total(7), NOW - 3 * DAY)
    assert len(store(w, who, [a]).stored) == 1


@pytest.mark.parametrize(
    ("who", "client"),
    [
        ("ther_a", "client_b1"),  # a client of another therapist
        ("ther_a", "client_x"),  # another clinic
        ("admin", "client_x"),  # another clinic, even for an admin
        ("ther_a", "ther_b"),  # not a client at all
    ],
)
def test_a_client_out_of_reach_refuses_the_whole_import(
    world: World, who: str, client: str
) -> None:
    w = world
    good = adm(w, "client_a1" if who == "ther_a" else "client_b1", phq9_total(3), NOW - DAY)
    bad = adm(w, client, phq9_total(4), NOW - DAY)
    with pytest.raises(NotFoundError) as err:
        store(w, who, [imported(good), imported(bad, entry=1)])
    assert "Bundle.entry[1].resource.subject" in str(err.value)
    assert "forbidden_subject" in str(err.value)
    assert "entry[0]" not in str(err.value)
    assert stored(w) == []  # all or nothing
    assert [e[-1] for e in events(w)] == ["denied"]
    assert events(w)[0][3] is None  # the refused client is not named in the audit


def test_an_unknown_client_reads_like_a_foreign_one(world: World) -> None:
    w = world
    foreign = adm(w, "client_x", phq9_total(4), NOW - DAY)
    unknown = replace(foreign, client_id=new_id())
    messages = []
    for a in (foreign, unknown):
        with pytest.raises(NotFoundError) as err:
            store(w, "ther_a", [a])
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("who", ["client_a1", "researcher"])
def test_clients_and_researchers_cannot_import(world: World, who: str) -> None:
    w = world
    with pytest.raises(AccessDeniedError):
        store(w, who, [adm(w, "client_a1", phq9_total(4), NOW - DAY)])
    assert stored(w) == []


def test_a_removed_role_takes_effect_at_once(world: World) -> None:
    w = world
    actor = w.actor("ther_a", frozenset({Role.THERAPIST, Role.ADMIN}))  # admin not on the record
    with pytest.raises(NotFoundError):
        store_imported_administrations(
            w.factory, actor, [adm(w, "client_b1", phq9_total(4), NOW - DAY)], now=NOW
        )


def test_reimport_is_skipped_by_id_and_by_natural_key(world: World) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(12), NOW - 30 * DAY)
    store(w, "ther_a", [imported(a)])
    again = store(w, "ther_a", [imported(a)])
    assert (len(again.stored), again.skipped) == (0, 1)
    # the same response under another id (e.g. re-sent without an identifier): same key, same total
    same = replace(a, id=new_id(), answers={})
    assert store(w, "ther_a", [same]).skipped == 1
    assert len(stored(w)) == 1


def test_a_different_total_is_a_conflict_naming_the_location(world: World) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(12), NOW - 30 * DAY)
    store(w, "ther_a", [a])
    fresh = adm(w, "client_a2", phq9_total(2), NOW - 2 * DAY)
    changed = adm(w, "client_a1", phq9_total(14), a.completed_at)
    with pytest.raises(ConflictError) as err:
        store(w, "ther_a", [imported(fresh), imported(changed, entry=1)])
    assert "Bundle.entry[1].resource" in str(err.value)
    assert "entry[0]" not in str(err.value)
    assert [x.id for x in stored(w)] == [a.id]  # the fresh one was not stored either
    assert events(w)[-1][-1] == "error"


def test_a_changed_response_under_the_same_identifier_needs_an_amendment(world: World) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(12), NOW - 30 * DAY)
    store(w, "ther_a", [imported(a)])
    changed = replace(adm(w, "client_a1", phq9_total(15), a.completed_at), id=a.id)
    with pytest.raises(ConflictError):
        store(w, "ther_a", [imported(changed)])
    result = store(w, "ther_a", [imported(changed, amended=True)])
    assert (len(result.stored), result.amended) == (1, 1)
    new = result.stored[0]
    assert new.id != a.id  # the stored id stays with the first version
    assert (new.version, new.supersedes_id, new.total) == (2, a.id, 15)
    assert new.episode_id == w.episodes["client_a1"].id
    with w.factory() as uow:
        history = uow.administrations.history(w.id("client_a1"), "phq9")
        assert [h.id for h in history] == [new.id]
        assert len(uow.administrations.for_client(w.id("client_a1"))) == 2  # the old one stays
    # the same amendment again adds nothing
    again = store(w, "ther_a", [imported(changed, amended=True)])
    assert (len(again.stored), again.skipped) == (0, 1)


def test_the_original_sent_again_after_its_amendment_is_skipped(world: World) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(12), NOW - 30 * DAY)
    store(w, "ther_a", [imported(a)])
    fix = replace(adm(w, "client_a1", phq9_total(15), a.completed_at), id=a.id)
    store(w, "ther_a", [imported(fix, amended=True)])
    # by id, and without one (the natural key matches the superseded first version)
    for again in (a, replace(a, id=new_id())):
        result = store(w, "ther_a", [imported(again)])
        assert (len(result.stored), result.skipped) == (0, 1)
    assert len(stored(w)) == 2


def test_an_amendment_in_the_same_bundle_as_its_original(world: World) -> None:
    w = world
    original = adm(w, "client_a1", phq9_total(10), NOW - 40 * DAY)
    fix = adm(w, "client_a1", phq9_total(11), original.completed_at)
    # the amendment comes first in the Bundle; the original is stored first all the same
    result = store(w, "ther_a", [imported(fix, amended=True), imported(original, entry=1)])
    assert [(x.id, x.version) for x in result.stored] == [(original.id, 1), (fix.id, 2)]
    assert result.stored[1].supersedes_id == original.id


def test_an_amendment_that_changes_only_the_risk_answer_is_stored(world: World) -> None:
    w = world
    answers = phq9([1, 1, 1, 1, 1, 1, 1, 1, 0])
    a = adm(w, "client_a1", answers, NOW - DAY)
    store(w, "ther_a", [imported(a)])
    moved = phq9([0, 1, 1, 1, 1, 1, 1, 1, 1])  # same total, item 9 now answered 1
    fix = replace(adm(w, "client_a1", moved, a.completed_at), id=a.id)
    result = store(w, "ther_a", [imported(fix, amended=True)])
    assert result.stored[0].risk
    assert [x.kind for x in result.alerts] == [AlertKind.RISK]


def test_an_amendment_of_something_never_stored_is_a_first_version(world: World) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(6), NOW - DAY)
    result = store(w, "ther_a", [imported(a, amended=True)])
    assert (result.stored[0].version, result.amended) == (1, 0)


def test_risk_alerts_for_recent_responses_only(world: World) -> None:
    w = world
    recent = adm(w, "client_a1", phq9_total(12, item9=2), NOW - 2 * DAY)
    old = adm(w, "client_a1", phq9_total(12, item9=3), NOW - 60 * DAY)
    blank = adm(w, "client_a2", phq9_total(8, item9=None), NOW - 6 * DAY)
    old_blank = adm(w, "client_a2", phq9_total(8, item9=None), NOW - 8 * DAY)
    result = store(w, "ther_a", [recent, old, blank, old_blank])
    got = sorted((a.kind, a.client_id, a.administration_id) for a in result.alerts)
    assert got == sorted(
        [
            (AlertKind.RISK, w.id("client_a1"), recent.id),
            (AlertKind.RISK_NOT_ASSESSED, w.id("client_a2"), blank.id),
        ]
    )
    risk = next(a for a in result.alerts if a.kind is AlertKind.RISK)
    assert risk.level == recent.risk_level
    assert risk.created_at == NOW
    assert len(w.store.rows("alerts")) == 2
    # a wider window reaches older history
    w2 = world
    more = adm(w2, "client_b1", phq9_total(9, item9=1), NOW - 20 * DAY)
    assert len(store(w2, "admin", [more], alert_window_days=30).alerts) == 1


def test_responses_completed_in_the_future_are_refused(world: World) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(6), NOW + timedelta(hours=1))
    with pytest.raises(ValidationError) as err:
        store(w, "ther_a", [imported(a)])
    assert err.value.problems[0].where == "Bundle.entry[0].resource.authored"
    assert err.value.problems[0].code == "implausible-timestamp"
    assert stored(w) == []


def test_now_must_be_aware(world: World) -> None:
    with pytest.raises(ValueError, match="aware"):
        store_imported_administrations(
            world.factory, world.actor("ther_a"), [], now=NOW.replace(tzinfo=None)
        )


# ----------------------------------------------------------------------- one client


def _seed_between_sessions(w: World) -> None:
    cid = w.id("client_a1")
    me = w.actor("client_a1")
    journal.add_journal_entry(
        w.factory, me, cid, mood=4, text="CANARY-journal", created_at=NOW - DAY, now=NOW
    )
    journal.add_reflection(w.factory, me, cid, what_happened="CANARY-reflection", now=NOW)
    journal.add_stressor(
        w.factory, me, cid, category="work", severity=3, started_on=date(2024, 5, 1), now=NOW
    )
    journal.add_session_topic(w.factory, me, cid, "CANARY-topic", now=NOW)
    w.checkin("client_a1", phq9_total(10), NOW - 2 * DAY)


def test_the_client_gets_their_whole_record(world: World) -> None:
    w = world
    _seed_between_sessions(w)
    before = len(w.store.audit_events)
    records = client_records(w.factory, w.actor("client_a1"), w.id("client_a1"))
    assert records.client_id == w.id("client_a1")
    assert [e.text for e in records.journal] == ["CANARY-journal"]
    assert [r.what_happened for r in records.reflections] == ["CANARY-reflection"]
    assert len(records.stressors) == 1
    assert [t.text for t in records.topics] == ["CANARY-topic"]
    assert len(records.administrations) == 1
    new = w.store.audit_events[before:]
    assert [(e.action, e.object_type, e.client_id, e.outcome) for e in new] == [
        ("export", "client_records", w.id("client_a1"), "ok")
    ]


def test_the_therapist_gets_what_the_client_shares(world: World) -> None:
    w = world
    _seed_between_sessions(w)
    records = client_records(w.factory, w.actor("ther_a"), w.id("client_a1"))
    # journal text is private by default, mood is shared; reflections are private
    assert [(e.text, e.mood) for e in records.journal] == [("", 4)]
    assert records.reflections == ()
    assert len(records.stressors) == 1
    assert len(records.administrations) == 1  # the clinical record is not subject to sharing
    with w.factory() as uow:
        cid = w.id("client_a1")
        uow.sharing.set(SharingPreference(cid, EntryKind.STRESSORS, False, NOW))
        uow.sharing.set(SharingPreference(cid, EntryKind.MOOD, False, NOW))
        uow.commit()
    records = client_records(w.factory, w.actor("ther_a"), w.id("client_a1"))
    assert records.stressors == ()
    assert records.journal == ()


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("admin", AccessDeniedError),
        ("researcher", AccessDeniedError),
        ("ther_b", NotFoundError),
        ("client_a2", NotFoundError),
        ("ther_x", NotFoundError),
    ],
)
def test_client_records_are_refused_to_others(
    world: World, who: str, error: type[Exception]
) -> None:
    w = world
    _seed_between_sessions(w)
    with pytest.raises(error):
        client_records(w.factory, w.actor(who), w.id("client_a1"))
    assert w.store.audit_events[-1].outcome == "denied"


# ------------------------------------------------------------------------- scores


def _seed_scores(w: World) -> None:
    w.series("client_a1", [14, 12, 11], start=NOW - 30 * DAY)
    w.series("client_a2", [8, 6], start=NOW - 20 * DAY)
    w.series("client_b1", [20, 18, 15, 9], start=NOW - 40 * DAY)
    w.series("client_x", [5], start=NOW - 5 * DAY)  # another clinic


def test_therapist_exports_their_caseload(world: World) -> None:
    w = world
    _seed_scores(w)
    before = len(w.store.audit_events)
    cols = export_scores(w.factory, w.actor("ther_a"))
    assert list(cols) == list(EXPORT_COLUMNS)
    a1, a2 = w.id("client_a1"), w.id("client_a2")
    assert sorted(set(cols["client_id"])) == sorted({a1, a2})
    rows = list(zip(*cols.values(), strict=True))
    mine = [r for r in rows if r[0] == a1]
    assert [r[1] for r in mine] == [1, 2, 3]
    assert [r[5] for r in mine] == [14, 12, 11]
    first = NOW - 30 * DAY
    assert mine[0][2] == first.date()
    assert mine[0][3] == first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {r[4] for r in rows} == {"phq9"}
    assert {r[6] for r in rows} == {w.id("ther_a")}
    new = w.store.audit_events[before:]
    assert sorted((e.action, e.object_type, e.client_id) for e in new) == sorted(
        [("export", "administration", a1), ("export", "administration", a2)]
    )


def test_therapist_exports_one_client_and_only_their_own(world: World) -> None:
    w = world
    _seed_scores(w)
    cols = export_scores(w.factory, w.actor("ther_a"), client_id=w.id("client_a2"))
    assert cols["score"] == [8, 6]
    for other in ("client_b1", "client_x"):
        with pytest.raises(NotFoundError):
            export_scores(w.factory, w.actor("ther_a"), client_id=w.id(other))
    assert w.store.audit_events[-1].outcome == "denied"


def test_a_client_exports_themself_only(world: World) -> None:
    w = world
    _seed_scores(w)
    cols = export_scores(w.factory, w.actor("client_a1"))
    assert set(cols["client_id"]) == {w.id("client_a1")}
    assert len(cols["score"]) == 3
    with pytest.raises(NotFoundError):
        export_scores(w.factory, w.actor("client_a1"), client_id=w.id("client_a2"))


def test_an_admin_exports_no_clinical_content(world: World) -> None:
    w = world
    _seed_scores(w)
    for kw in ({}, {"pseudonymise_key": KEY}, {"client_id": w.id("client_a1")}):
        with pytest.raises(AccessDeniedError):
            export_scores(w.factory, w.actor("admin"), **kw)  # type: ignore[arg-type]


def test_researchers_get_no_rows_not_even_pseudonymised(world: World) -> None:
    """AZ-09: researchers get de-identified aggregates only; row-level exports are refused."""
    w = world
    _seed_scores(w)
    researcher = w.actor("researcher")
    before = len(w.store.audit_events)
    for kw in ({}, {"pseudonymise_key": KEY}, {"client_id": w.id("client_a1")}):
        with pytest.raises(AccessDeniedError, match="aggregates only"):
            export_scores(w.factory, researcher, **kw)  # type: ignore[arg-type]
    outcomes = [e.outcome for e in w.store.audit_events[before:]]
    assert outcomes == ["denied"] * 3


def test_a_pseudonymised_export_has_no_id_and_no_exact_time(world: World) -> None:
    w = world
    _seed_scores(w)
    before = len(w.store.audit_events)
    cols = export_scores(w.factory, w.actor("ther_b"), pseudonymise_key=KEY)
    assert "completed_at" not in cols
    assert list(cols) == [c for c in EXPORT_COLUMNS if c != "completed_at"]
    assert len(cols["score"]) == 4  # ther_b's caseload: client_b1's four scores
    raw = {u.id for u in w.users.values()}
    values = {str(v) for col in cols.values() for v in col}
    assert not raw & values  # no raw id anywhere
    b1 = pseudonym(KEY, w.id("client_b1"))
    assert set(cols["client_id"]) == {b1}
    assert set(cols["therapist_id"]) == {pseudonym(KEY, w.id("ther_b"))}
    assert all(len(p) == 16 for p in cols["client_id"])
    assert all(isinstance(d, date) and d.weekday() == 0 for d in cols["date"])
    assert cols["session"] == [1, 2, 3, 4]  # counted before the dates are coarsened
    new = w.store.audit_events[before:]
    assert [(e.action, e.object_type, e.client_id, e.outcome) for e in new] == [
        ("export", "pseudonymised_export", None, "ok")
    ]


def test_pseudonyms_need_a_long_key_and_depend_on_it(world: World) -> None:
    w = world
    _seed_scores(w)
    with pytest.raises(ConfigurationError):
        export_scores(w.factory, w.actor("ther_b"), pseudonymise_key=b"short")
    one = export_scores(w.factory, w.actor("ther_b"), pseudonymise_key=KEY)
    two = export_scores(w.factory, w.actor("ther_b"), pseudonymise_key=b"z" * 32)
    assert set(one["client_id"]).isdisjoint(two["client_id"])


def test_therapist_may_pseudonymise_their_own_export(world: World) -> None:
    w = world
    _seed_scores(w)
    cols = export_scores(w.factory, w.actor("ther_a"), pseudonymise_key=KEY)
    assert set(cols["client_id"]) == {
        pseudonym(KEY, w.id("client_a1")),
        pseudonym(KEY, w.id("client_a2")),
    }


def test_superseded_versions_are_not_exported_and_sessions_count_current_ones(
    world: World,
) -> None:
    w = world
    a = adm(w, "client_a1", phq9_total(12), NOW - 30 * DAY)
    b = adm(w, "client_a1", phq9_total(10), NOW - 20 * DAY)
    store(w, "ther_a", [a, b])
    fix = replace(adm(w, "client_a1", phq9_total(13), a.completed_at), id=a.id)
    store(w, "ther_a", [imported(fix, amended=True)])
    cols = export_scores(w.factory, w.actor("ther_a"), client_id=w.id("client_a1"))
    assert cols["score"] == [13, 10]
    assert cols["session"] == [1, 2]


def test_therapist_of_the_time_and_none_before_any_assignment(world: World) -> None:
    w = world
    early = adm(w, "client_a1", phq9_total(12), NOW - 300 * DAY)  # before the assignment
    store(w, "ther_a", [early])
    cols = export_scores(w.factory, w.actor("ther_a"))
    assert cols["therapist_id"] == [None]
    assert cols["completed_at"] == [
        (NOW - 300 * DAY).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ]
