"""Treatment episodes: open, close, list.

An episode is one referral of a client, from its start to its end (with the
reason it ended). Questionnaire histories are analysed per episode: the first
administration of an episode is its intake (methods.md §11). A client has at
most one open episode at a time. Episodes are opened and closed by the
client's assigned therapist; clients can see their own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from twostep.domain.ports import UnitOfWork, UnitOfWorkFactory
from twostep.domain.records import Episode, new_id
from twostep.errors import ConflictError
from twostep.services.access import Actor, client_access, not_found
from twostep.services.audit import AuditNote, audited
from twostep.services.validation import Checks, utcnow

__all__ = ["close_episode", "list_episodes", "open_episode"]


def open_episode(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    client_id: str,
    started_on: date,
    *,
    now: datetime | None = None,
) -> Episode:
    """Start a new episode (`ConflictError` while another one is open)."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Episode:
        access = note.granted(client_access(uow, actor, client_id))
        access.require_therapist("open episodes")
        c = Checks("episode")
        day = c.day("started_on", started_on, today=at.date())
        c.done()
        assert day is not None
        if any(e.ended_on is None for e in uow.episodes.for_client(client_id)):
            raise ConflictError("the client has an open episode; close it first")
        episode = Episode(new_id(), access.client.clinic_id, client_id, day)
        note.object_id = episode.id
        return uow.episodes.add(episode)

    return audited(uow_factory, actor, "create", "episode", op, client_id=client_id)


def close_episode(
    uow_factory: UnitOfWorkFactory,
    actor: Actor,
    episode_id: str,
    ended_on: date,
    reason: str,
    *,
    now: datetime | None = None,
) -> Episode:
    """End an episode on ``ended_on`` with the reason (e.g. "completed", "dropped out")."""
    at = now or utcnow()

    def op(uow: UnitOfWork, note: AuditNote) -> Episode:
        episode = uow.episodes.get(episode_id)
        if episode is None:
            raise not_found("episode")
        access = note.granted(client_access(uow, actor, episode.client_id))
        access.require_therapist("close episodes")
        if episode.ended_on is not None:
            raise ConflictError("the episode is closed already")
        c = Checks("episode")
        day = c.day("ended_on", ended_on, today=at.date())
        why = c.text("reason", reason, required=True, max_len=200)
        if day is not None and day < episode.started_on:
            c.fail("ended_on", "before_start", "cannot be before the start of the episode")
        c.done()
        return uow.episodes.update(replace(episode, ended_on=day, end_reason=why))

    return audited(uow_factory, actor, "update", "episode", op, object_id=episode_id)


def list_episodes(
    uow_factory: UnitOfWorkFactory, actor: Actor, client_id: str
) -> tuple[Episode, ...]:
    """The client's episodes, oldest first."""

    def op(uow: UnitOfWork, note: AuditNote) -> tuple[Episode, ...]:
        note.granted(client_access(uow, actor, client_id))
        return tuple(uow.episodes.for_client(client_id))

    return audited(uow_factory, actor, "read", "episode", op, client_id=client_id)
