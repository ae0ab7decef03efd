"""Settings for Starter, driven entirely by the environment with safe local defaults.

Every variable read here is listed in the README's settings table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cryptography.fernet import Fernet
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from starter.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    persistent_secret,
    port_list,
    random_database_password,
    random_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("STARTER_DATA_DIR", str(BASE_DIR / "var"))).resolve()

# Off unless asked for: an error page in debug mode shows the URL map and settings.
# scripts/run turns it on for local development.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "") or persistent_secret(
    DATA_DIR, "secret_key", random_secret_key
)
# Fernet keys, newest first: the first encrypts, all decrypt (see accounts/crypto.py).
ENCRYPTION_KEYS = env_list("STARTER_ENCRYPTION_KEYS", []) or [
    persistent_secret(DATA_DIR, "encryption_key", lambda: Fernet.generate_key().decode())
]

SITE_URL = env_str("STARTER_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_IS_HTTPS = urlparse(SITE_URL).scheme == "https"
_SITE = urlparse(SITE_URL)
_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
_SITE_HOST = f"[{_SITE.hostname}]" if ":" in (_SITE.hostname or "") else (_SITE.hostname or "")
# The dashboard answers on its own host only (on a loopback name, on all three); preview hosts
# never reach Django (starter/asgi.py routes them to the preview proxy first).
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", _LOOPBACK_HOSTS if _SITE_HOST in _LOOPBACK_HOSTS else [_SITE_HOST]
)
# Compared whole (scheme, host and port) by Django's CSRF check and by the websockets'
# origin check (projects/relay/auth.py); the site's own origin is always one of them.
CSRF_TRUSTED_ORIGINS = list(
    dict.fromkeys([f"{_SITE.scheme}://{_SITE.netloc}", *env_list("CSRF_TRUSTED_ORIGINS", [])])
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "channels",
    "ninja",  # the API docs page and its Swagger UI files, served locally (no CDN)
    "accounts",
    "organisations",
    "sprites",
    "projects",
    "gateway",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "starter.security_headers.content_security_policy_middleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "starter.urls"
ASGI_APPLICATION = "starter.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "organisations.context.organisations",
            ],
        },
    },
]


def _database_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise RuntimeError("DATABASE_URL must be a postgresql:// URL")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.path.lstrip("/") or "starter",
        "USER": unquote(parsed.username or "starter"),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
        "CONN_MAX_AGE": 0,
        "TEST": {"NAME": "test_" + (parsed.path.lstrip("/") or "starter")},
    }


def _local_database_url() -> str:
    # The role scripts/setup creates: not a superuser, so a Sprite that reaches PostgreSQL
    # cannot own the machine; its password is generated once and read by setup too.
    password = persistent_secret(DATA_DIR, "database_password", random_database_password)
    return f"postgresql://starter:{password}@127.0.0.1:5432/starter"


DATABASE_URL = env_str("DATABASE_URL", "") or _local_database_url()
DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Prefix of Starter's own Redis keys (locks, presence), so installs can share one Redis.
STARTER_REDIS_PREFIX = env_str("STARTER_REDIS_PREFIX", "starter")
# Django's cache is Redis too, so that allauth's rate limits (sign-up, password reset…)
# hold across web processes instead of counting per process.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": STARTER_REDIS_PREFIX,
    }
}
# Timeouts of the async Redis connections of the channel layer and the relay (redis-py 8.1,
# channels-redis 4.3). redis-py's default socket timeout (5 s) equals channels-redis's
# blocking pop (BZPOPMIN with RedisChannelLayer.brpop_timeout = 5 s): an idle receive()
# then raised TimeoutError after 5 s, which ended every consumer and relay reader that
# waited on the layer. Reads get three times the pop's time; a dead peer is found by the
# TCP keepalive redis-py sets (30 s idle, then 3 probes 5 s apart) and by a PING before a
# command on a connection idle for over 10 s. Pub/sub reads block without a timeout
# (redis-py passes math.inf for get_message(timeout=None)) and rely on the keepalive.
# tests/relay/test_relay_faults.py idles past 5 s.
REDIS_CONNECTION_OPTIONS: dict[str, Any] = {
    "socket_timeout": 15.0,
    "socket_connect_timeout": 3.0,
    "socket_keepalive": True,
    "health_check_interval": 10,
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # One immediate retry on a new connection (a pooled one that a restarted Redis
            # closed), not redis-py's default of ten over seconds: a Redis that is down must
            # reach the relay's readers as an error, since a restarted Redis has forgotten
            # their groups and they must join again (projects/relay/supervision.py).
            "hosts": [
                {"address": REDIS_URL, "retry": Retry(NoBackoff(), 1), **REDIS_CONNECTION_OPTIONS}
            ],
            "capacity": 2000,
            "expiry": 30,
            # Groups and channels under the instance's prefix, as the cache and Celery's
            # keys are: two instances (or two test workers) sharing one Redis must never
            # receive each other's project events.
            "prefix": f"{STARTER_REDIS_PREFIX}:asgi",
        },
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "projects:home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Mandatory: nobody can hold an account for an address they cannot read (otherwise one
# could pre-register a victim's address and keep access after the victim resets it).
ACCOUNT_EMAIL_VERIFICATION = env_str("STARTER_EMAIL_VERIFICATION", "mandatory")
# Only in the browser that signed up (allauth checks the session), so a leaked link alone
# does not log anyone in.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
ACCOUNT_SESSION_REMEMBER = True
# Links in e-mails come from STARTER_SITE_URL, never from the request's Host.
ACCOUNT_ADAPTER = "accounts.adapter.StarterAccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Starter] "
# Failed logins are limited by accounts/login_limits.py (both login forms, admin
# included, in Redis); allauth's own failure limit is off so there is one rule, one message.
# Its limit on all login posts per IP stays, above the failure limit.
ACCOUNT_RATE_LIMITS = {"login_failed": None, "login": "60/m/ip"}
STARTER_LOGIN_FAILURE_LIMIT = env_int("STARTER_LOGIN_FAILURE_LIMIT", 30)
STARTER_LOGIN_FAILURE_WINDOW = env_int("STARTER_LOGIN_FAILURE_WINDOW", 15 * 60)

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Starter <no-reply@starter.localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # Browser libraries come pinned from package-lock.json, not from a CDN: only the files
    # the pages load (starter/vendor_files.py).
    "starter.vendor_files.VendorFinder",
]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HTTPS follows from the site URL: an https:// site gets secure cookies, HSTS and a
# redirect from plain HTTP; a local http:// one gets none of them.
SESSION_COOKIE_SECURE = SITE_IS_HTTPS
CSRF_COOKIE_SECURE = SITE_IS_HTTPS
SECURE_SSL_REDIRECT = env_bool("STARTER_SSL_REDIRECT", SITE_IS_HTTPS)
SECURE_HSTS_SECONDS = env_int("STARTER_HSTS_SECONDS", 365 * 24 * 3600) if SITE_IS_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STARTER_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is hard to undo (browsers ship the list), so it is the operator's decision;
# without it `check --deploy` would warn (W021) on every install.
SECURE_HSTS_PRELOAD = env_bool("STARTER_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if env_bool("STARTER_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets this header itself (and strips a client's own).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies in front of the app whose X-Forwarded-For is trusted for the client's IP (rate
# limits count per IP): one behind a TLS proxy, none otherwise.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int(
    "STARTER_TRUSTED_PROXY_COUNT", 1 if env_bool("STARTER_BEHIND_TLS_PROXY", False) else 0
)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("STARTER_MAX_REQUEST_BYTES", 5 * 1024 * 1024)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
# A lifecycle task is acknowledged when it ends, not when it starts: a worker that dies
# mid-step leaves the message unacknowledged. In a prefork pool a killed child's task is
# requeued at once (reject_on_worker_lost); when the whole worker dies, Redis gives the
# message back only after the visibility timeout. That timeout must outlast the longest
# step plus the longest retry countdown (a living worker's message would otherwise be
# delivered twice), so it is minutes: the prompt path after a killed worker is the
# watchdog (projects.tasks.resume_interrupted_work, every STARTER_RESUME_INTERVAL_SECONDS)
# seeing the dead worker's work lease run out; redelivery is the backstop for the steps
# the watchdog does not resume (wake, sleep, environment sync), and a no-op for the rest.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("STARTER_TASK_VISIBILITY_TIMEOUT_SECONDS", 15 * 60),
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

STARTER_SPRITES_BACKEND = env_str("STARTER_SPRITES_BACKEND", "local")
STARTER_SPRITES_API_URL = env_str("STARTER_SPRITES_API_URL", "https://api.sprites.dev")
STARTER_SPRITES_TOKEN = env_str("STARTER_SPRITES_TOKEN", "")
# How local Sprites are kept apart: "strict" (own uid, namespaces, network; needs root,
# bubblewrap, passt and nftables) or the development mode "single-user".
STARTER_SPRITE_ISOLATION = env_str("STARTER_SPRITE_ISOLATION", "strict")
# Ports of this machine's loopback that every local Sprite may reach (a local model
# server, say): "11434" or "11434,20000-20010". Nothing else of this machine is reachable.
STARTER_SPRITE_LOOPBACK_PORTS = port_list(env_str("STARTER_SPRITE_LOOPBACK_PORTS", ""))
STARTER_IDLE_SLEEP_SECONDS = env_int("STARTER_IDLE_SLEEP_SECONDS", 30 * 60)
# A bridge that says its agent is busy keeps the project awake while its event log moves,
# and for at most this long in one stretch (a run stuck, or a bridge that lies, stops
# counting as use then).
STARTER_MAX_BUSY_AWAKE_SECONDS = env_int("STARTER_MAX_BUSY_AWAKE_SECONDS", 12 * 60 * 60)
# Fly: how often beat checks that each running project's Sprite services match the
# services its agent defined (the relay does it at once for a project somebody watches).
STARTER_SERVICE_RECONCILE_SECONDS = env_int("STARTER_SERVICE_RECONCILE_SECONDS", 10)
# The lease of a worker's claim on a project: renewed in the background while the step
# runs, so it is how long a killed worker's claim outlives it.
STARTER_WORK_LOCK_SECONDS = env_int("STARTER_WORK_LOCK_SECONDS", 5)
# How often beat's watchdog looks for steps whose worker died (a cheap query).
STARTER_RESUME_INTERVAL_SECONDS = env_int("STARTER_RESUME_INTERVAL_SECONDS", 2)
# Per-token requests a minute on the REST API's agent and exec endpoints.
STARTER_RATE_LIMITS = {
    "agent": env_int("STARTER_RATE_LIMIT_AGENT", 120),
    "exec": env_int("STARTER_RATE_LIMIT_EXEC", 60),
}
# Apps are previewed on <project>.<this domain>, a registrable domain of its own so that a
# preview can set no cookie for the dashboard or for another preview. Browsers refuse
# "Domain=localhost" (a suffix like a public one), so <project>.localhost cannot share cookies;
# in production: a domain on the Public Suffix List, never under the dashboard's (README).
STARTER_PREVIEW_DOMAIN = env_str("STARTER_PREVIEW_DOMAIN", "localhost")


def _url_map(name: str) -> dict[str, str]:
    """``{"name": "https://…"}`` from a JSON object in the environment ({} when unset)."""
    raw = env_str(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a JSON object of names to URLs") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and urlparse(v).scheme in {"http", "https"}
        for k, v in value.items()
    ):
        raise RuntimeError(f"{name} must be a JSON object of names to http(s) URLs")
    return {k: v.rstrip("/") for k, v in value.items()}


# The model gateway (gateway/): the URL Sprites reach it at (pi's baseUrl is
# <this>/p/<provider>), and, for built-in providers, where they really are when not where
# pi's model table says: {"anthropic": "http://proxy.corp:8080"} replaces the scheme, host
# and port (and prepends any path) of every base URL of that provider.
# A site on loopback (development, one machine) has local Sprites, which reach only the ports
# they are given: the gateway's own process (Procfile ``gateway``, gateway/asgi.py) on
# STARTER_GATEWAY_PORT, so they never reach the dashboard's port. A public site serves the
# gateway under its own URL too (starter/asgi.py).
STARTER_GATEWAY_PORT = env_int("STARTER_GATEWAY_PORT", 8001)
STARTER_GATEWAY_URL = env_str(
    "STARTER_GATEWAY_URL",
    f"http://127.0.0.1:{STARTER_GATEWAY_PORT}/gateway"
    if _SITE_HOST in _LOOPBACK_HOSTS
    else SITE_URL + "/gateway",
).rstrip("/")
STARTER_GATEWAY_UPSTREAMS = _url_map("STARTER_GATEWAY_UPSTREAMS")
# Host-only cookies (no Domain attribute): the dashboard's never reach another host.
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
