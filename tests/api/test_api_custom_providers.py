"""Custom providers over the REST API: prices in, prices out, keys never out."""

from __future__ import annotations

from decimal import Decimal

from accounts.models import CustomProvider, User
from organisations.personal import personal_organisation_of
from tests.api.conftest import API, TokenClient

PATH = f"{API}/settings/custom-providers"
BODY = {
    "api": "openai-completions",
    "base_url": "http://gpu-box:11434/v1",
    "model_ids": ["qwen-coder"],
    "api_key": "sk-box-write-only-61d2",
    "price_input": 0.15,
    "price_output": "0.6",
}


def test_a_provider_is_saved_with_prices_and_listed_without_its_key(
    alice_api: TokenClient, alice: User, bob_api: TokenClient
) -> None:
    answer = alice_api.put(f"{PATH}/gpu-box", BODY, content_type="application/json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["price_input"] == 0.15 and body["price_output"] == 0.6
    assert body["price_cache_read"] is None and body["has_key"] is True
    assert "sk-box" not in answer.content.decode()
    provider = CustomProvider.objects.get(user=alice, name="gpu-box")
    assert provider.price_output == Decimal("0.6")
    listed = alice_api.get(PATH)
    assert [p["name"] for p in listed.json()] == ["gpu-box"]
    assert "sk-box" not in listed.content.decode()
    assert bob_api.get(PATH).json() == []
    assert bob_api.delete(f"{PATH}/gpu-box").status_code == 404
    # Without prices: unknown (null), never zero; the key is kept when not sent.
    unpriced = {k: v for k, v in BODY.items() if not k.startswith(("price_", "api_key"))}
    answer = alice_api.put(f"{PATH}/gpu-box", unpriced, content_type="application/json")
    assert answer.json()["price_input"] is None and answer.json()["has_key"] is True
    assert alice_api.delete(f"{PATH}/gpu-box").status_code == 204
    assert not CustomProvider.objects.filter(organisation=personal_organisation_of(alice)).exists()


def test_bad_prices_get_a_clear_4xx(alice_api: TokenClient, alice: User) -> None:
    answer = alice_api.put(
        f"{PATH}/gpu-box", {**BODY, "price_input": -1}, content_type="application/json"
    )
    assert answer.status_code == 400
    assert "input price cannot be negative" in answer.json()["message"]
    answer = alice_api.put(
        f"{PATH}/gpu-box", {**BODY, "price_output": "cheap"}, content_type="application/json"
    )
    assert answer.status_code == 422
    assert "price_output" in answer.content.decode()
    answer = alice_api.put(
        f"{PATH}/openai", {**BODY, "price_output": 1}, content_type="application/json"
    )
    assert answer.status_code == 400 and "built-in provider" in answer.content.decode()
    assert not CustomProvider.objects.filter(organisation=personal_organisation_of(alice)).exists()
