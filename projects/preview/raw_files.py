"""A Sprite's HTML file shown as a page, on the project's preview origin, never the
dashboard's: the HTML viewer frames ``file_link(...)``.

The agent's HTML is hostile. It is served on ``<public_id>.<STARTER_PREVIEW_DOMAIN>`` (a
registrable domain of its own, so it can reach no dashboard cookie) and, on top of that, as
a sandboxed document (``Content-Security-Policy: sandbox allow-scripts``, without
``allow-same-origin``): its origin is opaque, so it cannot read even the preview host's
cookies or storage, cannot navigate the dashboard or open windows, and ``connect-src
'none'`` keeps it from sending anything anywhere (no fetch, no form, no beacon). Its own
inline scripts and styles run, so a report with a chart still draws.

The link is a signed value (its own salt: it can never be used as a preview link or
cookie) bound to the person, the project and the file's path, valid ``FILE_LINK_MAX_AGE``
seconds: the viewer asks for a new one each time it opens. It is a path segment, not a
fragment (an ``<iframe>`` must load the page in one request), so it is short-lived and
opens one file for reading; ``Referrer-Policy: no-referrer`` keeps it out of any request
the page could still make.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.http import Http404

from organisations.access import role_of
from organisations.roles import Ability, allows
from projects.models import Project
from projects.preview.links import LINK_PATH, preview_origin
from projects.sprite import workspace_files

FILE_PATH_PREFIX = LINK_PATH + "/file/"
FILE_LINK_MAX_AGE = 120
_FILE_SALT = "projects.preview.raw_files.file"
# What the agent's page may do in its frame: run its own inline code and draw; nothing
# that leaves the frame (no network, no forms, no navigation of another frame, no popups).
HTML_FILE_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; media-src data: blob:; "
    "connect-src 'none'; form-action 'none'; base-uri 'none'; frame-src 'none'"
)


class FileLinkDenied(Exception):
    """The link is forged, expired, or for another project."""


def file_link(user: Any, project: Project, path: str, dashboard_url: str | None = None) -> str:
    """The URL on the preview origin that shows ``path`` (already cleaned) as a page."""
    # Any member of the project's organisation may look (VIEW); the proxy checks the
    # membership again when the link is opened, so a removed member's link stops working.
    if not allows(role_of(user, project.organisation_id), Ability.VIEW):
        raise Http404("No such project.")
    token = signing.dumps(
        {"u": user.pk, "p": project.public_id, "f": path}, salt=_FILE_SALT, compress=True
    )
    return f"{preview_origin(project.public_id, dashboard_url)}{FILE_PATH_PREFIX}{token}"


def read_file_link(token: str, public_id: str) -> tuple[int, str]:
    """The person and the file a link opens; FileLinkDenied otherwise."""
    try:
        claims = signing.loads(token, salt=_FILE_SALT, max_age=FILE_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise FileLinkDenied("This link has expired; open the file again.") from None
    except signing.BadSignature:
        raise FileLinkDenied("This link is not valid.") from None
    if not isinstance(claims, dict) or claims.get("p") != public_id:
        raise FileLinkDenied("This link is for another project.")
    user_id, path = claims.get("u"), claims.get("f")
    if not isinstance(user_id, int) or not isinstance(path, str):
        raise FileLinkDenied("This link is not valid.")
    return user_id, path


def html_file_headers(length: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(length).encode()),
        (b"content-security-policy", HTML_FILE_POLICY.encode()),
        (b"cache-control", b"private, no-store"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
    ]


def read_html(project: Project, path: str) -> bytes:
    """The page's bytes: its first ``MAX_RANGE_BYTES`` (the viewer says when it is cut)."""
    return workspace_files.read_range(project, path, 0, workspace_files.MAX_RANGE_BYTES)
