"""Values shared by the end-to-end tests and their fixtures (tests/e2e/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page

from twostep.cli.demo import DemoFiles

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Site:
    """The running demo: its address, the demo files and who is who."""

    base_url: str
    files: DemoFiles

    def login(self, role: str, index: int = 0) -> str:
        """The e-mail of the ``index``-th demo login with ``role``."""
        return [email for r, email, _ in self.files.logins if r == role][index]

    def clients_of(self, therapist_email: str) -> list[str]:
        """E-mails of the therapist's clients in the demo clinic (in the demo's order)."""
        demo = self.files.clinic
        by_id = {u.id: u for u in demo.users}
        therapist = next(u for u in demo.users if u.email == therapist_email)
        return [
            by_id[a.client_id].email for a in demo.assignments if a.therapist_id == therapist.id
        ]

    def user_id(self, email: str) -> str:
        return next(u.id for u in self.files.clinic.users if u.email == email)


@dataclass
class Session:
    """One signed-in browser context: its page and the console errors it produced."""

    page: Page
    errors: list[str]
