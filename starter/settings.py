"""Settings for Starter, driven entirely by the environment with safe local defaults.

Every variable read here is listed in the README's settings table.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from cryptography.fernet import Fernet

from starter.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    persistent_secret,
    random_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("STARTER_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "") or persistent_secret(
    DATA_DIR, "secret_key", random_secret_key
)
# Fernet keys, newest first: the first encrypts, all decrypt (see accounts/crypto.py).
ENCRYPTION_KEYS = env_list("STARTER_ENCRYPTION_KEYS", []) or [
    persistent_secret(DATA_DIR, "encryption_key", lambda: Fernet.generate_key().decode())
]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", ".localhost"])
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", ["http://127.0.0.1:8000", "http://localhost:8000"]
)
SITE_URL = env_str("STARTER_SITE_URL", "http://127.0.0.1:8000")

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
    "sprites",
    "projects",
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
        "USER": parsed.username or "postgres",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
        "CONN_MAX_AGE": 0,
        "TEST": {"NAME": "test_" + (parsed.path.lstrip("/") or "starter")},
    }


DATABASE_URL = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/starter")
DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Prefix of Starter's own Redis keys (locks, presence), so installs can share one Redis.
STARTER_REDIS_PREFIX = env_str("STARTER_REDIS_PREFIX", "starter")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 2000, "expiry": 30},
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
ACCOUNT_EMAIL_VERIFICATION = env_str("STARTER_EMAIL_VERIFICATION", "none")
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
ACCOUNT_SESSION_REMEMBER = True

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
_NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Browser libraries come pinned from package-lock.json, not from a CDN.
    ("vendor/htmx", _NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/marked", _NODE_MODULES / "marked" / "lib"),
    ("vendor/dompurify", _NODE_MODULES / "dompurify" / "dist"),
    ("vendor/highlight", _NODE_MODULES / "highlight.js" / "lib"),
    # Its languages as ES modules: imported, never evaluated from a string (see render.js).
    ("vendor/highlight-es", _NODE_MODULES / "highlight.js" / "es"),
    ("vendor/highlight-styles", _NODE_MODULES / "highlight.js" / "styles"),
]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("STARTER_MAX_REQUEST_BYTES", 5 * 1024 * 1024)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

STARTER_SPRITES_BACKEND = env_str("STARTER_SPRITES_BACKEND", "local")
STARTER_SPRITES_API_URL = env_str("STARTER_SPRITES_API_URL", "https://api.sprites.dev")
STARTER_SPRITES_TOKEN = env_str("STARTER_SPRITES_TOKEN", "")
STARTER_IDLE_SLEEP_SECONDS = env_int("STARTER_IDLE_SLEEP_SECONDS", 30 * 60)
# How long a worker's claim on a project outlives the worker (renewed at every step).
STARTER_WORK_LOCK_SECONDS = env_int("STARTER_WORK_LOCK_SECONDS", 60)
# Per-token requests a minute on the REST API's agent and exec endpoints.
STARTER_RATE_LIMITS = {
    "agent": env_int("STARTER_RATE_LIMIT_AGENT", 120),
    "exec": env_int("STARTER_RATE_LIMIT_EXEC", 60),
}
STARTER_PREVIEW_DOMAIN = env_str("STARTER_PREVIEW_DOMAIN", "preview.localhost")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
