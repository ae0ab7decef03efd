"""Signed, short-lived links that open a project's preview, and the cookie they leave.

The preview of a project lives on its own origin, ``<public_id>.<STARTER_PREVIEW_DOMAIN>``,
so nothing the agent builds can read the dashboard's cookies. The dashboard hands out a
link (``preview_link``) that is valid for ``LINK_MAX_AGE`` seconds and bound to the person
and the project; opening it on the preview origin trades it for a cookie of that host only
(``projects/preview/proxy.py``), which lasts ``COOKIE_MAX_AGE``. Both are Django-signed
values with their own salts, so one can never be used as the other.

Each HTTP service has a preview of its own, ``<public_id>-<port>.<STARTER_PREVIEW_DOMAIN>``
(public ids are letters and digits, so the ``-`` is unambiguous); the plain host keeps meaning
the bridge's current app port. Links and cookies name the port they were made for (none for
the plain host), so a cookie of one preview host opens no other, even of the same project.

The link carries its token in the fragment (``…/__starter_preview__#<token>``), which a
browser never sends: a static page on the preview origin posts it (``LINK_SCRIPT_PATH``), so
the token is in no request line, access log or ``Referer``.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlparse

from django.conf import settings
from django.core import signing
from django.http import Http404

from organisations.access import role_of
from organisations.roles import Ability, allows
from projects.models import Project
from projects.public_ids import looks_like_public_id

LINK_PATH = "/__starter_preview__"
LINK_SCRIPT_PATH = LINK_PATH + "/open.js"
LINK_MAX_AGE = 120
COOKIE_NAME = "starter_preview"
COOKIE_MAX_AGE = 8 * 3600
_LINK_SALT = "projects.preview.proxy.link"
_COOKIE_SALT = "projects.preview.proxy.cookie"


class PreviewDenied(Exception):
    """The link or cookie is missing, forged, expired, or for another project."""


class PreviewTarget(NamedTuple):
    """What a preview host names: a project, and the app port (None: the default one)."""

    public_id: str
    port: int | None


def clean_preview_port(port: object) -> int:
    """A port a preview may name (1 to 65535); ProjectError-free: ValueError otherwise."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("A preview port is a number from 1 to 65535.")
    return port


def preview_host(public_id: str, port: int | None = None) -> str:
    label = public_id if port is None else f"{public_id}-{clean_preview_port(port)}"
    return f"{label}.{settings.STARTER_PREVIEW_DOMAIN}".lower()


def preview_target_from_host(host: str) -> PreviewTarget | None:
    """The project and port a preview Host header names (the Host's own port ignored), or
    None for other hosts and for labels that are no preview (a port with a leading zero, out
    of range, or a label that is not a public id)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    suffix = "." + settings.STARTER_PREVIEW_DOMAIN.lower()
    name = name.lower().rstrip(".")
    if not name.endswith(suffix):
        return None
    label = name[: -len(suffix)]
    if not label or "." in label:
        return None
    public_id, dash, port_text = label.partition("-")
    if not dash:
        return PreviewTarget(label, None) if looks_like_public_id(label) else None
    if not looks_like_public_id(public_id) or not port_text.isdigit() or port_text[0] == "0":
        return None
    if len(port_text) > 5 or not 1 <= int(port_text) <= 65535:
        return None
    return PreviewTarget(public_id, int(port_text))


def public_id_from_host(host: str) -> str | None:
    """The project a preview Host header names (port ignored), or None for other hosts."""
    target = preview_target_from_host(host)
    return target.public_id if target is not None else None


def is_preview_host(host: str) -> bool:
    """Whether a Host header (or an origin's ``host[:port]``) names a project's preview."""
    return preview_target_from_host(host) is not None


def preview_origin(
    public_id: str, dashboard_url: str | None = None, port: int | None = None
) -> str:
    """The preview origin, on the scheme and port the dashboard is served on (the same
    server answers both)."""
    base = urlparse(dashboard_url or settings.SITE_URL)
    server_port = f":{base.port}" if base.port else ""
    return f"{base.scheme or 'http'}://{preview_host(public_id, port)}{server_port}"


def preview_link(
    user: Any, project: Project, dashboard_url: str | None = None, port: int | None = None
) -> str:
    """A link that opens ``project``'s preview (of ``port``, or the default app port) for
    ``user`` (a member of its organisation) for a short while.

    ``dashboard_url`` is the dashboard's URL as the browser sees it (for example
    ``request.build_absolute_uri("/")``); without it ``STARTER_SITE_URL`` gives the port.
    """
    # Any member of the project's organisation may look (VIEW); the proxy checks the
    # membership again when the link is opened, so a removed member's link stops working.
    if not allows(role_of(user, project.organisation_id), Ability.VIEW):
        raise Http404("No such project.")
    token = signing.dumps(_claims(user.pk, project.public_id, port), salt=_LINK_SALT, compress=True)
    origin = preview_origin(project.public_id, dashboard_url, port)
    return f"{origin}{LINK_PATH}#{token}"


def _claims(user_id: int, public_id: str, port: int | None) -> dict[str, Any]:
    claims: dict[str, Any] = {"u": user_id, "p": public_id}
    if port is not None:
        claims["o"] = clean_preview_port(port)
    return claims


def _read(value: str, salt: str, max_age: int, public_id: str, port: int | None) -> int:
    try:
        claims = signing.loads(value, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise PreviewDenied("This preview link has expired; open the preview again.") from None
    except signing.BadSignature:
        raise PreviewDenied("This preview link is not valid.") from None
    if not isinstance(claims, dict) or claims.get("p") != public_id:
        raise PreviewDenied("This preview link is for another project.")
    if claims.get("o") != port:
        raise PreviewDenied("This preview link is for another port of the project.")
    user_id = claims.get("u")
    if not isinstance(user_id, int):
        raise PreviewDenied("This preview link is not valid.")
    return user_id


def read_preview_link(token: str, public_id: str, port: int | None = None) -> int:
    """The id of the person a link was made for; PreviewDenied otherwise."""
    return _read(token, _LINK_SALT, LINK_MAX_AGE, public_id, port)


def preview_cookie_value(user_id: int, public_id: str, port: int | None = None) -> str:
    return signing.dumps(_claims(user_id, public_id, port), salt=_COOKIE_SALT, compress=True)


def read_preview_cookie(value: str, public_id: str, port: int | None = None) -> int:
    return _read(value, _COOKIE_SALT, COOKIE_MAX_AGE, public_id, port)
