"""Settings as production gets them: DEBUG off unless set, HTTPS hardening derived from an
https:// site URL, and `manage.py check --deploy` with nothing to say.

Settings are computed once at import, so each case runs in a fresh interpreter with the
environment it describes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SITE = "https://starter.example.com"

_PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name, None) for name in [
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_PROXY_SSL_HEADER",
    "ACCOUNT_EMAIL_VERIFICATION", "EMAIL_BACKEND",
]}))
"""


def _environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STARTER_", "SECURE_")) and key not in {"DEBUG", "EMAIL_BACKEND"}
    }
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "starter.settings",
            "STARTER_DATA_DIR": str(tmp_path / "data"),
            "SECRET_KEY": secrets.token_urlsafe(50),
            **overrides,
        }
    )
    return environment


def _settings(tmp_path: Path, **overrides: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS],
        cwd=ROOT,
        env=_environment(tmp_path, **overrides),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_debug_is_off_and_verification_mandatory_unless_set(tmp_path: Path) -> None:
    values = _settings(tmp_path)
    assert values["DEBUG"] is False
    assert values["ACCOUNT_EMAIL_VERIFICATION"] == "mandatory"
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert _settings(tmp_path, DEBUG="true")["DEBUG"] is True


def test_local_http_site_gets_no_https_only_settings(tmp_path: Path) -> None:
    values = _settings(tmp_path, DEBUG="true")
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0


def test_https_site_gets_secure_cookies_hsts_and_redirect(tmp_path: Path) -> None:
    values = _settings(tmp_path, STARTER_SITE_URL=SITE)
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # not trusted unless declared


def test_proxy_header_is_trusted_only_when_declared(tmp_path: Path) -> None:
    values = _settings(tmp_path, STARTER_SITE_URL=SITE, STARTER_BEHIND_TLS_PROXY="true")
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_environment(
            tmp_path,
            DEBUG="false",
            STARTER_SITE_URL=SITE,
            ALLOWED_HOSTS="starter.example.com",
            CSRF_TRUSTED_ORIGINS=SITE,
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output
