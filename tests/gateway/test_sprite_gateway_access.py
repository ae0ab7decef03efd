"""How a Sprite reaches the model gateway, and how it is cut off.

Its environment holds the project's gateway token and the gateway's URL, never a provider
key; the token is the project's own; a local Sprite may reach the gateway's loopback port
and nothing more; rotating (admin, API) or destroying the project ends the old token.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from accounts import user_settings
from accounts.models import User
from accounts.tokens import create_api_token
from bridge_agent.environment import ENVIRONMENT_NAMES_ENV, replaced, variable_name_problem
from bridge_agent.protocol import (
    GATEWAY_MODELS_VARIABLE,
    GATEWAY_TOKEN_PREFIX,
    GATEWAY_TOKEN_VARIABLE,
    GATEWAY_URL_VARIABLE,
)
from gateway import tokens
from gateway.models import GatewayToken
from organisations import provider_settings
from organisations.personal import personal_organisation_of
from projects import actions
from projects.actions import destroy_project
from projects.errors import ProjectError
from projects.general_agent import ensure_general_agent
from projects.lifecycle import steps
from projects.models import Kind, Project, Status
from projects.secrets import set_project_secret
from projects.sprite.environment import loopback_ports, sprite_environment
from tests.api.conftest import TokenClient

pytestmark = pytest.mark.django_db

OPENAI_KEY = "sk-real-openai-2f81c0d9"
CUSTOM_KEY = "sk-custom-value-a4e019"


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.STARTER_GATEWAY_URL = "http://127.0.0.1:8000/gateway"


def running(owner: User, name: str) -> Project:
    return Project.objects.create(
        owner=owner, name=name, status=Status.RUNNING, sprite_name=name.lower()
    )


def test_the_sprite_gets_the_gateway_token_and_no_provider_key(alice: User, bob: User) -> None:
    provider_settings.set_api_key(personal_organisation_of(alice), alice, "openai", OPENAI_KEY)
    provider_settings.save_custom_provider(
        personal_organisation_of(alice),
        alice,
        "mine",
        "openai-completions",
        "https://x.example.com/v1",
        ["m"],
        CUSTOM_KEY,
    )
    first, second = running(alice, "First"), running(alice, "Second")
    environment = sprite_environment(first)

    values = json.dumps(environment)
    assert OPENAI_KEY not in values and CUSTOM_KEY not in values
    assert not any(name.endswith("_API_KEY") for name in environment)
    assert not any(name.startswith("STARTER_PROVIDER_KEY_") for name in environment)
    token = environment[GATEWAY_TOKEN_VARIABLE]
    assert token.startswith(GATEWAY_TOKEN_PREFIX) and token == tokens.token_for(first)
    assert environment[GATEWAY_URL_VARIABLE] == "http://127.0.0.1:8000/gateway"
    # The same token at every start; another project's is another, and is its own.
    assert sprite_environment(first)[GATEWAY_TOKEN_VARIABLE] == token
    other = sprite_environment(second)[GATEWAY_TOKEN_VARIABLE]
    assert other != token
    resolved = tokens.resolve(other)
    assert resolved is not None and resolved.project == second
    # The agent is not told of the platform's variables as "secrets".
    assert GATEWAY_TOKEN_VARIABLE not in environment["STARTER_SECRET_NAMES"]
    assert sprite_environment(running(bob, "Bobs"))[GATEWAY_TOKEN_VARIABLE] not in {token, other}


def test_the_bridge_takes_the_gateway_variables_but_a_user_secret_cannot_take_their_names(
    alice_project: Project,
) -> None:
    for name in (GATEWAY_TOKEN_VARIABLE, GATEWAY_URL_VARIABLE, GATEWAY_MODELS_VARIABLE):
        assert variable_name_problem(name) is None
        with pytest.raises(ProjectError, match="reserved"):
            set_project_secret(alice_project, name, "sgw_forged")
    # The old custom-provider key names are no longer the control plane's to send.
    assert variable_name_problem("STARTER_PROVIDER_KEY_X") is not None
    assert variable_name_problem("STARTER_GATEWAY_OTHER") is not None


def test_a_bridge_started_before_the_gateway_loses_its_keys_at_the_first_sync() -> None:
    """Its control-plane set listed the keys (pi's variables, custom providers' own): the
    first new set, which has none, removes them all."""
    old_names = "OPENAI_API_KEY,STARTER_PROVIDER_KEY_MINE,WEATHER"
    started = {
        ENVIRONMENT_NAMES_ENV: old_names,
        "OPENAI_API_KEY": OPENAI_KEY,
        "STARTER_PROVIDER_KEY_MINE": CUSTOM_KEY,
        "WEATHER": "sunny",
        "HOME": "/home/sprite",
    }
    new_set = {"WEATHER": "sunny", GATEWAY_TOKEN_VARIABLE: "sgw_new"}
    environment, changed = replaced(started, new_set, None)
    assert OPENAI_KEY not in environment.values() and CUSTOM_KEY not in environment.values()
    assert environment["HOME"] == "/home/sprite" and environment["WEATHER"] == "sunny"
    assert changed == sorted(
        ["OPENAI_API_KEY", "STARTER_PROVIDER_KEY_MINE", GATEWAY_TOKEN_VARIABLE]
    )


def test_the_fly_bridge_is_defined_and_updated_with_the_gateway_variables(
    alice_project: Project,
) -> None:
    """A fly Sprite's bridge runs as a Sprite service whose environment is the control
    plane's set, filtered by the bridge's own rule: the gateway's variables must pass it (the
    public gateway URL, token auth only)."""
    from sprites.backends.environment_update import update_body
    from sprites.backends.fly import FlyBackend

    environment = sprite_environment(alice_project)
    service = FlyBackend._service_environment("bridge-token", environment)
    handed = update_body(environment)["variables"]
    for name in (GATEWAY_TOKEN_VARIABLE, GATEWAY_URL_VARIABLE, GATEWAY_MODELS_VARIABLE):
        assert service[name] == environment[name] == handed[name]


def test_adding_a_provider_changes_the_models_fingerprint_a_key_does_not(alice: User) -> None:
    """The fingerprint is how a running pi learns to re-read models.json (restarted when its
    run ends); a key changing needs nothing: the gateway reads it at each call."""
    project = running(alice, "Print")
    before = sprite_environment(project)[GATEWAY_MODELS_VARIABLE]
    provider_settings.set_api_key(personal_organisation_of(alice), alice, "openai", OPENAI_KEY)
    with_openai = sprite_environment(project)[GATEWAY_MODELS_VARIABLE]
    assert with_openai != before
    provider_settings.set_api_key(
        personal_organisation_of(alice), alice, "openai", OPENAI_KEY + "-rotated"
    )
    assert sprite_environment(project)[GATEWAY_MODELS_VARIABLE] == with_openai
    provider_settings.save_custom_provider(
        personal_organisation_of(alice),
        alice,
        "mine",
        "openai-completions",
        "https://x.example.com/v1",
        ["m"],
        CUSTOM_KEY,
    )
    assert sprite_environment(project)[GATEWAY_MODELS_VARIABLE] != with_openai


def test_every_sprite_may_reach_the_gateways_loopback_port_and_only_that(
    alice: User, settings: Any
) -> None:
    project = running(alice, "Plain")
    assert loopback_ports(project) == (8000,)
    general = ensure_general_agent(alice)
    assert general.kind == Kind.GENERAL_AGENT
    settings.STARTER_GATEWAY_URL = "http://127.0.0.1:9100/gateway"
    assert loopback_ports(project) == (9100,)
    assert loopback_ports(general) == (8000, 9100)  # its tools call the site's API too
    # A public gateway (fly, production) needs no hole.
    settings.STARTER_GATEWAY_URL = "https://starter.example.com/gateway"
    settings.SITE_URL = "https://starter.example.com"
    assert loopback_ports(project) == () and loopback_ports(general) == ()


def test_rotating_revokes_the_token_and_queues_the_new_environment(
    alice_project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    old = tokens.token_for(alice_project)
    with django_capture_on_commit_callbacks() as callbacks:
        actions.rotate_gateway_token(alice_project)
    assert tokens.resolve(old) is None
    new = tokens.token_for(alice_project)
    assert new != old and tokens.resolve(new) is not None
    assert sprite_environment(alice_project)[GATEWAY_TOKEN_VARIABLE] == new
    assert len(callbacks) == 1  # the environment sync that hands the Sprite the new token


def test_the_api_rotates_only_the_callers_own_projects_token(alice: User, bob: User) -> None:
    alice_api = TokenClient(create_api_token(alice, "tests")[1])
    bob_api = TokenClient(create_api_token(bob, "tests")[1])
    project = running(alice, "Api")
    old = tokens.token_for(project)
    path = f"/api/v1/projects/{project.public_id}/gateway-token/rotate"

    assert bob_api.post(path).status_code == 404
    assert tokens.resolve(old) is not None
    assert alice_api.post("/api/v1/projects/p_nope/gateway-token/rotate").status_code == 404
    answer = alice_api.post(path)
    assert answer.status_code == 204, answer.content
    assert tokens.resolve(old) is None
    assert "gateway-token/rotate" in json.dumps(alice_api.get("/api/v1/openapi.json").json())


def test_the_admin_action_rotates(operator: User, alice_project: Project) -> None:
    old = tokens.token_for(alice_project)
    client = Client()
    client.force_login(operator)
    response = client.post(
        "/admin/projects/project/",
        {"action": "rotate_gateway_token", "_selected_action": [alice_project.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Gateway token rotated" in response.content.decode()
    assert tokens.resolve(old) is None


def test_destroying_a_project_cuts_it_off_and_deletes_its_tokens(
    alice: User, django_capture_on_commit_callbacks: Any
) -> None:
    # No Sprite name: the destroy step has no backend to call.
    alice_project = Project.objects.create(owner=alice, name="Doomed", status=Status.RUNNING)
    token = tokens.token_for(alice_project)
    with django_capture_on_commit_callbacks():
        assert destroy_project(alice_project)
    assert tokens.resolve(token) is None  # refused from the moment destroying starts
    steps.destroy(alice_project.pk)
    alice_project.refresh_from_db()
    assert alice_project.status == Status.DESTROYED
    assert not GatewayToken.objects.filter(project=alice_project).exists()
    other = running(alice, "Other")
    doomed = tokens.token_for(other)
    other.delete()  # a deleted row takes its tokens with it (cascade)
    assert tokens.resolve(doomed) is None and not GatewayToken.objects.exists()


def test_custom_provider_prices_are_checked(alice: User) -> None:
    def save(prices: user_settings.ProviderPrices) -> None:
        provider_settings.save_custom_provider(
            personal_organisation_of(alice),
            alice,
            "priced",
            "openai-completions",
            "https://x.example.com/v1",
            ["m"],
            None,
            prices,
        )

    with pytest.raises(user_settings.SettingsError, match="input price cannot be negative"):
        save(user_settings.ProviderPrices(Decimal("-1"), Decimal("1")))
    with pytest.raises(user_settings.SettingsError, match="output price is a number"):
        save(user_settings.ProviderPrices(Decimal("1"), "lots"))  # type: ignore[arg-type]
    with pytest.raises(user_settings.SettingsError, match="at most"):
        save(user_settings.ProviderPrices(Decimal("1"), Decimal("1e9")))
    save(user_settings.ProviderPrices(Decimal("0.15"), Decimal("0.6"), None, Decimal("1.2")))
    provider = alice.custom_providers.get(name="priced")
    assert (provider.price_input, provider.price_output) == (Decimal("0.15"), Decimal("0.6"))
    assert provider.price_cache_read is None and provider.price_cache_write == Decimal("1.2")
    assert user_settings.price_summary(provider) == (
        "Per million tokens: input $0.15, output $0.6, cache read $0, cache write $1.2."
    )
    # Saving without prices (None) keeps them; an empty set clears them.
    provider_settings.save_custom_provider(
        personal_organisation_of(alice),
        alice,
        "priced",
        "openai-completions",
        "https://x.example.com/v1",
        ["m"],
        None,
    )
    assert alice.custom_providers.get(name="priced").price_input == Decimal("0.15")
    save(user_settings.ProviderPrices())
    provider = alice.custom_providers.get(name="priced")
    assert provider.price_input is None
    assert user_settings.price_summary(provider).startswith("Price unknown")
