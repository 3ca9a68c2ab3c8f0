"""Container security contexts meet the "restricted" Pod Security Standard (Pod Security Standards, Restricted:
runAsNonRoot true, allowPrivilegeEscalation false, capabilities drop ALL, seccompProfile RuntimeDefault or
Localhost); the pod's context makes volumes group-owned without a recursive chown."""

from __future__ import annotations

import pytest

from vllm_infra.kube.security import pod_security_context, restricted_security_context


def test_a_restricted_context_runs_as_the_user_and_its_group():
    assert restricted_security_context(2000, True) == {
        "runAsNonRoot": True,
        "runAsUser": 2000,
        "runAsGroup": 2000,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_the_group_can_be_another_or_the_images():
    assert restricted_security_context(101, True, run_as_group=3000)["runAsGroup"] == 3000
    assert "runAsGroup" not in restricted_security_context(65532, True, run_as_group=None)


def test_a_writable_root_filesystem_is_a_choice():
    assert restricted_security_context(2000, False)["readOnlyRootFilesystem"] is False


@pytest.mark.parametrize("run_as_group", ["user", None, 3000])
def test_every_variant_meets_the_restricted_standard(run_as_group):
    context = restricted_security_context(1000, False, run_as_group=run_as_group)
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
    assert context["allowPrivilegeEscalation"] is False
    assert "ALL" in context["capabilities"]["drop"] and "add" not in context["capabilities"]
    assert context["seccompProfile"]["type"] in {"RuntimeDefault", "Localhost"}
    assert "privileged" not in context


def test_the_pod_context_makes_volumes_group_owned_and_chowns_only_on_mismatch():
    assert pod_security_context(2000) == {"fsGroup": 2000, "fsGroupChangePolicy": "OnRootMismatch"}
