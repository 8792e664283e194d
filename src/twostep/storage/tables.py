"""Every table of twostep's records database, on one `metadata`.

The tables are defined in three modules by what they hold —
`care_tables` (people, episodes, questionnaires, alerts), `client_tables`
(what the client keeps between sessions) and `system_tables` (audit trail,
import batches, idempotency keys) — and collected here, with the triggers.
The domain records (`twostep.domain.records`) know nothing of them; the
mapping lives in `twostep.storage.mapping`.
"""

from __future__ import annotations

from twostep.storage.care_tables import (
    administrations,
    alerts,
    appointments,
    assignments,
    clinics,
    episodes,
    user_roles,
    users,
)
from twostep.storage.client_tables import (
    checkin_drafts,
    goal_reviews,
    goal_steps,
    goals,
    journal_entries,
    self_care_entries,
    session_topics,
    setback_reflections,
    sharing_preferences,
    skill_practices,
    stressors,
    support_contacts,
    supporters,
    thought_records,
)
from twostep.storage.schema import metadata
from twostep.storage.system_tables import (
    audit_log,
    client_activity,
    idempotency_keys,
    import_batches,
    login_attempts,
    user_mfa,
    web_sessions,
)
from twostep.storage.triggers import install_triggers

__all__ = [
    "administrations",
    "alerts",
    "appointments",
    "assignments",
    "audit_log",
    "checkin_drafts",
    "client_activity",
    "clinics",
    "episodes",
    "goal_reviews",
    "goal_steps",
    "goals",
    "idempotency_keys",
    "import_batches",
    "journal_entries",
    "login_attempts",
    "metadata",
    "self_care_entries",
    "session_topics",
    "setback_reflections",
    "sharing_preferences",
    "skill_practices",
    "stressors",
    "support_contacts",
    "supporters",
    "thought_records",
    "user_mfa",
    "user_roles",
    "users",
    "web_sessions",
]

install_triggers(metadata)
