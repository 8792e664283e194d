"""Rendering pages: the layout's context (user, navigation, CSRF token) added to every template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse

from twostep.domain.records import Role
from twostep.web.sessions import SignedIn, csrf_token_for, load_session
from twostep.web.state import state_of


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str


def navigation(signed: SignedIn | None) -> list[NavItem]:
    """The menu for the user's roles (a person may be a therapist and an admin)."""
    if signed is None:
        return []
    roles = signed.user.roles
    items: list[NavItem] = []
    if Role.CLIENT in roles:
        items += [
            NavItem("/me", "Home"),
            NavItem("/me/checkin", "Check-in"),
            NavItem("/me/progress", "My progress"),
            NavItem("/me/growing", "How I'm growing"),
            NavItem("/me/goals", "Goals"),
            NavItem("/me/journal", "Journal"),
            NavItem("/me/skills", "Coping skills"),
            NavItem("/me/next-session", "For my next session"),
            NavItem("/me/privacy", "My data & privacy"),
        ]
    if Role.THERAPIST in roles:
        items += [NavItem("/caseload", "Caseload")]
    if roles & {Role.THERAPIST, Role.RESEARCHER, Role.ADMIN}:
        items += [NavItem("/service", "Service outcomes")]
    if Role.ADMIN in roles:
        items += [NavItem("/admin", "Admin")]
    return items


def render(
    request: Request,
    template: str,
    context: Mapping[str, object] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` inside the layout, for the signed-in user (or signed out)."""
    signed = load_session(request)
    ctx: dict[str, object] = {
        "signed": signed,
        "user": signed.user if signed else None,
        "nav": navigation(signed),
        "csrf_token": csrf_token_for(request) if signed else "",
        "current_path": request.url.path,
    }
    ctx.update(context or {})
    response: HTMLResponse = state_of(request).templates.TemplateResponse(
        request, template, ctx, status_code=status_code
    )
    return response
