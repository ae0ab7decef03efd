"""Organisation pages: the list, one organisation (members, invitations, forms), the audit
log, the switcher, and an invitation's link. Each view parses input, calls one domain
function (organisations.actions / invitations / members) and renders or redirects."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.adapter import PENDING_INVITATION_SESSION_KEY as INVITATION_SESSION_KEY
from accounts.http import AuthenticatedHttpRequest
from organisations import actions, invitations, members
from organisations.access import organisation_for_user
from organisations.current import current_organisation
from organisations.errors import OrganisationError
from organisations.models import AuditEntry
from organisations.roles import RANK, Ability, Role, allows
from organisations.switch import switch_organisation

AUDIT_PAGE_SIZE = 50


def _detail(organisation_id: str) -> HttpResponse:
    return redirect("organisations:detail", organisation_id=organisation_id)


@login_required
@require_http_methods(["GET", "POST"])
def organisation_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":
        try:
            organisation = actions.create_organisation(request.user, request.POST.get("name", ""))
        except OrganisationError as error:
            messages.error(request, error.message)
            status = 422
        else:
            switch_organisation(request, organisation)
            messages.success(request, f"Organisation “{organisation.name}” created.")
            return _detail(organisation.public_id)
    context = {
        "memberships": actions.organisations_of(request.user),
        "current": current_organisation(request),
    }
    return render(request, "organisations/list.html", context, status=status)


@login_required
def detail(request: AuthenticatedHttpRequest, organisation_id: str) -> HttpResponse:
    organisation, role = organisation_for_user(request.user, organisation_id, Ability.VIEW)
    can_manage = allows(role, Ability.MANAGE)
    # The roles this person may give (invitations and role changes): at most their own.
    grantable = [choice for choice in Role if can_manage and RANK[choice] <= RANK[role]]
    context = {
        "organisation": organisation,
        "role": role,
        "can_manage": can_manage,
        "is_owner": role == Role.OWNER,
        "members": members.members_of(organisation),
        "invitations": invitations.pending_invitations(organisation) if can_manage else [],
        "roles": grantable,
        "new_link": request.session.pop("new_invitation_link", None),
    }
    return render(request, "organisations/detail.html", context)


def _act(
    request: AuthenticatedHttpRequest, organisation_id: str, done: str, action: Callable[[], object]
) -> HttpResponse:
    try:
        action()
    except OrganisationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return _detail(organisation_id)


@login_required
@require_POST
def rename(request: AuthenticatedHttpRequest, organisation_id: str) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.MANAGE)
    name = request.POST.get("name", "")
    return _act(
        request, organisation_id, "Organisation renamed.",
        lambda: actions.rename_organisation(request.user, organisation, name),
    )  # fmt: skip


@login_required
@require_POST
def delete(request: AuthenticatedHttpRequest, organisation_id: str) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.OWN)
    if request.POST.get("confirm_name", "").strip() != organisation.name:
        messages.error(request, "Type the organisation's name exactly to confirm the deletion.")
        return _detail(organisation_id)
    try:
        actions.delete_organisation(request.user, organisation)
    except OrganisationError as error:
        messages.error(request, error.message)
        return _detail(organisation_id)
    messages.success(request, f"Organisation “{organisation.name}” deleted.")
    return redirect("organisations:list")


@login_required
@require_POST
def invite(request: AuthenticatedHttpRequest, organisation_id: str) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.MANAGE)
    try:
        new = invitations.invite(
            request.user, organisation, request.POST.get("email", ""),
            request.POST.get("role", Role.MEMBER),
        )  # fmt: skip
    except OrganisationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Invitation mailed to {new.invitation.email}.")
        # Shown once on the next page (the link can also be passed on by hand).
        request.session["new_invitation_link"] = new.url
    return _detail(organisation_id)


@login_required
@require_POST
def revoke(
    request: AuthenticatedHttpRequest, organisation_id: str, invitation_id: int
) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.MANAGE)
    return _act(
        request, organisation_id, "Invitation revoked.",
        lambda: invitations.revoke_invitation(request.user, organisation, invitation_id),
    )  # fmt: skip


@login_required
@require_POST
def change_role(
    request: AuthenticatedHttpRequest, organisation_id: str, user_id: int
) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.MANAGE)
    role = request.POST.get("role", "")
    return _act(
        request, organisation_id, "Role changed.",
        lambda: members.change_role(request.user, organisation, user_id, role),
    )  # fmt: skip


@login_required
@require_POST
def remove(request: AuthenticatedHttpRequest, organisation_id: str, user_id: int) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.MANAGE)
    return _act(
        request, organisation_id, "Member removed.",
        lambda: members.remove_member(request.user, organisation, user_id),
    )  # fmt: skip


@login_required
@require_POST
def leave(request: AuthenticatedHttpRequest, organisation_id: str) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.VIEW)
    try:
        members.leave(request.user, organisation)
    except OrganisationError as error:
        messages.error(request, error.message)
        return _detail(organisation_id)
    messages.success(request, f"You left “{organisation.name}”.")
    return redirect("organisations:list")


@login_required
@require_POST
def switch(request: AuthenticatedHttpRequest, organisation_id: str) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.VIEW)
    switch_organisation(request, organisation)
    home = reverse("projects:home")
    if "application/json" in request.headers.get("Accept", ""):  # the command palette
        return JsonResponse({"ok": True, "message": f"Now in {organisation.name}.", "home": home})
    return redirect(home)


@login_required
def audit_log(request: AuthenticatedHttpRequest, organisation_id: str) -> HttpResponse:
    organisation, _ = organisation_for_user(request.user, organisation_id, Ability.MANAGE)
    entries = AuditEntry.objects.filter(organisation=organisation).order_by("-created_at", "-pk")
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "organisations/audit.html", {"organisation": organisation, "page": page})


def invitation(request: HttpRequest, secret: str) -> HttpResponse:
    """The mailed link: keep its secret in the session (server-side) and continue at a URL
    without it, so no later page, redirect or sign-up step carries the secret."""
    try:
        invitations.invitation_for_secret(secret)
    except OrganisationError as error:
        request.session.pop(INVITATION_SESSION_KEY, None)
        return _unusable(request, error)
    request.session[INVITATION_SESSION_KEY] = secret
    return redirect("organisations:invitation_pending")


def _unusable(request: HttpRequest, error: OrganisationError) -> HttpResponse:
    return render(
        request, "organisations/invitation_unusable.html", {"message": error.message},
        status=error.status,
    )  # fmt: skip


@require_http_methods(["GET", "POST"])
def invitation_pending(request: HttpRequest) -> HttpResponse:
    """The invitation kept in the session. Signed in with the invited (verified) address:
    one POST accepts. Not signed in: sign up (the address filled in) or log in; after
    verifying, accounts.adapter sends the person back here."""
    secret = request.session.get(INVITATION_SESSION_KEY)
    if not isinstance(secret, str):
        return _unusable(
            request, OrganisationError("Open the invitation link from your e-mail again.", 404)
        )
    try:
        found = invitations.invitation_for_secret(secret)
    except OrganisationError as error:
        request.session.pop(INVITATION_SESSION_KEY, None)
        return _unusable(request, error)
    user = request.user
    if not user.is_authenticated:
        signup = reverse("account_signup") + "?" + urlencode({"email": found.email})
        context = {"invitation": found, "signup_url": signup}
        return render(request, "organisations/invitation.html", context)
    matches = invitations.email_matches(user, found.email)
    if request.method == "POST" and matches:
        try:
            invitations.accept_invitation(user, secret)
        except OrganisationError as error:
            messages.error(request, error.message)
        else:
            request.session.pop(INVITATION_SESSION_KEY, None)
            switch_organisation(request, found.organisation)
            messages.success(request, f"You joined “{found.organisation.name}”.")
            return redirect("projects:home")
    context = {"invitation": found, "matches": matches}
    return render(request, "organisations/invitation.html", context)
