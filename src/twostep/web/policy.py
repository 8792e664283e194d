"""One policy table for every route: who may call it (function-level authorisation).

Every route of the app has a ``name`` and an entry here; a test enumerates
``app.routes`` and fails for any route without one, so no endpoint ships
without an authorisation decision. `authorize` (a dependency on every router)
looks the route up and refuses callers without a listed role — and fails
closed for a route missing from the table. Object-level checks (which client)
are the services' (`twostep.services.access`): a route allowed for
therapists still only reaches their own caseload.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from twostep.config import staff_mfa_required
from twostep.domain.records import Role
from twostep.web.problems import ProblemError
from twostep.web.second_factor import needs_enrolment
from twostep.web.sessions import SignedIn, load_session
from twostep.web.state import reader, state_of

C, T, A, R = Role.CLIENT, Role.THERAPIST, Role.ADMIN, Role.RESEARCHER


@dataclass(frozen=True)
class RoutePolicy:
    """``roles`` may call the route; ``public`` routes need no session; ``clinical`` ones
    return or change clinical data (they are audited by the services they call)."""

    roles: frozenset[Role]
    description: str
    clinical: bool = True
    public: bool = False


def _p(*roles: Role, what: str, clinical: bool = True) -> RoutePolicy:
    return RoutePolicy(frozenset(roles), what, clinical)


def _public(what: str) -> RoutePolicy:
    return RoutePolicy(frozenset(), what, clinical=False, public=True)


#: route name -> policy. Keep sorted by area; every route in the app must appear.
POLICY: dict[str, RoutePolicy] = {}


def register(name: str, policy: RoutePolicy) -> str:
    """Add a route's policy (called next to the route); returns the name for ``name=``."""
    if name in POLICY and POLICY[name] != policy:
        raise RuntimeError(f"route {name!r} has two policies")
    POLICY[name] = policy
    return name


def public(name: str, what: str) -> str:
    return register(name, _public(what))


def allow(name: str, *roles: Role, what: str, clinical: bool = True) -> str:
    if not roles:
        raise RuntimeError(f"route {name!r}: name at least one role (or make it public)")
    return register(name, _p(*roles, what=what, clinical=clinical))


def route_name(request: Request) -> str | None:
    route = request.scope.get("route")
    return getattr(route, "name", None)


def authorize(request: Request) -> SignedIn | None:
    """Dependency: the caller's session when the route's policy lets them in."""
    name = route_name(request)
    policy = POLICY.get(name or "")
    if policy is None:
        raise ProblemError("forbidden", "this route has no authorisation policy")  # fail closed
    if policy.public:
        return load_session(request)
    signed = load_session(request)
    if signed is None:
        raise ProblemError("unauthenticated")
    if not signed.user.roles & policy.roles:
        raise ProblemError("forbidden")
    if name not in MFA_ENROLMENT_ROUTES:
        _require_second_factor(request, signed)
    return signed


#: What staff who must still enrol a second factor may reach (reliability-security.md AN-05):
#: the enrolment page and API, their own account, and sign-out.
MFA_ENROLMENT_ROUTES = frozenset(
    {
        "page.account.mfa",
        "page.account.mfa.start",
        "page.account.mfa.confirm",
        "page.account.mfa.disable",
        "page.account.password",
        "page.account.password.submit",
        "page.logout",
        "api.me",
        "api.me.mfa",
        "api.me.mfa.start",
        "api.me.mfa.confirm",
        "api.me.mfa.disable",
        "api.me.password",
        "api.session.delete",
    }
)


def _require_second_factor(request: Request, signed: SignedIn) -> None:
    """Refuse staff without a confirmed second factor where the deployment requires one."""
    if not signed.is_staff:
        return
    state = state_of(request)
    if not staff_mfa_required(state.settings):
        return
    known = getattr(request.state, "mfa_enrolled", None)
    if known is None:
        with reader(state)() as uow:
            enrolment = uow.mfa.get(signed.user.id)
        known = not needs_enrolment(state.settings, signed.user, enrolment)
        request.state.mfa_enrolled = known
    if not known:
        raise ProblemError(
            "mfa-enrolment-required",
            "set up your authenticator app at /account/mfa before anything else",
        )


def signed_in(request: Request) -> SignedIn:
    """The session of an already authorised (non-public) route."""
    found = authorize(request)
    if found is None:
        raise ProblemError("unauthenticated")
    return found
