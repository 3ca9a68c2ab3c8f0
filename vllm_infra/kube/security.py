"""Security contexts: a container's (the Kubernetes "restricted" Pod Security Standard) and a pod's (volume
ownership)."""

from __future__ import annotations

from typing import Literal

__all__ = ["pod_security_context", "restricted_security_context"]


def restricted_security_context(
    run_as_user: int, read_only_root: bool, *, run_as_group: int | Literal["user"] | None = "user"
) -> dict:
    """A container security context that satisfies the Kubernetes "restricted" Pod Security Standard: non-root
    ``run_as_user``, no privilege escalation, every capability dropped, the runtime's default seccomp profile.

    ``run_as_group`` is the primary group: ``"user"`` (the default) is the user's own id, None leaves the image's.

    >>> restricted_security_context(65532, True, run_as_group=None)["runAsUser"]
    65532
    """
    context: dict = {"runAsNonRoot": True, "runAsUser": run_as_user}
    if run_as_group is not None:
        context["runAsGroup"] = run_as_user if run_as_group == "user" else run_as_group
    context.update(
        {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": read_only_root,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    )
    return context


def pod_security_context(run_as_user: int) -> dict:
    """The pod-level part: volumes group-owned by the user's group, re-chowned only when the root of the volume is
    not already (a recursive chown of hundreds of GiB of weights would delay every start)."""
    return {"fsGroup": run_as_user, "fsGroupChangePolicy": "OnRootMismatch"}
