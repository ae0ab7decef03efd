"""Issue 19 acceptance 2 and 5 in a real browser: an owner invites a new person by e-mail
from the organisation page; they sign up from the mailed link, open the shared project, see
who said what and prompt the agent, while the owner sees them watching. A viewer (invited
with the viewer role) watches with the composer disabled and the API refusing with 403, and
loses the project's socket the moment they are removed. The audit log (page and API) lists
each action, and no audit row holds a secret value or an invitation's secret.

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, Debian's chromium; only the model is scripted.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from accounts.tokens import create_api_token
from organisations.actions import create_organisation
from organisations.models import AuditAction, AuditEntry, Organisation
from projects.actions import create_project
from projects.models import Project, Status
from tests.e2e.helpers import (
    use_scripted_model,
    wait_for,
    wait_for_status,
)
from tests.e2e.test_workspace_chat import (
    LAPTOP,
    PASSWORD,
    destroy,
    logged_in_page,
    open_workspace,
    send,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server"]

PROJECT_SECRET = "project-secret-value-5b1f0c9e"
PROVIDER_KEY = "sk-ant-provider-key-7d3e2a41"


@pytest.fixture
def stack(live_stack: LiveStack, settings: Any) -> LiveStack:
    settings.DATA_DIR = live_stack.data_dir
    return live_stack


def mailed_link(stack: LiveStack, email: str, pattern: str) -> str:
    """The newest link matching `pattern` in a mail to `email` (the console backend writes
    mails into the web process's log). Says what the log holds for `email` if none comes."""
    assert stack.log_dir is not None
    log = stack.log_dir / "web.log"
    found: list[str] = []

    def mailed() -> bool:
        text = log.read_text(errors="replace")
        mails = text.split(f"To: {email}")[1:]
        found[:] = [link for mail in mails for link in re.findall(pattern, mail[:5000])]
        return bool(found)

    try:
        wait_for(mailed, 20, message=f"a mail to {email} with {pattern}")
    except AssertionError:
        text = log.read_text(errors="replace")
        at = text.find(f"To: {email}")
        raise AssertionError(
            f"no link in mails to {email}; log from there: {text[at:][-4000:]}"
        ) from None
    return found[-1]


def mailed_invitation_link(stack: LiveStack, email: str) -> str:
    return mailed_link(stack, email, r"https?://\S+/invitations/[\w-]+/")


def invite(page: Page, stack: LiveStack, team: Organisation, email: str, role: str) -> None:
    page.goto(f"{stack.url}/organisations/{team.public_id}/")
    page.fill("#invite-email", email)
    page.select_option("#invite-role", role)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("[data-invitation-link]")).to_be_visible()
    expect(page.get_by_role("table", name="Pending invitations")).to_contain_text(email)


def api(stack: LiveStack, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, f"{stack.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def test_invite_sign_up_prompt_watch_and_audit(
    stack: LiveStack, browser: Browser, scripted_model_server: ScriptedModelServer
) -> None:
    owner = User.objects.create_user("olga@example.com", PASSWORD)
    team = create_organisation(owner, "Acme")
    # The team's projects call the team's providers (through the gateway).
    use_scripted_model(owner, scripted_model_server.base_url, organisation=team)
    project = wait_for_status(
        create_project(owner, "Shared app", organisation=team), Status.RUNNING, timeout=180
    )
    owner_token = create_api_token(owner, "e2e")[1]
    try:
        _run(stack, browser, owner, owner_token, team, project)
    finally:
        destroy(project)


