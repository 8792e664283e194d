"""Pages: the clinic's administration (``/admin``; admins only, never clinical content).

One page with four sections — accounts, new account, assignments, clinic
settings — and a form per change. Every form posts with the CSRF token; a
successful change redirects back to ``/admin`` (post/redirect/get) with a
fixed confirmation message, except where twostep generated a password: that
page is rendered directly so that the password is shown this once and never
again (it is not in any URL or log). A refused change re-renders the page
with the broken rule next to the form (422) or the conflict (409).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, TypeVar

from fastapi import Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from twostep.errors import ConflictError, StaleVersionError, ValidationError
from twostep.services.assignments import assign_therapist, end_assignment
from twostep.services.clinic_admin import (
    clinic_settings,
    create_account,
    list_accounts,
    list_assignments,
    new_account_roles,
    reset_password,
    update_account,
    update_clinic_settings,
)
from twostep.web.api.admin import offerable
from twostep.web.deps import actor_of
from twostep.web.etag import CHANGED_ELSEWHERE, form_version
from twostep.web.pages import router
from twostep.web.policy import A, allow
from twostep.web.render import render
from twostep.web.state import state_of

T_ = TypeVar("T_")
ID_PATTERN = r"^[0-9a-fA-F-]{1,64}$"
PathId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]

#: Confirmation messages by key (the redirect carries the key only, never a value).
DONE: Mapping[str, str] = {
    "created": "The account was created.",
    "roles": "The roles were changed.",
    "deactivated": "The account was deactivated; its sessions have ended.",
    "reactivated": "The account was reactivated.",
    "password": "The new password was set; the account's sessions have ended.",
    "assigned": "The therapist was assigned.",
    "ended": "The assignment was ended; the therapist no longer sees this client.",
    "clinic": "The clinic's settings were saved.",
}


def _what(text: str) -> str:
    return f"{text} (admin; no clinical content)"


def _page(
    request: Request,
    *,
    status_code: int = 200,
    done: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    once: Mapping[str, str] | None = None,
    form: Mapping[str, object] | None = None,
) -> HTMLResponse:
    state = state_of(request)
    actor = actor_of(request)
    accounts = list_accounts(state.uow_factory, actor)
    assignments = list_assignments(state.uow_factory, actor, now=state.clock())
    settings = clinic_settings(state.uow_factory, actor)
    therapists = [a for a in accounts if "therapist" in a.roles and a.is_active]
    clients = [a for a in accounts if "client" in a.roles and a.is_active]
    offered = offerable(state.catalogue)
    ctx: dict[str, object] = {
        "accounts": accounts,
        "assignments": assignments,
        "settings": settings,
        "therapists": therapists,
        "clients": clients,
        "roles": new_account_roles(),
        "catalogue": sorted(
            ((i.id, i.name) for i in state.catalogue if i.id in offered),
            key=lambda x: x[1].casefold(),
        ),
        "done": DONE.get(done or ""),
        "errors": errors or {},
        "once": once,
        "form": form or {},
        "me": actor.user_id,
    }
    return render(request, "admin/index.html", ctx, status_code=status_code)


def _again(key: str) -> RedirectResponse:
    return RedirectResponse(f"/admin?done={key}", status_code=303)


def _attempt(
    request: Request,
    section: str,
    action: Callable[[], T_],
    form: Mapping[str, object] | None = None,
) -> T_ | HTMLResponse:
    """Run a change; on a broken rule or a conflict, the page with the message in ``section``."""
    try:
        return action()
    except StaleVersionError:
        return _page(request, status_code=409, errors={section: [CHANGED_ELSEWHERE]}, form=form)
    except ValidationError as exc:
        messages = [f"{p.where}: {p.message}" for p in exc.problems]
        return _page(request, status_code=422, errors={section: messages}, form=form)
    except ConflictError as exc:
        return _page(request, status_code=409, errors={section: [str(exc)]}, form=form)


@router.get(
    "/admin",
    name=allow(
        "page.admin", A, what=_what("accounts, assignments, clinic settings"), clinical=False
    ),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def admin_page(request: Request, done: str | None = Query(None, max_length=20)) -> Response:
    return _page(request, done=done)


@router.post(
    "/admin/users",
    name=allow("page.admin.users.create", A, what=_what("create an account"), clinical=False),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def create_user(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    state = state_of(request)
    form = {"email": email, "display_name": display_name, "roles": roles}
    made = _attempt(
        request,
        "create",
        lambda: create_account(
            state.uow_factory,
            actor_of(request),
            email=email,
            display_name=display_name,
            roles=roles,
            password=password or None,
            hasher=state.hasher,
            now=state.clock(),
        ),
        form,
    )
    if isinstance(made, HTMLResponse):
        return made
    if made.generated_password:
        once = {"who": made.account.email, "password": made.generated_password}
        return _page(request, status_code=201, done="created", once=once)
    return _again("created")


@router.post(
    "/admin/users/{user_id}/roles",
    name=allow(
        "page.admin.users.roles", A, what=_what("change an account's roles"), clinical=False
    ),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def change_roles(
    request: Request,
    user_id: PathId,
    roles: Annotated[list[str], Form()] = [],  # noqa: B006
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    state = state_of(request)
    out = _attempt(
        request,
        f"user-{user_id}",
        lambda: update_account(
            state.uow_factory,
            actor_of(request),
            user_id,
            roles=roles,
            now=state.clock(),
            expected_version=form_version(version),
        ),
    )
    return out if isinstance(out, HTMLResponse) else _again("roles")


@router.post(
    "/admin/users/{user_id}/active",
    name=allow(
        "page.admin.users.active",
        A,
        what=_what("deactivate or reactivate an account"),
        clinical=False,
    ),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def change_active(
    request: Request,
    user_id: PathId,
    active: Annotated[str, Form(pattern="^(yes|no)$")],
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    state = state_of(request)
    want = active == "yes"
    out = _attempt(
        request,
        f"user-{user_id}",
        lambda: update_account(
            state.uow_factory,
            actor_of(request),
            user_id,
            is_active=want,
            now=state.clock(),
            expected_version=form_version(version),
        ),
    )
    return (
        out if isinstance(out, HTMLResponse) else _again("reactivated" if want else "deactivated")
    )


@router.post(
    "/admin/users/{user_id}/password",
    name=allow(
        "page.admin.users.password", A, what=_what("set or generate a new password"), clinical=False
    ),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def change_password(
    request: Request,
    user_id: PathId,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    state = state_of(request)
    out = _attempt(
        request,
        f"user-{user_id}",
        lambda: reset_password(
            state.uow_factory,
            actor_of(request),
            user_id,
            password=password or None,
            hasher=state.hasher,
            now=state.clock(),
        ),
    )
    if isinstance(out, HTMLResponse):
        return out
    if out:
        who = next(
            (
                a.email
                for a in list_accounts(state.uow_factory, actor_of(request))
                if a.id == user_id
            ),
            "",
        )
        return _page(request, done="password", once={"who": who, "password": out})
    return _again("password")


@router.post(
    "/admin/assignments",
    name=allow(
        "page.admin.assignments.create", A, what=_what("assign a therapist"), clinical=False
    ),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def create_assignment(
    request: Request,
    client_id: Annotated[str, Form(max_length=64)] = "",
    therapist_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    state = state_of(request)
    out = _attempt(
        request,
        "assign",
        lambda: assign_therapist(
            state.uow_factory, actor_of(request), client_id, therapist_id, now=state.clock()
        ),
    )
    return out if isinstance(out, HTMLResponse) else _again("assigned")


@router.post(
    "/admin/assignments/{assignment_id}/end",
    name=allow("page.admin.assignments.end", A, what=_what("end an assignment"), clinical=False),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def end_assignment_form(request: Request, assignment_id: PathId) -> Response:
    state = state_of(request)
    out = _attempt(
        request,
        "assignments",
        lambda: end_assignment(
            state.uow_factory, actor_of(request), assignment_id, now=state.clock()
        ),
    )
    return out if isinstance(out, HTMLResponse) else _again("ended")


@router.post(
    "/admin/clinic",
    name=allow(
        "page.admin.clinic.update", A, what=_what("change the clinic's settings"), clinical=False
    ),
    response_class=HTMLResponse,
    include_in_schema=False,  # a page, not part of the JSON API
)
def update_clinic(
    request: Request,
    crisis_text: Annotated[str, Form(max_length=4000)] = "",
    delay_notice: Annotated[str, Form(max_length=2000)] = "",
    instruments: Annotated[list[str], Form()] = [],  # noqa: B006
    checkin_every_days: Annotated[str, Form(max_length=4)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    state = state_of(request)
    every: int | None
    try:
        every = int(checkin_every_days)
    except ValueError:
        every = -1  # refused by the service's range check, next to the form
    out = _attempt(
        request,
        "clinic",
        lambda: update_clinic_settings(
            state.uow_factory,
            actor_of(request),
            known_instruments=offerable(state.catalogue),
            crisis_text=crisis_text,
            delay_notice=delay_notice,
            instruments=instruments,
            checkin_every_days=every,
            expected_version=form_version(version),
        ),
    )
    return out if isinstance(out, HTMLResponse) else _again("clinic")
