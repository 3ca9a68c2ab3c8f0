"""``RegionalCertificate``: the ACM certificate a region's balancer terminates TLS with, validated through DNS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from vllm_infra.components.options import child_options


@dataclass
class RegionalCertificateArgs:
    """Inputs of ``RegionalCertificate``.

    Example::

        RegionalCertificateArgs(domain_name="llm.example.com", region="eu-west-1",
                                hosted_zone_id="Z0123456789ABCDEFGHIJ")
    """

    domain_name: str
    """The public name clients call (e.g. ``llm.example.com``, ``vllm-infra:globalLoadBalancer.domainName``); the
    certificate also covers the region's own name ``<region>.<domain_name>``, which the Route 53 health check
    requests."""
    region: str
    """The AWS region (``vllm-infra:regions[].name``): ACM certificates are regional, and an NLB can only use one
    from its own region."""
    hosted_zone_id: pulumi.Input[str]
    """The public Route 53 zone the validation records go to (``vllm-infra:globalLoadBalancer.hostedZoneId``)."""
    ttl: int = 60
    """TTL of the validation CNAMEs, in seconds (``vllm-infra:globalLoadBalancer.recordTtl``); 60 by default, so a
    corrected record is seen within a minute."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra tags on the certificate, beside ``Name`` (the regional name) and the provider's default tags."""


def certificate_names(domain_name: str, region: str) -> list[str]:
    """The names a regional certificate covers: the global name first (the Common Name), then the regional name.

    >>> certificate_names("llm.example.com", "eu-west-1")
    ['llm.example.com', 'eu-west-1.llm.example.com']
    """
    return [domain_name, f"{region}.{domain_name}"]


def _field(option: Any, name: str) -> Any:
    # Typed output objects under a real engine; plain dicts (snake_case or camelCase) can reach an apply elsewhere.
    if isinstance(option, dict):
        camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
        return option.get(name, option.get(camel))
    return getattr(option, name)


def validation_option(options: Sequence[Any] | None, domain_name: str) -> Any:
    """The domain validation option ACM returned for ``domain_name`` (raises, naming the name, when there is none)."""
    for option in options or []:
        if _field(option, "domain_name") == domain_name:
            return option
    known = sorted(str(_field(option, "domain_name")) for option in options or [])
    raise ValueError(
        f"ACM returned no DNS validation record for {domain_name} (it returned: {', '.join(known) or 'none'})"
    )


class RegionalCertificate(pulumi.ComponentResource):
    """An ACM certificate for ``domain_name`` and ``<region>.<domain_name>``, validated through DNS in the hosted zone.

    Creates the certificate (DNS validation), one Route 53 CNAME per covered name, and an ``acm.CertificateValidation``
    that completes once ACM has issued the certificate. ``certificate_arn`` comes from the validation, so whatever uses
    it (the NLB's TLS listener) waits for an issued certificate instead of failing on a pending one.

    Pass the region's ``aws.Provider`` as ``opts.provider``: the children are parented to the component
    (``child_options``) and inherit it, so the certificate is requested in the region whose balancer uses it.

    The validation records are kept when the component is deleted (``retain_on_delete``): ACM uses one CNAME per name
    and account for every certificate in every region, so the record for ``domain_name`` is shared by all regions'
    certificates, and deleting it with one region would stop the other regions' certificates from renewing. Both
    regions write the same record with ``allow_overwrite``.

    Example::

        cert = RegionalCertificate("eu-west-1", RegionalCertificateArgs(
            domain_name="llm.example.com", region="eu-west-1", hosted_zone_id="Z0123456789ABCDEFGHIJ"),
            opts=pulumi.ResourceOptions(provider=cluster.aws_provider))
        # annotate the balancer's Service: service.beta.kubernetes.io/aws-load-balancer-ssl-cert = cert.certificate_arn
    """

    args: RegionalCertificateArgs
    """The inputs the component was built from."""
    certificate_arn: pulumi.Output[str]
    """The ARN of the issued certificate (known once ACM has validated it)."""
    names: list[str]
    """The names the certificate covers: ``domain_name`` first, then ``<region>.<domain_name>``."""
    validation_record_fqdns: list[pulumi.Output[str]]
    """The Route 53 validation records, one per covered name."""

    def __init__(self, name: str, args: RegionalCertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:certificate:RegionalCertificate", name, None, opts)
        self.args = args
        self.names = certificate_names(args.domain_name, args.region)
        domain_name, regional_name = self.names
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=domain_name,
            subject_alternative_names=[regional_name],
            validation_method="DNS",
            tags={"Name": regional_name, **args.tags},
            opts=child_options(self, opts),
        )
        records = []
        for covered in self.names:
            # The options are an Output list, but the names are known here: one record per known name, each picking
            # its own option inside an apply — no resource is created inside an apply, so previews show every record.
            option = certificate.domain_validation_options.apply(
                lambda options, covered=covered: validation_option(options, covered)
            )
            records.append(
                aws.route53.Record(
                    f"{name}-validation-{covered}",
                    zone_id=args.hosted_zone_id,
                    name=option.apply(lambda o: _field(o, "resource_record_name")),
                    type=option.apply(lambda o: _field(o, "resource_record_type")),
                    records=[option.apply(lambda o: _field(o, "resource_record_value"))],
                    ttl=args.ttl,
                    allow_overwrite=True,
                    opts=child_options(self, opts, retain_on_delete=True),
                )
            )
        self.validation_record_fqdns = [record.fqdn for record in records]
        validation = aws.acm.CertificateValidation(
            f"{name}-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=self.validation_record_fqdns,
            opts=child_options(self, opts),
        )
        self.certificate_arn = validation.certificate_arn
        self.register_outputs({
            "certificate_arn": self.certificate_arn,
            "names": self.names,
            "validation_record_fqdns": self.validation_record_fqdns,
        })  # fmt: skip
