"""The access log never shows a credential: a gateway token in ``?key=`` or an invitation's
single-use secret in its path."""

from __future__ import annotations

import pytest

from starter.web_server import redacted_path


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (
            "/gateway/p/google/v1/models?key=sekrit&alt=sse",
            "/gateway/p/google/v1/models?key=[redacted]&alt=sse",
        ),
        ("/invitations/Zm9vYmFyc2VjcmV0/", "/invitations/[redacted]/"),
        ("/invitations/Zm9vYmFyc2VjcmV0", "/invitations/[redacted]"),
        ("/invitations/accept/", "/invitations/accept/"),
        ("/projects/abc/", "/projects/abc/"),
    ],
)
def test_secrets_are_redacted_from_logged_paths(path: str, shown: str) -> None:
    assert redacted_path(path) == shown
