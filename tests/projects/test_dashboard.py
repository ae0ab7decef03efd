from __future__ import annotations

from django.test import Client

from accounts.models import User
from projects.models import Project, ProjectSecret, Status


def test_owner_creates_a_project_and_sees_it_listed(alice_client: Client, alice: User) -> None:
    response = alice_client.post(
        "/", {"name": "  Expense   tracker ", "description": "Track spend"}
    )
    project = Project.objects.get(owner=alice)
    assert response.status_code == 302
    assert response["Location"] == f"/p/{project.public_id}/"
    assert project.name == "Expense tracker"
    assert project.status == Status.CREATING
    assert "Expense tracker" in alice_client.get("/").content.decode()


def test_project_list_shows_only_own_projects(
    alice_client: Client, bob: User, alice_project: Project
) -> None:
    Project.objects.create(owner=bob, name="Bob's secret plan")
    page = alice_client.get("/").content.decode()
    assert "Sales dashboard" in page
    assert "Bob&#x27;s secret plan" not in page and "Bob's secret plan" not in page


def test_rename_project(alice_client: Client, alice_project: Project) -> None:
    response = alice_client.post(
        f"/p/{alice_project.public_id}/rename/", {"name": "Revenue board", "description": "new"}
    )
    assert response.status_code == 302
    alice_project.refresh_from_db()
    assert (alice_project.name, alice_project.description) == ("Revenue board", "new")


def test_delete_asks_for_confirmation_then_destroys(
    alice_client: Client, alice_project: Project
) -> None:
    url = f"/p/{alice_project.public_id}/delete/"
    assert "cannot be undone" in alice_client.get(url).content.decode()
    wrong = alice_client.post(url, {"confirm_name": "nope"})
    assert wrong.status_code == 422
    assert "Type the project" in wrong.content.decode()
    alice_project.refresh_from_db()
    assert alice_project.status == Status.RUNNING
    assert alice_client.post(url, {"confirm_name": "Sales dashboard"}).status_code == 302
    alice_project.refresh_from_db()
    assert alice_project.status == Status.DESTROYING


def test_destroyed_projects_disappear_from_every_page(
    alice_client: Client, alice_project: Project
) -> None:
    Project.objects.filter(pk=alice_project.pk).update(status=Status.DESTROYED)
    assert alice_client.get(f"/p/{alice_project.public_id}/").status_code == 404
    assert "Sales dashboard" not in alice_client.get("/").content.decode()


def test_secret_values_are_write_only(alice_client: Client, alice_project: Project) -> None:
    url = f"/p/{alice_project.public_id}/secrets/"
    alice_client.post(url, {"name": "STRIPE_KEY", "value": "sk_live_hidden_value"})
    assert ProjectSecret.objects.get(project=alice_project).value == "sk_live_hidden_value"
    page = alice_client.get(f"/p/{alice_project.public_id}/").content.decode()
    assert "STRIPE_KEY" in page
    assert "sk_live_hidden_value" not in page


def test_lifecycle_button_refuses_impossible_action(
    alice_client: Client, alice_project: Project
) -> None:
    response = alice_client.post(f"/p/{alice_project.public_id}/actions/wake/", follow=True)
    assert "Only a sleeping project can be woken." in response.content.decode()
