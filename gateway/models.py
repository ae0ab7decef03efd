"""The gateway's tables: project tokens, the usage ledger, budgets and guard settings."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.fields import EncryptedTextField
from organisations.models import Organisation
from projects.models import Project


class GatewayTokenQuerySet(models.QuerySet["GatewayToken"]):
    def active(self) -> GatewayTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class GatewayToken(models.Model):
    """The key pi in a project's Sprite presents to the gateway (never a provider key).

    Scoped to one project; revoking it (or destroying the project, which deletes it) cuts
    the Sprite off. The value is kept encrypted because the Sprite's environment is built
    afresh at every bridge start; lookups go by its SHA-256.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gateway_tokens")
    token = EncryptedTextField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = GatewayTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"gateway token of {self.project_id} ({state})"


class UsageRecord(models.Model):
    """One model call, as the provider reported it: the ledger totals are sums of these.

    Written by the gateway only (nothing from inside a Sprite is read), so it cannot be
    faked by the tenant. The project's and the organisation's ids and names are copied so the
    row outlives them. The organisation is the one that pays (its keys, its budget); the user
    is whoever created the project (who "spent" it), empty once their account is deleted.
    ``cost`` is ``None`` when the model has no known price ("price unknown"), never 0.
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Kept when the person's account is deleted: the organisation's spend (its budget) is
    # the sum of these rows and must not fall because someone left.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    organisation_public_id = models.CharField(max_length=32, blank=True, default="")
    organisation_name = models.CharField(max_length=100, blank=True, default="")
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage_records"
    )
    project_public_id = models.CharField(max_length=32, db_index=True)
    project_name = models.CharField(max_length=100)
    session_id = models.CharField(max_length=200, blank=True, default="", db_index=True)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200, blank=True, default="")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=8, null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(default=200)
    # False when the caller went away (abort) before the answer ended: the usage is what the
    # provider had reported by then.
    complete = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="usage_user_time"),
            models.Index(fields=["project_public_id", "created_at"], name="usage_project_time"),
            models.Index(fields=["organisation", "created_at"], name="usage_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def total_tokens(self) -> int:
        tokens = (self.input_tokens, self.output_tokens)
        return sum(tokens) + self.cache_read_tokens + self.cache_write_tokens


class ProjectLimits(models.Model):
    """A project's monthly budget (set by its owner) and its loop guard settings."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="limits")
    monthly_budget = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    guard_enabled = models.BooleanField(default=True)
    # The same tool call (name and arguments) this many times in a row pauses the run.
    guard_repeat_limit = models.PositiveSmallIntegerField(default=5)
    # This many model calls in one run (since the last user message) pause it.
    guard_call_limit = models.PositiveSmallIntegerField(default=60)
    # A run longer than this many minutes is paused.
    guard_run_minutes = models.PositiveSmallIntegerField(default=30)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"limits of {self.project_id}"


class OrganisationLimits(models.Model):
    """An organisation's monthly budget over all its projects (``None``: the platform's).
    Set by its admins and owners."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="gateway_limits"
    )
    monthly_budget = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "organisation limits"

    def __str__(self) -> str:
        return f"limits of organisation {self.organisation_id}"


class GatewayPolicy(models.Model):
    """The operator's rules (one row, edited in the admin): the monthly budget of an
    organisation that set none, and the most any organisation may set. Empty means no
    default / no cap. (The field names say "user" from before organisations.)"""

    default_user_monthly_budget = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True
    )
    max_user_monthly_budget = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "gateway policy"
        verbose_name_plural = "gateway policy"

    def __str__(self) -> str:
        return "Gateway policy"

    @classmethod
    def current(cls) -> GatewayPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


ZERO = Decimal("0")
