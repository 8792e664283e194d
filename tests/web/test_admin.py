"""The admin area: accounts, roles, passwords, assignments, clinic settings (page and API)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from service_world import World

from twostep.domain.records import new_id

#: Changes need If-Match (IN-02); these tests are not about concurrency.
ANY_VERSION = {"If-Match": "*"}

Client = Callable[[str], TestClient]
NEW_PW = "a long and unusual passphrase"


def csrf(c: TestClient) -> dict[str, str]:
    return {"csrf_token": c.headers["X-CSRF-Token"]}


# ---------------------------------------------------------------------- API: accounts


def test_list_users_has_no_clinical_content_and_no_other_clinic(
    web_world: World, as_user: Client
) -> None:
    web_world.series("client_a1", [18, 16, 14])  # scores exist, but never appear here
    res = as_user("admin").get("/api/v1/admin/users")
    assert res.status_code == 200
    rows = res.json()
    assert {r["email"] for r in rows} >= {web_world.users["client_a1"].email}
    assert web_world.users["client_x"].email not in res.text
    assert set(rows[0]) == {
        "id",
        "email",
        "display_name",
        "roles",
        "is_active",
        "created_at",
        "etag",
    }
    for word in ("phq9", "score", "password", "journal"):
        assert word not in res.text


def test_create_user_with_generated_password_shown_once(
    app: object, web_world: World, as_user: Client
) -> None:
    admin = as_user("admin")
    res = admin.post(
        "/api/v1/admin/users",
        json={"email": "new@one.example", "display_name": "New T", "roles": ["therapist"]},
    )
    assert res.status_code == 201, res.text
    body = res.json()
    pw = body["generated_password"]
    assert pw
    assert body["account"]["roles"] == ["therapist"]
    # the new user can sign in with it; it is never shown again
    fresh = TestClient(app, base_url="https://testserver")  # type: ignore[arg-type]
    login = fresh.post("/api/v1/session", json={"email": "new@one.example", "password": pw})
    assert login.status_code == 201
    assert pw not in admin.get("/api/v1/admin/users").text
    assert pw not in admin.get("/admin").text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {
                "email": "a@one.example",
                "display_name": "A",
                "roles": ["therapist"],
                "password": "short",
            },
            422,
        ),
        (
            {
                "email": "a@one.example",
                "display_name": "A",
                "roles": ["therapist"],
                "password": "qwerty123456",
            },
            422,
        ),
        ({"email": "a@one.example", "display_name": "A", "roles": ["root"]}, 422),
        ({"email": "a@one.example", "display_name": "A", "roles": []}, 422),
        ({"email": "a@one.example", "display_name": "A", "roles": ["client", "admin"]}, 422),
        (
            {
                "email": "a@one.example",
                "display_name": "A",
                "roles": ["therapist"],
                "clinic_id": "x",
            },
            422,
        ),
        ({"email": 3, "display_name": "A", "roles": ["therapist"]}, 422),
        ({"email": "admin@one.example", "display_name": "A", "roles": ["therapist"]}, 409),
    ],
)
def test_create_user_refusals(as_user: Client, body: dict[str, object], status: int) -> None:
    res = as_user("admin").post("/api/v1/admin/users", json=body)
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json")


def test_patch_roles_deactivate_and_rules(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    ther_b = as_user("ther_b")
    uid = web_world.id("ther_b")
    res = admin.patch(
        f"/api/v1/admin/users/{uid}", headers=ANY_VERSION, json={"roles": ["therapist", "admin"]}
    )
    assert res.status_code == 200
    assert res.json()["account"]["roles"] == ["admin", "therapist"]
    res = admin.patch(f"/api/v1/admin/users/{uid}", headers=ANY_VERSION, json={"is_active": False})
    assert res.status_code == 200
    assert ther_b.get("/api/v1/me").status_code == 401  # sessions ended at once
    # self-deactivation and wrong types are refused
    me = web_world.id("admin")
    assert (
        admin.patch(
            f"/api/v1/admin/users/{me}", headers=ANY_VERSION, json={"is_active": False}
        ).status_code
        == 409
    )
    assert (
        admin.patch(
            f"/api/v1/admin/users/{uid}", headers=ANY_VERSION, json={"is_active": "no"}
        ).status_code
        == 422
    )
    assert (
        admin.patch(
            f"/api/v1/admin/users/{uid}", headers=ANY_VERSION, json={"roles": "admin"}
        ).status_code
        == 422
    )
    # another clinic's account and an unknown id: the same 404
    other = admin.patch(
        f"/api/v1/admin/users/{web_world.id('ther_x')}",
        headers=ANY_VERSION,
        json={"is_active": False},
    )
    unknown = admin.patch(
        f"/api/v1/admin/users/{new_id()}", headers=ANY_VERSION, json={"is_active": False}
    )
    assert other.status_code == unknown.status_code == 404
    assert {k: v for k, v in other.json().items() if k not in ("instance", "request_id")} == {
        k: v for k, v in unknown.json().items() if k not in ("instance", "request_id")
    }
    assert (
        admin.patch("/api/v1/admin/users/not-an-id!", headers=ANY_VERSION, json={}).status_code
        == 422
    )


def test_last_admin_cannot_lose_the_role(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    res = admin.patch(
        f"/api/v1/admin/users/{web_world.id('ther_admin')}",
        headers=ANY_VERSION,
        json={"roles": ["therapist"]},
    )
    assert res.status_code == 200
    res = admin.patch(
        f"/api/v1/admin/users/{web_world.id('admin')}",
        headers=ANY_VERSION,
        json={"roles": ["researcher"]},
    )
    assert res.status_code == 409


def test_password_reset_by_admin(app: object, web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    uid = web_world.id("ther_b")
    res = admin.patch(f"/api/v1/admin/users/{uid}", headers=ANY_VERSION, json={"password": NEW_PW})
    assert res.status_code == 200
    assert res.json()["generated_password"] is None
    fresh = TestClient(app, base_url="https://testserver")  # type: ignore[arg-type]
    email = web_world.users["ther_b"].email
    assert (
        fresh.post("/api/v1/session", json={"email": email, "password": NEW_PW}).status_code == 201
    )
    res = admin.patch(
        f"/api/v1/admin/users/{uid}", headers=ANY_VERSION, json={"generate_password": True}
    )
    assert res.json()["generated_password"]
    assert (
        admin.patch(
            f"/api/v1/admin/users/{uid}", headers=ANY_VERSION, json={"password": "short"}
        ).status_code
        == 422
    )


# ---------------------------------------------------------------- API: assignments


def test_assignments_api(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    rows = admin.get("/api/v1/admin/assignments").json()
    assert len(rows) == 4
    assert {"therapist_name", "client_name"} <= set(rows[0])
    body = {"client_id": web_world.id("client_a1"), "therapist_id": web_world.id("ther_b")}
    made = admin.post("/api/v1/admin/assignments", json=body)
    assert made.status_code == 201
    assert admin.post("/api/v1/admin/assignments", json=body).status_code == 409
    aid = made.json()["id"]
    assert admin.delete(f"/api/v1/admin/assignments/{aid}").status_code == 204
    assert admin.delete(f"/api/v1/admin/assignments/{aid}").status_code == 409
    # other clinic's ids → 404
    x = {"client_id": web_world.id("client_x"), "therapist_id": web_world.id("ther_a")}
    assert admin.post("/api/v1/admin/assignments", json=x).status_code == 404
    x_assignment = web_world.assignments["client_x"].id
    assert admin.delete(f"/api/v1/admin/assignments/{x_assignment}").status_code == 404
    assert admin.post("/api/v1/admin/assignments", json={**body, "extra": 1}).status_code == 422
    everything = admin.get("/api/v1/admin/assignments", params={"include_ended": "true"}).json()
    assert len(everything) == 5


# -------------------------------------------------------------------- API: clinic


def test_clinic_settings_api(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    got = admin.get("/api/v1/admin/clinic").json()
    assert got["crisis_text"].startswith("Samaritans")
    assert "phq9" in got["available_instruments"]
    assert "ors" not in got["available_instruments"]
    res = admin.patch(
        "/api/v1/admin/clinic",
        headers=ANY_VERSION,
        json={"instruments": ["phq9"], "checkin_every_days": 14, "delay_notice": "Soon."},
    )
    assert res.status_code == 200
    assert (res.json()["instruments"], res.json()["checkin_every_days"]) == (["phq9"], 14)
    for bad in (
        {"checkin_every_days": "14"},
        {"checkin_every_days": 0},
        {"checkin_every_days": True},
        {"instruments": ["nope"]},
        {"instruments": ["ors"]},  # licensed item text: clients could not answer it here
        {"instruments": []},
        {"crisis_text": "  "},
        {"name": "renamed"},
    ):
        r = admin.patch("/api/v1/admin/clinic", headers=ANY_VERSION, json=bad)
        assert r.status_code == 422, bad
    assert as_user("ther_x").get("/api/v1/admin/clinic").status_code == 403


@pytest.mark.parametrize("who", ["client_a1", "ther_a", "researcher"])
def test_admin_api_is_for_admins(as_user: Client, who: str) -> None:
    c = as_user(who)
    assert c.get("/api/v1/admin/users").status_code == 403
    assert c.get("/api/v1/admin/assignments").status_code == 403
    assert (
        c.patch("/api/v1/admin/clinic", headers=ANY_VERSION, json={"delay_notice": "x"}).status_code
        == 403
    )
    assert c.get("/admin").status_code == 403


def test_every_admin_change_is_audited(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    before = len(web_world.store.audit_events)
    admin.post(
        "/api/v1/admin/users",
        json={"email": "n@one.example", "display_name": "N", "roles": ["researcher"]},
    )
    admin.patch("/api/v1/admin/clinic", headers=ANY_VERSION, json={"delay_notice": "Soon."})
    kinds = [(e.action, e.object_type, e.outcome) for e in web_world.store.audit_events[before:]]
    assert ("create", "user", "ok") in kinds
    assert ("update", "clinic", "ok") in kinds
    for e in web_world.store.audit_events[before:]:
        assert "Soon" not in repr(e)


# ---------------------------------------------------------------------- the page


def test_admin_page_lists_users_and_escapes_names(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    admin.post(
        "/api/v1/admin/users",
        json={"email": "x@one.example", "display_name": "<script>x</script>", "roles": ["client"]},
    )
    page = admin.get("/admin")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "<script>x</script>" not in page.text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text
    assert web_world.users["ther_a"].email in page.text
    assert web_world.users["client_x"].email not in page.text
    for label in ("new-email", "new-name", "new-password", "crisis", "delay", "every"):
        assert f'<label for="{label}">' in page.text
    assert "<legend>Roles</legend>" in page.text
    assert 'name="csrf_token"' in page.text


def test_page_create_user_shows_generated_password_once(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    res = admin.post(
        "/admin/users",
        data={"email": "p@one.example", "display_name": "P", "roles": ["therapist"], **csrf(admin)},
    )
    assert res.status_code == 201
    shown = re.search(r"<code>([^<]+)</code>", res.text)
    assert shown
    assert shown.group(1) not in admin.get("/admin").text


def test_page_forms_change_and_refuse(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    res = admin.post(
        "/admin/users",
        data={
            "email": "q@one.example",
            "display_name": "Q",
            "roles": ["therapist"],
            "password": "short",
            **csrf(admin),
        },
    )
    assert res.status_code == 422
    assert "at least 12 characters" in res.text
    uid = web_world.id("ther_b")
    res = admin.post(
        f"/admin/users/{uid}/roles", data={"roles": ["therapist", "researcher"], **csrf(admin)}
    )
    assert res.status_code == 303
    assert res.headers["location"] == "/admin?done=roles"
    assert "The roles were changed." in admin.get(res.headers["location"]).text
    res = admin.post(f"/admin/users/{uid}/active", data={"active": "no", **csrf(admin)})
    assert res.status_code == 303
    me = web_world.id("admin")
    res = admin.post(f"/admin/users/{me}/active", data={"active": "no", **csrf(admin)})
    assert res.status_code == 409
    assert "cannot deactivate your own account" in res.text
    res = admin.post(
        "/admin/assignments",
        data={
            "client_id": web_world.id("client_b1"),
            "therapist_id": web_world.id("ther_a"),
            **csrf(admin),
        },
    )
    assert res.status_code == 303
    aid = web_world.assignments["client_a1"].id
    assert admin.post(f"/admin/assignments/{aid}/end", data=csrf(admin)).status_code == 303
    res = admin.post(
        "/admin/clinic",
        data={
            "crisis_text": "Call 111.",
            "delay_notice": "",
            "instruments": ["phq9", "gad7"],
            "checkin_every_days": "10",
            **csrf(admin),
        },
    )
    assert res.status_code == 303
    assert admin.get("/api/v1/admin/clinic").json()["checkin_every_days"] == 10
    res = admin.post(
        "/admin/clinic",
        data={
            "crisis_text": "",
            "instruments": ["phq9"],
            "checkin_every_days": "ten",
            **csrf(admin),
        },
    )
    assert res.status_code == 422


def test_page_forms_need_the_csrf_token(web_world: World, as_user: Client) -> None:
    admin = as_user("admin")
    del admin.headers["X-CSRF-Token"]
    res = admin.post(f"/admin/users/{web_world.id('ther_b')}/active", data={"active": "no"})
    assert res.status_code == 403
    assert as_user("ther_b").get("/api/v1/me").status_code == 200
