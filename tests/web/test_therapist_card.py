"""`services.client_card`: the header of the therapist's client pages (on the fakes)."""

from __future__ import annotations

import pytest
from service_world import NOW, World

from twostep.domain.records import EntryKind
from twostep.errors import AccessDeniedError, NotFoundError
from twostep.services.client_card import client_card
from twostep.services.journal import set_sharing


def test_the_card_names_the_client_and_what_they_keep_private(web_world: World) -> None:
    w, cid = web_world, web_world.id("client_a1")
    card = client_card(w.factory, w.actor("ther_a"), cid)
    assert card.display_name == "Client A1"
    assert EntryKind.JOURNAL_TEXT in card.private_kinds
    assert EntryKind.MOOD in card.shared_kinds
    set_sharing(w.factory, w.actor("client_a1"), cid, EntryKind.JOURNAL_TEXT, True, now=NOW)
    card = client_card(w.factory, w.actor("ther_a"), cid)
    assert EntryKind.JOURNAL_TEXT in card.shared_kinds
    [*_, event] = w.store.audit_events
    assert (event.action, event.object_type, event.client_id, event.outcome) == (
        "read",
        "client",
        cid,
        "ok",
    )


@pytest.mark.parametrize(
    ("who", "client", "error"),
    [
        ("ther_a", "client_b1", NotFoundError),
        ("ther_a", "client_x", NotFoundError),
        ("ther_x", "client_a1", NotFoundError),
        ("researcher", "client_a1", AccessDeniedError),
    ],
)
def test_the_card_follows_the_access_policy(
    web_world: World, who: str, client: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client_card(web_world.factory, web_world.actor(who), web_world.id(client))
    assert web_world.store.audit_events[-1].outcome == "denied"
