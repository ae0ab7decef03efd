"""Users, their settings (with encrypted secrets) and their personal API tokens."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models

from accounts.fields import EncryptedTextField
from bridge_agent.protocol import THINKING_LEVELS


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an e-mail address (no username)."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email


class UserSettings(models.Model):
    """The seed's per-user settings. Secret values are encrypted and never shown back."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="starter_settings")
    default_provider = models.CharField(max_length=64, blank=True)
    default_model = models.CharField(max_length=200, blank=True)
    default_thinking_level = models.CharField(
        max_length=16, default="off", choices=[(level, level) for level in THINKING_LEVELS]
    )
    # Provider keys and the Sprites token belong to an organisation (organisations.models).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user settings"
        verbose_name_plural = "user settings"

    def __str__(self) -> str:
        return f"settings of {self.user}"


TOKEN_PREFIX = "st_"  # noqa: S105  (a public marker, not a secret)


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough (no salt/KDF needed).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)

    def for_user(self, user: User) -> ApiTokenQuerySet:
        return self.filter(user=user)


class ApiToken(models.Model):
    """A personal token for the REST API. Only its SHA-256 is stored; shown once."""

    SCOPE_FULL = "full"
    SCOPE_GENERAL_AGENT = "general_agent"
    SCOPES = [(SCOPE_FULL, "Full access"), (SCOPE_GENERAL_AGENT, "General agent tools")]

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=32, choices=SCOPES, default=SCOPE_FULL)
    # A token acts for its user in every organisation the user belongs to, or only in this
    # one. (A string reference: organisations/ builds on accounts/, not the other way.)
    organisation = models.ForeignKey(
        "organisations.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[ApiTokenQuerySet] = ApiTokenQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class CustomProvider(models.Model):
    """An organisation's own model endpoint (Ollama, vLLM, LiteLLM, a company gateway…).

    It reaches every Sprite of the organisation's projects as an entry of pi's models.json
    pointing at the model gateway (gateway.pi_config); the key stays in the control plane,
    added by the gateway.
    """

    API_OPENAI = "openai-completions"
    API_ANTHROPIC = "anthropic-messages"
    APIS = [
        (API_OPENAI, "OpenAI-compatible (chat completions)"),
        (API_ANTHROPIC, "Anthropic-compatible (messages)"),
    ]

    # (A string reference: organisations/ builds on accounts/, not the other way.)
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="custom_providers"
    )
    # Who added it (kept for the record; the provider is the organisation's).
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="custom_providers"
    )
    name = models.CharField(max_length=40)
    api = models.CharField(max_length=32, choices=APIS, default=API_OPENAI)
    base_url = models.URLField(max_length=500)
    model_ids = models.JSONField(default=list)
    api_key = EncryptedTextField(blank=True, default="")
    # US dollars per million tokens, entered by the user; unset prices mean "price unknown"
    # in the ledger (gateway.pricing), never a cost of zero.
    price_input = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_output = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_cache_read = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_cache_write = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="custom_provider_unique_org_name"
            )
        ]

    def __str__(self) -> str:
        return self.name