def _run(
    stack: LiveStack,
    browser: Browser,
    owner: User,
    owner_token: str,
    team: Organisation,
    project: Project,
) -> None:
    owner_page = logged_in_page(browser, stack, owner)
    open_workspace(owner_page, stack, project)
    send(owner_page, "[[reply: hello-olga]] first from the owner")
    expect(owner_page.locator(".panel-chat .msg-assistant").last).to_contain_text(
        "hello-olga", timeout=60_000
    )
    # A secret and a provider key, set while the audit log records: no value may reach it.
    assert api(stack, owner_token, "PUT", f"/projects/{project.public_id}/secrets/SHOP_TOKEN",
               json={"value": PROJECT_SECRET}).status_code == 200  # fmt: skip
    assert api(stack, owner_token, "PUT", "/settings/api-keys/anthropic",
               json={"key": PROVIDER_KEY}).status_code == 200  # fmt: skip

    # -- acceptance 2: invited by e-mail, signs up from the link, prompts ------------------
    invite_page = owner_page.context.new_page()
    invite(invite_page, stack, team, "nina@example.com", "member")
    link = mailed_invitation_link(stack, "nina@example.com")
    nina = browser.new_context(viewport=LAPTOP).new_page()
    nina.goto(link)
    expect(nina.get_by_role("heading", name="Join Acme")).to_be_visible()
    nina.get_by_role("link", name="Sign up to accept").click()
    expect(nina.locator("input[name=email]")).to_have_value("nina@example.com")
    nina.fill("input[name=password1]", PASSWORD)
    nina.fill("input[name=password2]", PASSWORD)
    nina.click("main button[type=submit]")
    expect(nina.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    nina.goto(mailed_link(stack, "nina@example.com", r"https?://\S+/accounts/confirm-email/\S+/"))
    nina.click("main button[type=submit]")
    # Verified and logged in: back on the invitation, whose secret no URL carries now.
    expect(nina.get_by_role("button", name="Accept the invitation")).to_be_visible()
    assert link.rsplit("/", 2)[-2] not in nina.url
    nina.get_by_role("button", name="Accept the invitation").click()
    # Now working in Acme: its project is on the home.
    expect(nina.locator(".project-card", has_text="Shared app")).to_be_visible()
    expect(nina.locator(".org-menu summary")).to_contain_text("Acme")
    open_workspace(nina, stack, project)
    # Who said what: the owner's prompt carries the owner's address.
    owner_message = nina.locator(".panel-chat .msg-user", has_text="first from the owner")
    expect(owner_message.locator(".msg-author")).to_have_text("olga@example.com")
    send(nina, "[[reply: hello-nina]] then from nina")
    expect(nina.locator(".panel-chat .msg-assistant").last).to_contain_text(
        "hello-nina", timeout=60_000
    )
    # The owner sees who else is here and, live, who said what; a reload keeps it.
    expect(owner_page.locator('[data-presence] [data-watcher="nina@example.com"]')).to_be_visible(
        timeout=15_000
    )
    live = owner_page.locator(".panel-chat .msg-user", has_text="then from nina")
    expect(live.locator(".msg-author")).to_have_text("nina@example.com", timeout=30_000)
    open_workspace(owner_page, stack, project)
    nina_message = owner_page.locator(".panel-chat .msg-user", has_text="then from nina")
    expect(nina_message.locator(".msg-author")).to_have_text("nina@example.com")

    # -- a viewer watches; the composer is disabled and the API refuses --------------------
    victor = User.objects.create_user("victor@example.com", PASSWORD)
    EmailAddress.objects.create(user=victor, email=victor.email, verified=True, primary=True)
    invite(invite_page, stack, team, "victor@example.com", "viewer")
    viewer = logged_in_page(browser, stack, victor)
    viewer.goto(mailed_invitation_link(stack, "victor@example.com"))
    viewer.get_by_role("button", name="Accept the invitation").click()
    viewer.goto(f"{stack.url}/p/{project.public_id}/")
    expect(viewer.locator(".panel-chat .composer-input").first).to_be_disabled(timeout=60_000)
    expect(viewer.locator("#connection-state")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    # The viewer watches the whole transcript, with who said what.
    watched = viewer.locator(".panel-chat .msg-user", has_text="then from nina")
    expect(watched.locator(".msg-author")).to_have_text("nina@example.com", timeout=30_000)
    victor_token = create_api_token(victor, "e2e")[1]
    refused = api(stack, victor_token, "POST", f"/projects/{project.public_id}/prompt",
                  json={"message": "let me in"})  # fmt: skip
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "role_required"
    assert refused.json()["detail"] == {"needed_role": "member"}
    assert api(stack, victor_token, "GET", f"/projects/{project.public_id}").status_code == 200

    # Removed: the viewer's open workspace loses its socket at once.
    members_page = owner_page.context.new_page()
    members_page.goto(f"{stack.url}/organisations/{team.public_id}/")
    members_page.get_by_role("button", name="Remove victor@example.com").click()
    expect(members_page.locator("[data-member='victor@example.com']")).to_have_count(0)
    expect(viewer.locator("#connection-state")).to_have_attribute(
        "data-state", "gone", timeout=10_000
    )
    assert api(stack, victor_token, "GET", f"/projects/{project.public_id}").status_code == 404

    # -- acceptance 5: the audit log lists each action, and no secret -----------------------
    expected = [
        AuditAction.ORGANISATION_CREATED,
        AuditAction.PROJECT_CREATED,
        AuditAction.MEMBER_INVITED,
        AuditAction.INVITATION_ACCEPTED,
        AuditAction.MEMBER_INVITED,
        AuditAction.INVITATION_ACCEPTED,
        AuditAction.MEMBER_REMOVED,
    ]
    listed = api(stack, owner_token, "GET", f"/organisations/{team.public_id}/audit").json()
    actions = [item["action"] for item in reversed(listed["items"])]
    assert [action for action in actions if action in set(expected)] == expected, actions
    by_action = {item["action"]: item for item in listed["items"]}
    assert by_action[AuditAction.MEMBER_REMOVED]["subject"] == "victor@example.com"
    assert by_action[AuditAction.MEMBER_REMOVED]["actor"] == "olga@example.com"
    audit_page = owner_page.context.new_page()
    audit_page.goto(f"{stack.url}/organisations/{team.public_id}/audit/")
    table = audit_page.get_by_role("table", name="Audit log")
    for label in ("Member invited", "Invitation accepted", "Member removed", "Project created"):
        expect(table).to_contain_text(label)
    expect(table).to_contain_text("nina@example.com")
    # The viewer cannot read it (API) and an outsider does not even see the organisation.
    assert (
        api(stack, victor_token, "GET", f"/organisations/{team.public_id}/audit").status_code == 404
    )
    secrets = [PROJECT_SECRET, PROVIDER_KEY, link.rsplit("/", 2)[-2]]
    for entry in AuditEntry.objects.all():
        row = f"{entry.actor_email} {entry.action} {entry.subject} {entry.details}"
        for secret in secrets:
            assert secret not in row, (secret, row)
    for secret in secrets:
        assert secret not in str(listed) and secret not in audit_page.content()


SESSION_AUTHORS = """async () => {
  const { Session } = await import("/static/js/workspace/chat/session.js");
  const session = new Session("s1", { history: async () => ({}), recentEventsOf: () => [] });
  session.loaded = true;
  const shown = [];
  session.attach({
    renderAll: () => {},
    appendMessage: (m) => shown.push(["message", m.starter_author || null]),
    showAuthor: (m) => shown.push(["author", m.starter_author]),
  });
  const said = (text, id) => ({
    id, type: "message_end", session_id: "s1",
    data: { message: { role: "user", content: [{ type: "text", text }], timestamp: id,
                       starter_author: "ceo@example.com" } },
  });
  session.receive(said("forged by the Sprite", 1));
  session.authored("the frame came first", "nina@example.com");
  session.receive(said("the frame came first", 2));
  session.receive(said("the message came first", 3));
  session.authored("the message came first", "olga@example.com");
  session.authored("never said", "mallory@example.com");
  return { shown, authors: session.messages.map((m) => m.starter_author || null) };
}"""


def test_only_the_control_plane_names_a_live_messages_author(
    browser: Browser, stack: LiveStack
) -> None:
    """Live events come from the Sprite: a ``starter_author`` in them is dropped. The name
    comes from the control plane's ``author`` frame, before or after its message."""
    user = User.objects.create_user("lena@example.com", PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page = logged_in_page(browser, stack, user)
    page.goto(stack.url + "/")
    result = page.evaluate(SESSION_AUTHORS)
    assert result["authors"] == [None, "nina@example.com", "olga@example.com"]
    assert result["shown"] == [
        ["message", None],
        ["message", "nina@example.com"],
        ["message", None],
        ["author", "olga@example.com"],
    ]
