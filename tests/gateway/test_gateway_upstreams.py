"""Where a provider really is (gateway/upstreams.py), against pi's real model table and the
real database: custom before built-in, routing by model for mixed providers, operators'
moves, the key header of each API, and the refusals."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.model_catalog import pi_registry
from accounts.models import CustomProvider, User
from gateway.calls import Refusal, Upstream
from gateway.upstreams import key_header, moved, upstream_for
from organisations import provider_settings
from organisations.personal import personal_organisation_of

pytestmark = pytest.mark.django_db


def with_keys(user: User, **keys: str) -> User:
    for provider, key in keys.items():
        provider_settings.set_api_key(personal_organisation_of(user), user, provider, key)
    return user


def test_a_custom_provider_wins_over_a_built_in_of_the_same_name(alice: User) -> None:
    with_keys(alice, openai="sk-builtin")
    CustomProvider.objects.create(
        organisation=personal_organisation_of(alice),
        user=alice,
        name="openai",
        api=CustomProvider.API_ANTHROPIC,
        base_url="http://llm.internal:8080/v1/",
        api_key="sk-custom",
    )
    upstream = upstream_for(personal_organisation_of(alice), "openai", "gpt-5")
    assert upstream == Upstream(
        "openai", "anthropic-messages", "http://llm.internal:8080/v1", "sk-custom", custom=True
    )


def test_built_in_bases_come_from_pis_table_per_model(alice: User) -> None:
    with_keys(alice, anthropic="sk-a", google="g-key", openrouter="sk-or")
    anthropic = upstream_for(personal_organisation_of(alice), "anthropic", "")
    assert isinstance(anthropic, Upstream)
    assert (anthropic.base_url, anthropic.api, anthropic.key) == (
        "https://api.anthropic.com",
        "anthropic-messages",
        "sk-a",
    )
    google = upstream_for(
        personal_organisation_of(alice), "google", "no-such-model"
    )  # the provider's common base
    assert isinstance(google, Upstream)
    assert google.base_url == "https://generativelanguage.googleapis.com/v1beta"
    models = pi_registry()["openrouter"]
    claude = next(m.id for m in models if m.api == "anthropic-messages")
    other = next(m.id for m in models if m.api == "openai-completions")
    routed = [
        upstream_for(personal_organisation_of(alice), "openrouter", model)
        for model in (claude, other)
    ]
    assert [(u.base_url, u.api) for u in routed if isinstance(u, Upstream)] == [
        ("https://openrouter.ai/api", "anthropic-messages"),
        ("https://openrouter.ai/api/v1", "openai-completions"),
    ]


@override_settings(STARTER_GATEWAY_UPSTREAMS={"openrouter": "http://proxy.corp:3128/or"})
def test_an_operators_move_keeps_the_real_path(alice: User) -> None:
    with_keys(alice, openrouter="sk-or")
    models = pi_registry()["openrouter"]
    claude = next(m.id for m in models if m.api == "anthropic-messages")
    upstream = upstream_for(personal_organisation_of(alice), "openrouter", claude)
    assert isinstance(upstream, Upstream)
    assert upstream.base_url == "http://proxy.corp:3128/or/api"
    assert moved("https://api.anthropic.com", "http://127.0.0.1:9/") == "http://127.0.0.1:9"


def test_refusals_say_what_is_missing(alice: User, bob: User) -> None:
    CustomProvider.objects.create(
        organisation=personal_organisation_of(bob),
        user=bob,
        name="bobs",
        base_url="http://x/v1",
        api_key="k",
    )
    unknown = upstream_for(personal_organisation_of(alice), "bobs", "")
    assert isinstance(unknown, Refusal) and (unknown.status, unknown.code) == (
        404,
        "provider_unknown",
    )
    no_key = upstream_for(personal_organisation_of(alice), "anthropic", "")
    assert isinstance(no_key, Refusal) and (no_key.status, no_key.code) == (
        403,
        "provider_key_missing",
    )
    with_keys(alice, azure="az-key")
    azure = upstream_for(personal_organisation_of(alice), "azure", "gpt-5")
    assert isinstance(azure, Refusal) and azure.code == "provider_unknown"
    assert "custom provider" in azure.message
    assert "az-key" not in azure.message


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        ("anthropic-messages", (b"x-api-key", b"k1")),
        ("google-generative-ai", (b"x-goog-api-key", b"k1")),
        ("azure-openai-responses", (b"api-key", b"k1")),
        ("openai-completions", (b"authorization", b"Bearer k1")),
        ("openai-responses", (b"authorization", b"Bearer k1")),
        ("mistral-conversations", (b"authorization", b"Bearer k1")),
    ],
)
def test_each_api_takes_its_key_its_own_way(api: str, expected: tuple[bytes, bytes]) -> None:
    assert key_header(api, "k1") == expected
