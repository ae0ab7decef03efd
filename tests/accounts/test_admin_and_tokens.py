from __future__ import annotations

from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import ApiToken, User
from accounts.tokens import authenticate_api_token, create_api_token, revoke_api_token
from organisations import provider_settings
from organisations.personal import personal_organisation_of
from projects.models import Project, Status
from tests.conftest import PASSWORD


def test_non_staff_user_is_refused_by_the_admin(alice_client: Client) -> None:
    response = alice_client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert alice_client.get("/admin/projects/project/").status_code == 302


def test_non_staff_cannot_log_into_the_admin(client: Client, alice: User) -> None:
    response = client.post("/admin/login/", {"username": alice.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "staff account" in response.content.decode()


def test_operator_sees_projects_and_users_without_secrets(
    client: Client, operator: User, alice_project: Project
) -> None:
    provider_settings.set_api_key(
        personal_organisation_of(alice_project.owner),
        alice_project.owner,
        "openai",
        "sk-very-secret-openai",
    )
    client.force_login(operator)
    listing = client.get("/admin/projects/project/?q=Sales").content.decode()
    assert "Sales dashboard" in listing
    user_page = client.get(
        f"/admin/accounts/user/{alice_project.owner.pk}/change/"
    ).content.decode()
    # Keys are the organisation's now (not on the user's page); the value is nowhere.
    assert "sk-very-secret-openai" not in user_page


def test_api_token_is_shown_once_and_stored_hashed(alice_client: Client, alice: User) -> None:
    first = alice_client.post("/settings/tokens/", {"name": "CI"}).content.decode()
    token = ApiToken.objects.get(user=alice)
    raw = first.split("data-new-token>")[1].split("<")[0]
    assert raw.startswith("st_")
    assert token.token_hash != raw and raw not in token.token_hash
    assert raw not in alice_client.get("/settings/").content.decode()  # never again
    assert authenticate_api_token(raw) == token


def test_revoked_token_stops_working_and_records_last_use(alice: User) -> None:
    token, raw = create_api_token(alice, "script")
    assert authenticate_api_token(raw) is not None
    token.refresh_from_db()
    assert token.last_used_at is not None
    revoke_api_token(token)
    assert authenticate_api_token(raw) is None


def test_user_cannot_revoke_someone_elses_token(bob_client: Client, alice: User) -> None:
    token, _ = create_api_token(alice, "alice's")
    assert bob_client.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.is_active


def test_new_api_token_is_in_no_session_row(alice_client: Client, alice: User) -> None:
    response = alice_client.post("/settings/tokens/", {"name": "CI"})
    raw = response.content.decode().split("data-new-token>")[1].split("<")[0]
    assert "no-store" in response["Cache-Control"]
    assert Session.objects.exists()
    for session in Session.objects.all():
        assert raw not in session.session_data
        assert raw not in str(session.get_decoded())


def test_an_operator_cannot_delete_a_person_whose_projects_would_go_with_them(
    client: Client, operator: User, alice_project: Project, bob: User
) -> None:
    """Deleting the person would take their projects' rows (a team's shared ones too) and
    leave their Sprites running with nobody to destroy them: the admin names the projects
    instead; a person whose projects are all destroyed is deleted as before."""
    client.force_login(operator)
    alice = alice_project.owner
    page = client.get(f"/admin/accounts/user/{alice.pk}/delete/").content.decode()
    assert "protected" in page and "Sales dashboard" in page
    refused = client.post(f"/admin/accounts/user/{alice.pk}/delete/", {"post": "yes"})
    assert refused.status_code == 200
    assert User.objects.filter(pk=alice.pk).exists()
    assert Project.objects.filter(pk=alice_project.pk).exists()

    # Destroyed (no Sprite left): the person can go, and the row with them.
    Project.objects.create(
        owner=bob, name="Old", status=Status.DESTROYED, sprite_name="starter-gone"
    )
    deleted = client.post(f"/admin/accounts/user/{bob.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not User.objects.filter(pk=bob.pk).exists()
    assert not Project.objects.filter(name="Old").exists()
