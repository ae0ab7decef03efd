"""Signed, short-lived links that open a project's preview, and the cookie they leave.

The preview of a project lives on its own origin, ``<public_id>.<STARTER_PREVIEW_DOMAIN>``,
so nothing the agent builds can read the dashboard's cookies. The dashboard hands out a
link (``preview_link``) that is valid for ``LINK_MAX_AGE`` seconds and bound to the person
and the project; opening it on the preview origin trades it for a cookie of that host only
(``projects/preview/proxy.py``), which lasts ``COOKIE_MAX_AGE``. Both are Django-signed
values with their own salts, so one can never be used as the other.

The link carries its token in the fragment (``…/__starter_preview__#<token>``), which a
browser never sends: a static page on the preview origin posts it (``LINK_SCRIPT_PATH``), so
the token is in no request line, access log or ``Referer``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core import signing
from django.http import Http404

from projects.models import Project

LINK_PATH = "/__starter_preview__"
LINK_SCRIPT_PATH = LINK_PATH + "/open.js"
LINK_MAX_AGE = 120
COOKIE_NAME = "starter_preview"
COOKIE_MAX_AGE = 8 * 3600
_LINK_SALT = "projects.preview.proxy.link"
_COOKIE_SALT = "projects.preview.proxy.cookie"


class PreviewDenied(Exception):
    """The link or cookie is missing, forged, expired, or for another project."""


def preview_host(public_id: str) -> str:
    return f"{public_id}.{settings.STARTER_PREVIEW_DOMAIN}".lower()


def public_id_from_host(host: str) -> str | None:
    """The project a preview Host header names (port ignored), or None for other hosts."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    suffix = "." + settings.STARTER_PREVIEW_DOMAIN.lower()
    name = name.lower().rstrip(".")
    if not name.endswith(suffix):
        return None
    label = name[: -len(suffix)]
    return label if label and "." not in label else None


def is_preview_host(host: str) -> bool:
    """Whether a Host header (or an origin's ``host[:port]``) names a project's preview."""
    return public_id_from_host(host) is not None


def preview_origin(public_id: str, dashboard_url: str | None = None) -> str:
    """The preview origin, on the scheme and port the dashboard is served on (the same
    server answers both)."""
    base = urlparse(dashboard_url or settings.SITE_URL)
    port = f":{base.port}" if base.port else ""
    return f"{base.scheme or 'http'}://{preview_host(public_id)}{port}"


def preview_link(user: Any, project: Project, dashboard_url: str | None = None) -> str:
    """A link that opens ``project``'s preview for ``user`` (its owner) for a short while.

    ``dashboard_url`` is the dashboard's URL as the browser sees it (for example
    ``request.build_absolute_uri("/")``); without it ``STARTER_SITE_URL`` gives the port.
    """
    if not getattr(user, "is_authenticated", False) or project.owner_id != user.pk:
        raise Http404("No such project.")
    token = signing.dumps({"u": user.pk, "p": project.public_id}, salt=_LINK_SALT, compress=True)
    origin = preview_origin(project.public_id, dashboard_url)
    return f"{origin}{LINK_PATH}#{token}"


def _read(value: str, salt: str, max_age: int, public_id: str) -> int:
    try:
        claims = signing.loads(value, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise PreviewDenied("This preview link has expired; open the preview again.") from None
    except signing.BadSignature:
        raise PreviewDenied("This preview link is not valid.") from None
    if not isinstance(claims, dict) or claims.get("p") != public_id:
        raise PreviewDenied("This preview link is for another project.")
    user_id = claims.get("u")
    if not isinstance(user_id, int):
        raise PreviewDenied("This preview link is not valid.")
    return user_id


def read_preview_link(token: str, public_id: str) -> int:
    """The id of the person a link was made for; PreviewDenied otherwise."""
    return _read(token, _LINK_SALT, LINK_MAX_AGE, public_id)


def preview_cookie_value(user_id: int, public_id: str) -> str:
    return signing.dumps({"u": user_id, "p": public_id}, salt=_COOKIE_SALT, compress=True)


def read_preview_cookie(value: str, public_id: str) -> int:
    return _read(value, _COOKIE_SALT, COOKIE_MAX_AGE, public_id)
