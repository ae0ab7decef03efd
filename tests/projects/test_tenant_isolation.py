"""An outsider gets 404 on every project URL; the test walks the URL list itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from projects.models import Project

# Values for the URL parameters of project URLs other than the project's id.
OTHER_PARAMETERS = {
    "action": "wake",
    "name": "STRIPE_KEY",
    "path": "README.md",
    "session_id": "abc",
    "asset_id": "1",
    "token_id": "1",
    "terminal_id": "0123456789abcdef",
}


def _project_patterns(
    resolver: URLResolver, namespace: str = ""
) -> Iterator[tuple[str, list[str]]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _project_patterns(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            parameters = list(entry.pattern.regex.groupindex)
            if "public_id" in parameters:
                yield f"{namespace}{entry.name}", parameters


PROJECT_URLS = sorted(_project_patterns(get_resolver()))


def test_there_are_project_urls_to_check() -> None:
    assert len(PROJECT_URLS) >= 7


@pytest.mark.parametrize(("url_name", "parameters"), PROJECT_URLS, ids=[n for n, _ in PROJECT_URLS])
def test_outsider_gets_404_for_every_project_url(
    url_name: str, parameters: list[str], bob_client: Client, alice_project: Project
) -> None:
    kwargs = {name: OTHER_PARAMETERS[name] for name in parameters if name != "public_id"}
    url = reverse(url_name, kwargs={"public_id": alice_project.public_id, **kwargs})
    answered = 0
    for method in ("get", "post", "put"):
        response = getattr(bob_client, method)(url)
        assert response.status_code in (404, 405), (method, url, response.status_code)
        if response.status_code == 404:
            answered += 1
            assert alice_project.name not in response.content.decode()
    assert answered, f"{url} refused every method: it was never really checked"


def test_owner_sees_the_project_page(alice_client: Client, alice_project: Project) -> None:
    response = alice_client.get(f"/p/{alice_project.public_id}/")
    assert response.status_code == 200
    assert alice_project.name in response.content.decode()


def test_anonymous_is_sent_to_login(client: Client, alice_project: Project) -> None:
    response = client.get(f"/p/{alice_project.public_id}/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
