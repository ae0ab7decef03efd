"""Issue 16 acceptance 2 and 3 in a real browser: a three-call run with known usage, through
the real gateway, shows exactly the expected tokens and cost everywhere (the ledger, the
chat meter, the session picker, the top bar, the home list, the settings page, the API);
a reload shows the same numbers; usage-looking events forged inside the Sprite change
nothing; destroying the project keeps its calls in the person's totals.

Live stack (daphne, Celery, PostgreSQL, Redis), the local Sprite with the real bridge and
pi, the gateway between pi and the scripted model server; chromium.
"""

from __future__ import annotations

import json
import os
import signal
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from accounts import user_settings
from accounts.models import User
from accounts.tokens import create_api_token
from gateway.models import UsageRecord
from organisations import provider_settings
from organisations.personal import personal_organisation_of
from projects.models import Project, Status
from projects.sprite.commands import run_command
from tests.e2e.helpers import wait_for, wait_for_status
from tests.e2e.test_accessibility import audit, page_for
from tests.e2e.test_workspace_chat import (
    destroy,
    in_thread,
    logged_in_page,
    open_workspace,
    owner_with_running_project,
    panel_session_ids,
    screenshot_dir,
    send,
    stack,
)
from tests.relay.bridge_truth import bridge_python_pid
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

# Per million tokens: $1 input, $2 output, $0.50 cache read, $4 cache write.
PRICES = user_settings.ProviderPrices(Decimal("1"), Decimal("2"), Decimal("0.5"), Decimal("4"))
# Each of the three calls reports 1000 fresh input, 200 output and 30 cached tokens.
CALL_COST = Decimal("0.001415")
TOKENS, COST, COST_LABEL = 3 * 1230, "0.004245", "$0.0042"
TOKENS_SHOWN = "3,690"


def forged_frame(session_id: str) -> str:
    """What a usage frame looks like, with numbers nobody spent."""
    session = {"calls": 99, "tokens": 999_999, "cost": "999", "cost_label": "$999.00",
               "input_tokens": 999_999, "output_tokens": 0, "cache_read_tokens": 0,
               "cache_write_tokens": 0, "unpriced_calls": 0}  # fmt: skip
    payload = {"kind": "usage", "session_id": session_id, "session": session,
               "today": session, "month": session}  # fmt: skip
    return json.dumps({"kind": "gateway", "payload": payload})


# Run inside the Sprite with the forged frame as its argument.
FORGE_EVENTS = """
import datetime, json, sqlite3, sys
frame = json.loads(sys.argv[1])
session_id = frame["payload"]["session_id"]
now = datetime.datetime.now(datetime.UTC).isoformat()
db = sqlite3.connect(".starter/events.db")
for kind, data in (("usage", frame["payload"]), ("gateway", frame)):
    db.execute("INSERT INTO events (session_id, type, data, ts) VALUES (?, ?, ?, ?)",
               (session_id, kind, json.dumps(data), now))
db.commit()
"""


FORGED_EVENTS_ARRIVED = """() => window.starterWorkspace.events.ring
  .filter((event) => event.type === "usage" || event.type === "gateway").length === 2"""


def forge_events_in_the_bridge_log(project: Project, session_id: str) -> None:
    """Inside the Sprite, write usage-looking events straight into the bridge's event log
    (what a tenant who owns the machine can do)."""
    command = ["python3", "-c", FORGE_EVENTS, forged_frame(session_id)]
    outcome = in_thread(run_command, project, command)
    assert outcome.exit_code == 0, outcome.stderr


def meter_text(page: Page) -> str:
    return page.locator(".panel-chat .usage-meter-totals").first.inner_text()


def expect_numbers_in_workspace(page: Page, session_id: str) -> None:
    meter = page.locator(".panel-chat .usage-meter").first
    expect(meter.locator(".usage-meter-totals")).to_have_text(
        f"3,690 tokens · {COST_LABEL} · 3 calls", timeout=30_000
    )
    expect(meter.locator(".usage-meter-context-label")).to_have_text("context 1,030 / 128,000 (1%)")
    assert meter.locator("meter").evaluate("m => [m.value, m.max]") == [1030, 128000]
    top_bar = page.locator("#project-usage")
    expect(top_bar.locator("[data-usage-period=today]")).to_have_text(COST_LABEL)
    expect(top_bar.locator("[data-usage-period=month]")).to_have_text(COST_LABEL)
    picker = page.locator(f".panel-chat .session-select option[value='{session_id}']").first
    expect(picker).to_contain_text(COST_LABEL, timeout=30_000)


