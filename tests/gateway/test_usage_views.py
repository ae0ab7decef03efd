"""Usage where people look: the home list, the workspace's top bar and meter snapshot, the
settings page, the admin, and the live frame after a call. Every page shows only the
signed-in person's calls."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from accounts.models import User
from gateway import tokens, usage_live
from gateway.models import GatewayPolicy
from projects.broadcast import project_group, user_group
from projects.models import Project, Status
from tests.support.ledger import metered_call, priced_provider


@pytest.fixture
def three_calls(alice_project: Project) -> Project:
    priced_provider(alice_project.owner)
    for _ in range(3):
        metered_call(alice_project, session_id="run-1")
    return alice_project


def test_home_list_shows_today_and_this_month(alice_client: Client, three_calls: Project) -> None:
    page = alice_client.get("/").content.decode()
    assert f'data-project-usage="{three_calls.public_id}"' in page
    assert 'today <span data-usage-period="today">$0.0042</span>' in page
    assert 'this month <span data-usage-period="month">$0.0042</span>' in page


def test_workspace_top_bar_and_config(alice_client: Client, three_calls: Project) -> None:
    page = alice_client.get(f"/p/{three_calls.public_id}/").content.decode()
    assert 'id="project-usage"' in page
    assert '<span data-usage-period="today">$0.0042</span>' in page
    assert '"cost": "0.004245"' in page  # the meters' starting point in #workspace-config


def test_meter_snapshot_is_the_ledgers(alice_client: Client, three_calls: Project) -> None:
    url = f"/p/{three_calls.public_id}/usage/"
    body = alice_client.get(url, {"session_id": "run-1"}).json()
    assert body["session"]["calls"] == 3 and body["session"]["tokens"] == 3690
    assert body["session"]["cost"] == "0.004245"
    assert body["call"]["context_tokens"] == 1030  # input + cache read + cache write
    assert body["call"]["context_window"] == 128_000  # a custom provider's model
    assert body["month"]["calls"] == 3
    assert alice_client.get(url, {"session_id": "../x"}).status_code == 400


def test_outsiders_get_404_and_see_nothing(bob_client: Client, three_calls: Project) -> None:
    assert bob_client.get(f"/p/{three_calls.public_id}/usage/").status_code == 404
    home = bob_client.get("/").content.decode()
    settings_page = bob_client.get("/settings/").content.decode()
    for page in (home, settings_page):
        assert three_calls.public_id not in page and "$0.0042" not in page
    assert "No model calls in the last 30 days." in settings_page


def test_settings_page_usage_section(alice_client: Client, three_calls: Project) -> None:
    page = alice_client.get("/settings/").content.decode()
    assert 'id="usage"' in page
    assert '<span class="usage-cost">$0.0042</span> · 3,690 tokens · 3 calls' in page
    row = f'<tr data-project="{three_calls.public_id}"><th scope="row">Sales dashboard</th>'
    assert row in page
    chart = page.split('id="usage-chart-data" type="application/json">')[1].split("</script>")[0]
    data = json.loads(chart)
    assert len(data["days"]) == 30 and data["tokens"][-1] == 3690
    assert data["projects"][0]["name"] == "Sales dashboard"
    assert "vendor/uplot/uPlot.iife.min.js" in page


def test_a_model_without_a_price_shows_price_unknown(alice_client: Client, alice: User) -> None:
    project = Project.objects.create(owner=alice, name="Local model", status=Status.RUNNING)
    priced_provider(alice, "my-ollama", prices=False)
    metered_call(project, provider="my-ollama", session_id="run-1")
    settings_page = alice_client.get("/settings/").content.decode()
    assert '<span class="usage-cost">price unknown</span>' in settings_page
    assert "$0.00" not in settings_page.split('id="usage"')[1]
    home = alice_client.get("/").content.decode()
    assert 'today <span data-usage-period="today">price unknown</span>' in home


def test_destroyed_projects_still_count_on_the_settings_page(
    alice_client: Client, three_calls: Project
) -> None:
    three_calls.delete()
    page = alice_client.get("/settings/").content.decode()
    assert "Sales dashboard" in page and "3,690 tokens" in page


def test_publish_sends_the_ledgers_sums_to_viewers_and_home(three_calls: Project) -> None:
    layer = get_channel_layer()
    assert layer is not None
    viewer = async_to_sync(layer.new_channel)()
    home = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(project_group(three_calls.public_id), viewer)
    async_to_sync(layer.group_add)(user_group(three_calls.owner_id), home)
    try:
        record = metered_call(three_calls, session_id="run-1", usage=(5000, 100, 0, 0))
        usage_live.publish(record)
        for channel in (viewer, home):
            message = async_to_sync(layer.receive)(channel)
            assert message["type"] == "gateway.update"
            payload = message["payload"]
            assert payload["kind"] == "usage" and payload["session_id"] == "run-1"
            assert payload["session"]["calls"] == 4  # sums, not this call's delta
            assert payload["call"]["input_tokens"] == 5000
            assert payload["month"]["tokens"] == 3690 + 5100
    finally:
        async_to_sync(layer.group_discard)(project_group(three_calls.public_id), viewer)
        async_to_sync(layer.group_discard)(user_group(three_calls.owner_id), home)


def test_admin_summary_and_read_only_ledger(
    client: Client, operator: User, three_calls: Project
) -> None:
    client.force_login(operator)
    listing = client.get("/admin/gateway/usagerecord/").content.decode()
    assert 'id="usage-summary"' in listing
    assert "alice@example.com" in listing and "Sales dashboard" in listing
    assert "metered/scripted" in listing
    filtered = client.get("/admin/gateway/usagerecord/?provider=nobody").content.decode()
    assert "0 calls" in filtered
    record_id = three_calls.usage_records.first().pk  # type: ignore[union-attr]
    assert client.post(f"/admin/gateway/usagerecord/{record_id}/delete/").status_code == 403
    assert client.get("/admin/gateway/usagerecord/add/").status_code == 403


def test_admin_never_shows_a_gateway_token(
    client: Client, operator: User, alice_project: Project
) -> None:
    value = tokens.token_for(alice_project)
    client.force_login(operator)
    listing = client.get("/admin/gateway/gatewaytoken/").content.decode()
    token_row = alice_project.gateway_tokens.get()
    detail = client.get(f"/admin/gateway/gatewaytoken/{token_row.pk}/change/").content.decode()
    assert "Sales dashboard" in listing
    for page in (listing, detail):
        assert value not in page and token_row.token_hash not in page


def test_admin_policy_is_one_row(client: Client, operator: User) -> None:
    client.force_login(operator)
    response = client.get("/admin/gateway/gatewaypolicy/")
    policy = GatewayPolicy.current()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/gateway/gatewaypolicy/{policy.pk}/change/")
    assert client.get(response["Location"]).status_code == 200


def test_the_context_window_comes_from_pis_table() -> None:
    from accounts.model_catalog import pi_registry

    provider, option = next(
        (name, option)
        for name, options in pi_registry().items()
        for option in options
        if option.context_window and option.context_window != usage_live.CUSTOM_CONTEXT_WINDOW
    )
    assert usage_live.context_window(provider, option.id) == option.context_window
    assert usage_live.context_window("my-ollama", "llama3") == usage_live.CUSTOM_CONTEXT_WINDOW
