from __future__ import annotations

from projects.lifecycle.status import transition
from projects.models import Project, Status


def test_transition_follows_allowed_edges(alice_project: Project) -> None:
    assert transition(alice_project, Status.SLEEPING)
    assert alice_project.status == Status.SLEEPING
    assert not transition(alice_project, Status.BOOTSTRAPPING, only_from={Status.RUNNING})
    assert alice_project.status == Status.SLEEPING


def test_transition_is_conditional_so_a_repeat_does_nothing(alice_project: Project) -> None:
    assert transition(alice_project, Status.DESTROYING)
    assert not transition(alice_project, Status.DESTROYING)
    assert transition(alice_project, Status.DESTROYED)
    assert not transition(alice_project, Status.RUNNING)
    assert alice_project.status == Status.DESTROYED


def test_a_stale_instance_cannot_override_the_winner(alice_project: Project) -> None:
    stale = Project.objects.get(pk=alice_project.pk)
    assert transition(alice_project, Status.DESTROYING)
    # The stale copy still believes the project is running; the database decides.
    assert not transition(stale, Status.SLEEPING)
    assert stale.status == Status.DESTROYING


def test_error_keeps_a_message(alice_project: Project) -> None:
    assert transition(alice_project, Status.ERROR, message="The Sprite did not answer.")
    assert alice_project.status_message == "The Sprite did not answer."
