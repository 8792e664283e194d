"""API v1: the clinic's administration (admins only; never clinical content).

Accounts (``/admin/users``), therapist↔client assignments
(``/admin/assignments``) and the clinic's settings (``/admin/clinic``). The
services (`services.clinic_admin`, `services.assignments`) check the admin
role against the stored account, answer 404 for ids of another clinic, and
audit every call. A generated password is returned once, in the response
that created it, and never again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Path, Query, Request, Response
from pydantic import Field

from twostep.errors import NotFoundError
from twostep.instruments.registry import Catalogue
from twostep.services.assignments import assign_therapist, end_assignment
from twostep.services.clinic_admin import (
    AccountView,
    AssignmentView,
    ClinicSettings,
    clinic_settings,
    create_account,
    list_accounts,
    list_assignments,
    reset_password,
    update_account,
    update_clinic_settings,
)
from twostep.web.api import router
from twostep.web.api.schemas import PROBLEM_RESPONSES, OutModel, StrictModel
from twostep.web.deps import actor_of
from twostep.web.etag import (
    READ_RESPONSES,
    VERSIONED_RESPONSES,
    IfMatch,
    etag,
    expected_version,
    with_etag,
)
from twostep.web.idempotency import idempotent
from twostep.web.policy import A, allow
from twostep.web.state import state_of

RoleName = Literal["client", "therapist", "admin", "researcher"]
ID_PATTERN = r"^[0-9a-fA-F-]{1,64}$"
Id = Field(min_length=1, max_length=64, pattern=ID_PATTERN)


class AccountOut(OutModel):
    id: str
    email: str
    display_name: str
    roles: list[RoleName]
    is_active: bool
    created_at: datetime | None
    etag: str = Field(description='The ETag to send in If-Match to change it, e.g. "v3"')


class AccountCreated(OutModel):
    account: AccountOut
    generated_password: str | None = Field(
        None, description="set when twostep generated the password: shown this once only"
    )


class AccountChanged(OutModel):
    account: AccountOut
    generated_password: str | None = None


class AccountIn(StrictModel):
    email: str = Field(min_length=3, max_length=320)
    display_name: str = Field(min_length=1, max_length=200)
    roles: list[RoleName] = Field(min_length=1, max_length=4)
    password: str | None = Field(
        None, min_length=1, max_length=1024, description="omit to have one generated"
    )


class AccountPatch(StrictModel):
    display_name: str | None = Field(None, min_length=1, max_length=200)
    roles: list[RoleName] | None = Field(None, min_length=1, max_length=4)
    is_active: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=1024)
    generate_password: bool = False


class AssignmentOut(OutModel):
    id: str
    therapist_id: str
    therapist_name: str
    client_id: str
    client_name: str
    started_at: datetime
    ended_at: datetime | None


class AssignmentCreated(OutModel):
    id: str
    therapist_id: str
    client_id: str
    started_at: datetime
    ended_at: datetime | None


class AssignmentIn(StrictModel):
    client_id: str = Id
    therapist_id: str = Id


class ClinicOut(OutModel):
    id: str
    name: str
    crisis_text: str
    delay_notice: str
    instruments: list[str]
    checkin_every_days: int
    available_instruments: list[str]
    etag: str = Field(description='The ETag to send in If-Match to change it, e.g. "v3"')


class ClinicPatch(StrictModel):
    crisis_text: str | None = Field(None, max_length=2000)
    delay_notice: str | None = Field(None, max_length=1000)
    instruments: list[str] | None = Field(None, max_length=30)
    checkin_every_days: int | None = Field(None, ge=1, le=90)


def offerable(catalogue: Catalogue) -> frozenset[str]:
    """Instruments a clinic may offer for check-ins: those whose questions may be shown."""
    return frozenset(i.id for i in catalogue if i.shows_item_text)


def account_out(a: AccountView) -> AccountOut:
    return AccountOut(
        id=a.id,
        email=a.email,
        display_name=a.display_name,
        roles=list(a.roles),
        is_active=a.is_active,
        created_at=a.created_at,
        etag=etag(a.version),
    )


def assignment_out(a: AssignmentView) -> AssignmentOut:
    return AssignmentOut(**a.__dict__)


def clinic_out(request: Request, c: ClinicSettings) -> ClinicOut:
    return ClinicOut(
        id=c.id,
        name=c.name,
        crisis_text=c.crisis_text,
        delay_notice=c.delay_notice,
        instruments=list(c.instruments),
        checkin_every_days=c.checkin_every_days,
        available_instruments=sorted(offerable(state_of(request).catalogue)),
        etag=etag(c.version),
    )


def _what(text: str) -> str:
    return f"{text} (admin; no clinical content)"


@router.get(
    "/admin/users",
    name=allow("api.admin.users.list", A, what=_what("the clinic's accounts"), clinical=False),
    response_model=list[AccountOut],
    responses=PROBLEM_RESPONSES,
)
def users_list(request: Request) -> list[AccountOut]:
    rows = list_accounts(state_of(request).uow_factory, actor_of(request))
    return [account_out(a) for a in rows]


@router.post(
    "/admin/users",
    name=allow("api.admin.users.create", A, what=_what("create an account"), clinical=False),
    response_model=AccountCreated,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
def users_create(body: AccountIn, request: Request) -> AccountCreated:
    """Create an account; without ``password`` one is generated and returned this once."""
    state = state_of(request)
    made = create_account(
        state.uow_factory,
        actor_of(request),
        email=body.email,
        display_name=body.display_name,
        roles=list(body.roles),
        password=body.password,
        hasher=state.hasher,
        now=state.clock(),
    )
    return AccountCreated(
        account=account_out(made.account), generated_password=made.generated_password
    )


@router.get(
    "/admin/users/{user_id}",
    name=allow("api.admin.users.get", A, what=_what("one account (with its ETag)"), clinical=False),
    response_model=AccountOut,
    responses=READ_RESPONSES,
)
def users_get(
    request: Request, response: Response, user_id: str = Path(max_length=64, pattern=ID_PATTERN)
) -> AccountOut:
    for a in list_accounts(state_of(request).uow_factory, actor_of(request)):
        if a.id == user_id:
            with_etag(response, a.version)
            return account_out(a)
    raise NotFoundError("no account with this id")


@router.patch(
    "/admin/users/{user_id}",
    name=allow(
        "api.admin.users.update",
        A,
        what=_what("change an account's roles, name, active state or password"),
        clinical=False,
    ),
    response_model=AccountChanged,
    responses=VERSIONED_RESPONSES,
)
def users_update(
    body: AccountPatch,
    request: Request,
    response: Response,
    user_id: str = Path(max_length=64, pattern=ID_PATTERN),
    if_match: IfMatch = None,
) -> AccountChanged:
    version = expected_version(if_match)
    state = state_of(request)
    actor = actor_of(request)
    generated = None
    account = update_account(
        state.uow_factory,
        actor,
        user_id,
        roles=list(body.roles) if body.roles is not None else None,
        is_active=body.is_active,
        display_name=body.display_name,
        now=state.clock(),
        expected_version=version,
    )
    with_etag(response, account.version)
    if body.password is not None or body.generate_password:
        generated = reset_password(
            state.uow_factory,
            actor,
            user_id,
            password=body.password,
            hasher=state.hasher,
            now=state.clock(),
        )
    return AccountChanged(account=account_out(account), generated_password=generated)


@router.get(
    "/admin/assignments",
    name=allow(
        "api.admin.assignments.list",
        A,
        what=_what("therapist-client assignments"),
        clinical=False,
    ),
    response_model=list[AssignmentOut],
    responses=PROBLEM_RESPONSES,
)
def assignments_list(request: Request, include_ended: bool = Query(False)) -> list[AssignmentOut]:
    state = state_of(request)
    rows = list_assignments(
        state.uow_factory, actor_of(request), include_ended=include_ended, now=state.clock()
    )
    return [assignment_out(a) for a in rows]


@router.post(
    "/admin/assignments",
    name=allow("api.admin.assignments.create", A, what=_what("assign a therapist"), clinical=False),
    response_model=AssignmentCreated,
    responses=PROBLEM_RESPONSES,
    status_code=201,
)
@idempotent
def assignments_create(body: AssignmentIn, request: Request) -> AssignmentCreated:
    state = state_of(request)
    actor = actor_of(request)
    a = assign_therapist(
        state.uow_factory, actor, body.client_id, body.therapist_id, now=state.clock()
    )
    return AssignmentCreated(
        id=a.id,
        therapist_id=a.therapist_id,
        client_id=a.client_id,
        started_at=a.started_at,
        ended_at=a.ended_at,
    )


@router.delete(
    "/admin/assignments/{assignment_id}",
    name=allow("api.admin.assignments.end", A, what=_what("end an assignment"), clinical=False),
    status_code=204,
    responses=PROBLEM_RESPONSES,
)
def assignments_end(
    request: Request,
    assignment_id: str = Path(max_length=64, pattern=ID_PATTERN),
) -> Response:
    """End the assignment now (kept in the history; the therapist loses access at once)."""
    state = state_of(request)
    end_assignment(state.uow_factory, actor_of(request), assignment_id, now=state.clock())
    return Response(status_code=204)


@router.get(
    "/admin/clinic",
    name=allow("api.admin.clinic.get", A, what=_what("the clinic's settings"), clinical=False),
    response_model=ClinicOut,
    responses=READ_RESPONSES,
)
def clinic_get(request: Request, response: Response) -> ClinicOut:
    settings = clinic_settings(state_of(request).uow_factory, actor_of(request))
    with_etag(response, settings.version)
    return clinic_out(request, settings)


@router.patch(
    "/admin/clinic",
    name=allow(
        "api.admin.clinic.update",
        A,
        what=_what("change crisis text, delay notice, instruments, check-in interval"),
        clinical=False,
    ),
    response_model=ClinicOut,
    responses=VERSIONED_RESPONSES,
)
def clinic_update(
    body: ClinicPatch, request: Request, response: Response, if_match: IfMatch = None
) -> ClinicOut:
    version = expected_version(if_match)
    state = state_of(request)
    out = update_clinic_settings(
        state.uow_factory,
        actor_of(request),
        known_instruments=offerable(state.catalogue),
        crisis_text=body.crisis_text,
        delay_notice=body.delay_notice,
        instruments=body.instruments,
        checkin_every_days=body.checkin_every_days,
        expected_version=version,
    )
    with_etag(response, out.version)
    return clinic_out(request, out)
