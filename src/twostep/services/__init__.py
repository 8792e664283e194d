"""Use cases of twostep: functions over the ports, with no HTTP and no SQL.

Every use case takes a `UnitOfWorkFactory` and an `Actor`, checks access with
the one policy in `access`, runs in one transaction, records exactly one audit
event (`audit`), and returns frozen result objects. Modules:

``access``           who may reach which client's data; sharing choices
``audit``            one audit event per call, failing closed; the client's access log
``checkin``          record / correct a check-in: score, store, kernel, alerts
``timeline``         every stream on one time axis
``triage``           the therapist's caseload ranked by attention reasons
``session_prep``     what happened since the last session; support suggestions
``goals``            SMART goals, steps, reviews, GAS T-scores, reviews due
``journal``          journal, reflections, stressors, self-care, skills, thought records,
                     support network, session topics, sharing choices
``setback_context``  the 14 days before a change; the service's setback statistic
``progress``         "My progress" and "How I'm growing"
``alliance_followup``  rupture and repair on SRS / WAI-SR
``alerts``           acknowledge / snooze / resolve
``drafts``           check-ins started but not submitted; a risk answer alerts at once
``crisis_resources`` the clinic's crisis text and delay notice for the client
``client_card``      a client's name and sharing choices for the therapist's pages
``outcomes``         the service dashboard: NHS TT-style rates, Wilson intervals, suppression
``clinic_admin``     users, roles, assignments, clinic settings (no clinical content)
``records_io``       import and export of scores and FHIR resources
``process_signs``    the between-session numbers behind Groundhog Day, for many clients
``episodes``, ``appointments``, ``assignments``
"""

from twostep.services.access import Actor

__all__ = ["Actor"]
