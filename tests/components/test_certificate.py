"""RegionalCertificate: an ACM certificate for the global and the regional name, validated through DNS records in the
hosted zone, in the region of the provider it is given."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from vllm_infra.components.certificate import (
    RegionalCertificate,
    RegionalCertificateArgs,
    certificate_names,
    validation_option,
)
from vllm_infra.offline import runner
from vllm_infra.offline.cloud import default_invokes
from vllm_infra.offline.runner import Plan, run_program
from vllm_infra.offline.stackfile import StackFile

DOMAIN = "llm.example.com"
ZONE = "Z0123456789ABCDEFGHIJ"
STACK = StackFile(stack="t", path=Path("t"), project="vllm-infra", config={}, secret_keys=[])
CERTIFICATE = "aws:acm/certificate:Certificate"
RECORD = "aws:route53/record:Record"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"


def acm_record(name: str) -> dict:
    """The CNAME ACM asks for to validate ``name`` (one per name and account, like ACM's)."""
    token = hashlib.sha256(name.encode()).hexdigest()[:32]
    return {
        "domainName": name,
        "resourceRecordName": f"_{token}.{name}.",
        "resourceRecordType": "CNAME",
        "resourceRecordValue": f"_{token[::-1]}.acm-validations.aws.",
    }


@pytest.fixture
def acm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the mock engine answer like ACM and Route 53 after a create: a certificate gets an ARN and its domain
    validation options (in reverse order, so matching by position would pick the wrong one); a record its fqdn."""
    original = runner._CaptureMocks.new_resource

    def new_resource(self, args):
        resource_id, state = original(self, args)
        if args.typ == CERTIFICATE:
            names = [state["domainName"], *state.get("subjectAlternativeNames", [])]
            state["arn"] = f"arn:aws:acm:region:000000000000:certificate/{args.name}"
            state["domainValidationOptions"] = [acm_record(name) for name in reversed(names)]
        if args.typ == RECORD and isinstance(state.get("name"), str):
            state["fqdn"] = state["name"].rstrip(".")
        return resource_id, state

    monkeypatch.setattr(runner._CaptureMocks, "new_resource", new_resource)


def certificates_program(*regions: str):
    def program() -> None:
        for region in regions:
            provider = aws.Provider(f"aws-{region}", region=region)
            certificate = RegionalCertificate(
                region,
                RegionalCertificateArgs(domain_name=DOMAIN, region=region, hosted_zone_id=ZONE),
                opts=pulumi.ResourceOptions(provider=provider),
            )
            pulumi.export(f"{region}-arn", certificate.certificate_arn)

    return program


def plan_for(*regions: str) -> Plan:
    return run_program(certificates_program(*regions), STACK, invokes=default_invokes())


def children_of(plan: Plan, component_name: str) -> list[runner.PlannedResource]:
    component = plan.one("vllm-infra:certificate:RegionalCertificate", component_name)
    return [r for r in plan.resources if r.parent == component.urn]


def test_the_certificate_covers_the_global_and_the_regional_name_with_dns_validation():
    plan = plan_for("us-east-1")
    certificate = plan.one(CERTIFICATE).inputs
    assert certificate["domainName"] == DOMAIN
    assert certificate["subjectAlternativeNames"] == ["us-east-1.llm.example.com"]
    assert certificate["validationMethod"] == "DNS"


def test_one_validation_record_per_name_in_the_hosted_zone():
    plan = plan_for("us-east-1")
    records = plan.by_type(RECORD)
    assert len(records) == len(certificate_names(DOMAIN, "us-east-1")) == 2
    for record in records:
        assert record.inputs["zoneId"] == ZONE
        # Every region's certificate validates the global name through the same CNAME: both must be allowed to write it.
        assert record.inputs["allowOverwrite"] is True
        assert record.inputs["ttl"] == 60


def test_each_record_carries_the_validation_option_of_its_own_name(acm):
    plan = plan_for("us-east-1")
    records = {r.name: r.inputs for r in plan.by_type(RECORD)}
    for name in (DOMAIN, "us-east-1.llm.example.com"):
        expected = acm_record(name)
        record = records[f"us-east-1-validation-{name}"]
        assert record["name"] == expected["resourceRecordName"]
        assert record["type"] == "CNAME"
        assert record["records"] == [expected["resourceRecordValue"]]


def test_the_validation_waits_for_the_records_and_provides_the_arn(acm):
    plan = plan_for("us-east-1")
    validation = plan.one(VALIDATION)
    records = plan.by_type(RECORD)
    assert set(validation.depends_on) >= {plan.one(CERTIFICATE).urn, *(r.urn for r in records)}
    assert sorted(validation.inputs["validationRecordFqdns"]) == sorted(r.inputs["name"].rstrip(".") for r in records)
    # The exported ARN is the validation's: dependents (the NLB's TLS listener) wait for an issued certificate.
    assert validation.inputs["certificateArn"] == "arn:aws:acm:region:000000000000:certificate/us-east-1-certificate"
    assert plan.outputs["us-east-1-arn"] == validation.inputs["certificateArn"]


def test_every_child_uses_the_provider_of_its_region():
    plan = plan_for("us-east-1", "eu-west-1")
    providers = {p.inputs["region"]: p for p in plan.by_type("pulumi:providers:aws")}
    for region in ("us-east-1", "eu-west-1"):
        children = children_of(plan, region)
        assert {c.type for c in children} == {CERTIFICATE, RECORD, VALIDATION}
        for child in children:
            assert child.provider is not None and child.provider.startswith(providers[region].urn + "::"), (
                f"{child.name} must use the {region} provider, got {child.provider}"
            )


def test_a_missing_validation_option_names_the_name():
    options = [acm_record(DOMAIN)]
    assert validation_option(options, DOMAIN)["domainName"] == DOMAIN
    with pytest.raises(ValueError, match=r"no DNS validation record for eu-west-1\.llm\.example\.com"):
        validation_option(options, "eu-west-1.llm.example.com")
