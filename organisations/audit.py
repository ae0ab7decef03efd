"""The audit log's one writer. Entries say who did what to which name, never a value."""

from __future__ import annotations

from organisations.models import AuditAction, AuditEntry

# Details are short facts (a role, a provider's name, an amount): nothing longer can get in,
# so a secret pasted into a name field by mistake is at least not kept whole.
MAX_DETAIL = 200


def _safe(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:MAX_DETAIL]


def record(
    organisation_id: int,
    actor: object | None,
    action: AuditAction,
    subject: str = "",
    **details: object,
) -> AuditEntry:
    """Write one entry. `subject` and `details` must be names and facts, never secrets."""
    return AuditEntry.objects.create(
        organisation_id=organisation_id,
        actor_id=getattr(actor, "pk", None),
        actor_email=str(getattr(actor, "email", "") or "")[:254],
        action=action,
        subject=subject[:300],
        details={key: _safe(value) for key, value in details.items()},
    )
