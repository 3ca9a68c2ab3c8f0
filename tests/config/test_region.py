"""Regions and clusters: what an adopted cluster has vs. what the stack installs, the storage a cache needs, Pod
Identity consumers, and who may reach a created cluster's API endpoint."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vllm_infra.config import ConfigError, StackConfig, validate_config
from vllm_infra.config.region import RegionSpec

SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]


def stack(cluster: dict[str, Any], *, storage_class: str | None = None, addons: dict | None = None) -> dict:
    """A single-model stack (snake/camel as in a stack file) on ``cluster`` in us-east-1."""
    model: dict[str, Any] = {
        "name": "llama-8b",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
    }
    if storage_class is not None:
        model["cache"] = {"storageClass": storage_class}
    region: dict[str, Any] = {"name": "us-east-1", "cluster": cluster, "vpcCidr": "10.0.0.0/16"}
    if addons:
        region["addons"] = addons
    return {"topology": "single", "regions": [region], "models": [model]}


def existing(**fields: Any) -> dict:
    return {"existing": {"name": "ml-platform", "gpuSubnetIds": SUBNETS, **fields}}


def created(**fields: Any) -> dict:
    return {"create": {"name": "vllm-use1", "subnetIds": SUBNETS, **fields}}


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        validate_config(StackConfig, data)
    return raised.value.problems


def valid(data: dict) -> StackConfig:
    return validate_config(StackConfig, copy.deepcopy(data))


# --- storage of the model cache -------------------------------------------------------------------------------------


def test_a_cache_class_an_adopted_cluster_is_not_known_to_have_is_rejected_with_both_fixes():
    (problem,) = problems(stack(existing(), storage_class="gp3"))
    assert problem.startswith("vllm-infra:models[0].cache.storageClass: gp3 ")
    assert "never bind" in problem
    # Both ways out, with their full keys: declare what exists, or have the stack create it.
    assert "vllm-infra:regions[0].cluster.existing.has.storageClasses" in problem
    assert "vllm-infra:regions[0].cluster.existing.install.gp3StorageClass: true" in problem


@pytest.mark.parametrize(
    "cluster",
    [
        existing(has={"storageClasses": ["gp3"]}),
        existing(install={"podIdentityAgent": True, "ebsCsiDriver": True, "gp3StorageClass": True}),
        existing(has={"podIdentityAgent": True, "ebsCsiDriver": True}, install={"gp3StorageClass": True}),
        created(),
    ],
    ids=["declared", "installed", "driver-declared-class-installed", "created"],
)
def test_gp3_is_accepted_where_it_exists_or_is_created(cluster):
    config = valid(stack(cluster, storage_class="gp3"))
    assert "gp3" in config.regions[0].storage_classes


def test_a_created_cluster_offers_gp3_and_with_efs_efs_sc_only():
    (problem,) = problems(stack(created(), storage_class="gp2"))
    assert problem.startswith("vllm-infra:models[0].cache.storageClass: gp2 ")
    assert "gp3" in problem and "addons.efsCsi" in problem
    assert valid(stack(created(), storage_class="efs-sc", addons={"efsCsi": True})).regions[0].storage_classes == {
        "gp3", "efs-sc"
    }  # fmt: skip


def test_efs_sc_needs_the_efs_add_on():
    (problem,) = problems(stack(existing(has={"podIdentityAgent": True}), storage_class="efs-sc"))
    assert problem.startswith("vllm-infra:models[0].cache.storageClass: efs-sc ")
    assert "vllm-infra:regions[0].addons.efsCsi: true" in problem


def test_a_cache_without_a_class_uses_the_cluster_default_unchecked():
    assert valid(stack(existing())).models[0].cache.storage_class is None


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        (
            {"install": {"gp3StorageClass": True}},
            "install.gp3StorageClass: volumes of class gp3 are made by the EBS CSI",
        ),
        ({"install": {"ebsCsiDriver": True}}, "install.ebsCsiDriver: the driver's IAM role reaches its pods through"),
        (
            {"has": {"podIdentityAgent": True}, "install": {"podIdentityAgent": True}},
            "install.podIdentityAgent and has.podIdentityAgent are both set",
        ),
        (
            {"has": {"ebsCsiDriver": True, "podIdentityAgent": True}, "install": {"ebsCsiDriver": True}},
            "install.ebsCsiDriver and has.ebsCsiDriver are both set",
        ),
        (
            {"has": {"storageClasses": ["gp3"], "ebsCsiDriver": True}, "install": {"gp3StorageClass": True}},
            "has.storageClasses lists gp3",
        ),
    ],
)
def test_install_needs_its_prerequisites_and_never_duplicates_what_the_cluster_has(fields, fragment):
    found = problems(stack(existing(**fields)))
    # The message starts with the key it is about (the exact one where a single key is wrong), then says why.
    assert any(p.startswith("vllm-infra:regions[0].cluster.existing") and fragment in p for p in found), found


# --- Pod Identity consumers -----------------------------------------------------------------------------------------


def test_efs_on_an_adopted_cluster_without_the_pod_identity_agent_names_the_key_to_set():
    found = problems(stack(existing(), addons={"efsCsi": True}))
    (problem,) = [p for p in found if "Pod Identity" in p]
    assert problem.startswith("vllm-infra:regions[0].addons.efsCsi:")
    assert "cluster.existing.install.podIdentityAgent: true" in problem
    assert "cluster.existing.has.podIdentityAgent: true" in problem


@pytest.mark.parametrize(
    ("cluster", "agent"),
    [
        (existing(), False),
        (existing(has={"podIdentityAgent": True}), True),
        (existing(install={"podIdentityAgent": True}), True),
        (created(), True),
    ],
)
def test_pod_identity_agent_follows_what_the_cluster_has_or_gets(cluster, agent):
    region = RegionSpec.model_validate({"name": "us-east-1", "cluster": cluster})
    assert region.pod_identity_agent is agent
    if agent:
        assert RegionSpec.model_validate(
            {"name": "us-east-1", "cluster": cluster, "addons": {"efsCsi": True}}
        ).pod_identity_consumers == ["addons.efsCsi"]


# --- the API endpoint of a created cluster --------------------------------------------------------------------------


def test_a_created_cluster_is_private_unless_cidrs_are_listed():
    spec = valid(stack(created())).regions[0].cluster.create
    assert spec.public_access_cidrs == ()
    spec = valid(stack(created(publicAccessCidrs=["52.0.0.0/24"]))).regions[0].cluster.create
    assert [str(c) for c in spec.public_access_cidrs] == ["52.0.0.0/24"]


def test_the_whole_internet_needs_an_explicit_acknowledgement():
    (problem,) = problems(stack(created(publicAccessCidrs=["0.0.0.0/0"])))
    assert problem.startswith("vllm-infra:regions[0].cluster.create:")
    assert "0.0.0.0/0" in problem and "publicAccessFromAnywhere: true" in problem
    accepted = valid(stack(created(publicAccessCidrs=["0.0.0.0/0"], publicAccessFromAnywhere=True)))
    assert accepted.regions[0].cluster.create.public_access_from_anywhere
    (stale,) = problems(stack(created(publicAccessCidrs=["52.0.0.0/24"], publicAccessFromAnywhere=True)))
    assert "only applies with 0.0.0.0/0" in stale


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "192.168.1.0/24", "100.64.0.0/10"])
def test_reserved_ranges_are_not_public_access_cidrs(cidr):
    (problem,) = problems(stack(created(publicAccessCidrs=[cidr])))
    assert problem.startswith("vllm-infra:regions[0].cluster.create.publicAccessCidrs:")
    assert cidr in problem and "private endpoint" in problem


def test_the_old_public_endpoint_flag_points_at_its_replacement():
    (problem,) = problems(stack(created(publicEndpoint=True)))
    assert problem.startswith("vllm-infra:regions[0].cluster.create:")
    assert "publicEndpoint was replaced by publicAccessCidrs" in problem


def test_efs_sc_is_created_by_the_efs_add_on_or_declared_never_both():
    cluster = existing(has={"podIdentityAgent": True, "storageClasses": ["efs-sc"]})
    found = problems(stack(cluster, addons={"efsCsi": True}))
    assert any(p.startswith("vllm-infra:regions[0]: addons.efsCsi creates StorageClass efs-sc") for p in found), found


def test_the_prometheus_volume_names_a_known_class_or_the_default():
    addons = {"kubePrometheusStack": True, "prometheusStorageClass": "io2"}
    (problem,) = problems(stack(existing(has={"storageClasses": ["gp3"]}), addons=addons))
    assert problem.startswith("vllm-infra:regions[0].addons.prometheusStorageClass: io2 ")
    assert "known: gp3" in problem
    assert valid(stack(created(), addons={**addons, "prometheusStorageClass": "gp3"}))
    assert valid(stack(existing(), addons={"kubePrometheusStack": True}))  # unset: the cluster's default, unchecked