def api_usage(owner: User, **params: str) -> dict[str, object]:
    token = create_api_token(owner, "usage check")[1]
    response = Client(headers={"Authorization": f"Bearer {token}"}, HTTP_HOST="localhost").get(
        "/api/v1/usage", params
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_a_metered_run_shows_the_same_numbers_everywhere(
    stack: LiveStack,
    browser: Browser,
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    shots = screenshot_dir(tmp_path)
    with owner_with_running_project("meter@example.com", "Metered app", scripted_model_server) as (
        owner,
        project,
    ):
        provider_settings.save_custom_provider(
            personal_organisation_of(owner), owner, "fake", "openai-completions",
            scripted_model_server.base_url, ["fake-model", "fake-model-2"], None, PRICES,
        )  # fmt: skip
        page = logged_in_page(browser, stack, owner)
        open_workspace(page, stack, project)
        [session_id] = panel_session_ids(page)

        # Three model calls: bash, bash (printing a forged usage frame), the final answer.
        forged = forged_frame(session_id).replace("'", "")
        send(page, f"[[usage: 1000 200 30]] [[bash: echo first]] [[bash: echo '{forged}']]")
        expect(page.locator(".panel-chat").first).to_contain_text("Done.", timeout=90_000)
        wait_for(
            lambda: UsageRecord.objects.filter(project=project).count() >= 3,
            timeout=30,
            message="three ledger rows",
        )

        rows = list(UsageRecord.objects.filter(project=project).order_by("id"))
        assert [
            (r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens)
            for r in rows
        ] == [(1000, 200, 30, 0)] * 3
        assert {(r.provider, r.model, r.session_id, r.cost) for r in rows} == {
            ("fake", "fake-model", session_id, CALL_COST)
        }

        expect_numbers_in_workspace(page, session_id)
        page.screenshot(path=str(shots / "workspace-usage.png"))

        # A reconnect (a reload) shows the same sums, never twice the calls.
        page.reload()
        open_workspace(page, stack, project)
        expect_numbers_in_workspace(page, session_id)

        # Usage-looking events written inside the Sprite straight into the bridge's log reach
        # the page when the bridge restarts (its keeper brings it back, the relay reconnects
        # and the bridge replays its log from the relay's cursor): they change nothing.
        forge_events_in_the_bridge_log(project, session_id)
        os.kill(bridge_python_pid(project), signal.SIGKILL)
        wait_for(
            lambda: page.evaluate(FORGED_EVENTS_ARRIVED),
            timeout=45,  # the keeper restarts the bridge within seconds; more on a busy machine
            message="the forged events replayed to the page",
        )
        expect_numbers_in_workspace(page, session_id)
        assert "999" not in meter_text(page)
        assert UsageRecord.objects.filter(user=owner).count() == 3

        page.goto(f"{stack.url}/")
        card = page.locator(f"[data-project-usage='{project.public_id}']")
        expect(card).to_have_text(f"Model use: today {COST_LABEL} · this month {COST_LABEL}")

        page.goto(f"{stack.url}/settings/")
        expect(page.locator("[data-usage-user=month]")).to_have_text(
            f"{COST_LABEL} · {TOKENS_SHOWN} tokens"
        )
        expect(page.locator(f"[data-usage-table=project] tr[data-project='{project.public_id}']"))\
            .to_have_text(f"Metered app3{TOKENS_SHOWN}{COST_LABEL}")  # fmt: skip
        # Drawn under the dashboard's policy (no inline script or style).
        expect(page.locator("[data-usage-chart=day] canvas")).to_have_count(1)
        expect(page.locator("[data-usage-chart=project] canvas")).to_have_count(1)
        page.locator("#usage").screenshot(path=str(shots / "settings-usage.png"))

        # axe needs an inline script: a page of its own, without the policy.
        auditor = page_for(browser, stack, owner)
        open_workspace(auditor, stack, project)
        expect_numbers_in_workspace(auditor, session_id)
        problems = audit(auditor, "workspace with the usage meter")
        auditor.goto(f"{stack.url}/settings/")
        problems += audit(auditor, "settings with usage")
        assert not problems, "\n".join(problems)

        body = api_usage(owner, project=project.public_id, group_by="session")
        assert body["totals"]["tokens"] == TOKENS and body["totals"]["cost"] == COST  # type: ignore[index]
        assert [g["key"] for g in body["groups"]] == [session_id]  # type: ignore[union-attr]

        destroy(project)

    # The project is gone; its calls still count for its owner.
    assert wait_for_status(project, Status.DESTROYED).status == Status.DESTROYED
    body = api_usage(owner)
    assert body["totals"]["calls"] == 3 and body["totals"]["cost"] == COST  # type: ignore[index]
    page.goto(f"{stack.url}/settings/")
    expect(page.locator("[data-usage-user=month]")).to_have_text(
        f"{COST_LABEL} · {TOKENS_SHOWN} tokens"
    )
    expect(page.locator("[data-usage-table=project]")).to_contain_text("Metered app")


def test_a_provider_without_prices_shows_price_unknown(
    stack: LiveStack, browser: Browser, scripted_model_server: ScriptedModelServer
) -> None:
    with owner_with_running_project(
        "unpriced@example.com", "Unpriced app", scripted_model_server
    ) as (owner, project):
        page = logged_in_page(browser, stack, owner)
        open_workspace(page, stack, project)
        send(page, "[[usage: 500 50]] [[reply: hello]]")
        expect(page.locator(".panel-chat").first).to_contain_text("hello", timeout=90_000)
        wait_for(
            lambda: UsageRecord.objects.filter(project=project).exists(),
            timeout=30,
            message="a ledger row",
        )
        assert UsageRecord.objects.get(project=project).cost is None
        expect(page.locator(".panel-chat .usage-meter-totals").first).to_have_text(
            "550 tokens · price unknown · 1 call", timeout=30_000
        )
        expect(page.locator("#project-usage [data-usage-period=month]")).to_have_text(
            "price unknown"
        )
