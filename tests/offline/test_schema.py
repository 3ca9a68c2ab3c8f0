"""Every Kubernetes object the shipped stacks render is valid against the official schemas — and the check bites."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.conftest import SHIPPED_STACKS
from tests.offline.kube_schema import validate_object
from vllm_infra.offline.render import manifests


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_rendered_object_is_schema_valid(shipped_plans, stack):
    objects = manifests(shipped_plans[stack])
    assert objects, f"stack {stack} rendered no Kubernetes objects"
    for obj in objects:
        validate_object(obj)


def _deployment(shipped_plans):
    return next(o for o in manifests(shipped_plans["single"]) if o["kind"] == "Deployment")


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update({"imagePullPolicy": 3}),
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["startupProbe"].update({"httpGett": {}}),
        lambda d: d["spec"].update({"replica": 1}),
        lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),
    ],
    ids=["wrong-type", "misspelt-nested-field", "unknown-field", "missing-required"],
)
def test_a_broken_object_fails_the_schema_check(shipped_plans, break_it):
    broken = copy.deepcopy(_deployment(shipped_plans))
    break_it(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(broken)
