"""The settings page: model lists from pi's registry and the person's own providers, custom
providers added/edited/removed with write-only keys, and project secrets listed by name."""

from __future__ import annotations

from django.test import Client

from accounts.models import CustomProvider, User
from organisations.personal import personal_organisation_of
from projects.models import Project, ProjectSecret

PROVIDER = {
    "name": "my-ollama",
    "api": "openai-completions",
    "base_url": "http://gpu-box:11434/v1",
    "model_ids": "llama3.1:70b,\nqwen2.5-coder",
    "api_key": "sk-ollama-write-only-5521",
}


def test_model_suggestions_come_from_pis_registry(alice_client: Client) -> None:
    page = alice_client.get("/settings/").content.decode()
    assert '<template data-models-for="anthropic">' in page
    assert 'value="claude-sonnet-4-5"' in page or 'value="claude-sonnet-4-5-20250929"' in page
    assert '<template data-models-for="openai">' in page


def test_custom_provider_is_saved_listed_and_offered_as_a_model_source(
    alice_client: Client, alice: User
) -> None:
    response = alice_client.post("/settings/providers/", PROVIDER)
    assert response.status_code == 302
    provider = CustomProvider.objects.get(user=alice)
    assert provider.model_ids == ["llama3.1:70b", "qwen2.5-coder"]
    assert provider.api_key == PROVIDER["api_key"]
    page = alice_client.get("/settings/").content.decode()
    assert "my-ollama" in page and "http://gpu-box:11434/v1" in page
    assert '<template data-models-for="my-ollama"><option value="llama3.1:70b">' in page
    assert "key set" in page
    assert PROVIDER["api_key"] not in page


def test_editing_a_provider_without_a_key_keeps_the_key(alice_client: Client, alice: User) -> None:
    alice_client.post("/settings/providers/", PROVIDER)
    alice_client.post(
        "/settings/providers/", {**PROVIDER, "base_url": "http://other:8000/v1", "api_key": ""}
    )
    provider = CustomProvider.objects.get(user=alice)
    assert provider.base_url == "http://other:8000/v1"
    assert provider.api_key == PROVIDER["api_key"]


def test_bad_provider_input_gets_a_message_and_a_422(alice_client: Client) -> None:
    response = alice_client.post("/settings/providers/", {**PROVIDER, "base_url": "gpu-box"})
    assert response.status_code == 422
    assert "starts with http:// or https://" in response.content.decode()
    response = alice_client.post("/settings/providers/", {**PROVIDER, "name": "openai"})
    assert "is a built-in provider" in response.content.decode().replace("&#x27;", "'")


def test_removing_is_scoped_to_the_person(
    alice_client: Client, bob_client: Client, alice: User
) -> None:
    alice_client.post("/settings/providers/", PROVIDER)
    refused = bob_client.post("/settings/providers/my-ollama/remove/", follow=True)
    assert "There is no custom provider named" in refused.content.decode().replace("&#x27;", "'")
    assert CustomProvider.objects.filter(organisation=personal_organisation_of(alice)).exists()
    alice_client.post("/settings/providers/my-ollama/remove/")
    assert not CustomProvider.objects.filter(organisation=personal_organisation_of(alice)).exists()


def test_project_secrets_are_listed_by_name_only(
    alice_client: Client, alice_project: Project, bob: User
) -> None:
    ProjectSecret.objects.create(project=alice_project, name="STRIPE_KEY", value="sk_live_xyz_9")
    bobs = Project.objects.create(owner=bob, name="Bob's plan")
    ProjectSecret.objects.create(project=bobs, name="BOB_ONLY", value="bob-value")
    page = alice_client.get("/settings/").content.decode()
    assert 'hx-get="/secrets-overview/"' in page  # the section loads with the page
    section = alice_client.get("/secrets-overview/").content.decode()
    assert "STRIPE_KEY" in section and "sk_live_xyz_9" not in section
    assert "BOB_ONLY" not in section and "Bob" not in section


def test_pis_settings_turn_cache_warming_off_and_the_page_says_so(
    alice_client: Client, alice: User
) -> None:
    """pi 1.6 defaults to `cacheWarming: idle`: paid requests while nobody uses the agent."""
    import json

    from projects.sprite.environment import pi_settings_document

    project = Project.objects.create(owner=alice, name="warm")
    assert json.loads(pi_settings_document(project))["cacheWarming"] == "off"
    page = alice_client.get("/settings/").content.decode()
    assert 'id="cache-warming-note"' in page and "Prompt-cache warming is off" in page


def test_pis_models_document_holds_the_gateway_token_variable_never_the_key(
    alice_client: Client, alice: User
) -> None:
    """pi >= 0.77 sends a bare `apiKey` value as the key itself; `$NAME` reads the variable.
    The variable is the project's gateway token: the provider's key stays on the platform."""
    from gateway.pi_config import pi_models_document

    alice_client.post("/settings/providers/", PROVIDER)
    entry = pi_models_document(personal_organisation_of(alice))["providers"]["my-ollama"]  # type: ignore[index]
    assert entry["apiKey"] == "$STARTER_GATEWAY_TOKEN"
    assert PROVIDER["api_key"] not in str(pi_models_document(personal_organisation_of(alice)))


def test_prices_are_saved_listed_and_unknown_when_unset(alice_client: Client, alice: User) -> None:
    prices = {"price_input": "0.15", "price_output": "0.6", "price_cache_read": "0.015"}
    response = alice_client.post("/settings/providers/", {**PROVIDER, **prices}, follow=True)
    page = response.content.decode()
    assert "applies to every project&#x27;s next model call" in page
    provider = CustomProvider.objects.get(user=alice)
    assert str(provider.price_input) == "0.150000" and provider.price_cache_write is None
    listed = "Per million tokens: input $0.15, output $0.6, cache read $0.015, cache write $0."
    assert listed in page
    assert 'data-price-input="0.150000"' in page
    alice_client.post("/settings/providers/", {**PROVIDER, "name": "free-box"})
    page = alice_client.get("/settings/").content.decode()
    assert "Price unknown" in page and "Azure" in page


def test_a_bad_price_gets_a_message_and_a_422(alice_client: Client, alice: User) -> None:
    response = alice_client.post("/settings/providers/", {**PROVIDER, "price_input": "-1"})
    assert response.status_code == 422
    assert "The input price cannot be negative." in response.content.decode()
    response = alice_client.post("/settings/providers/", {**PROVIDER, "price_output": "cheap"})
    assert response.status_code == 422
    assert "The output price is a number of dollars" in response.content.decode()
    assert not CustomProvider.objects.filter(organisation=personal_organisation_of(alice)).exists()
