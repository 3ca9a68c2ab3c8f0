"""``GlobalLoadBalancer``: one public name in front of every region's balancer — Route 53 records with a model-aware
health check per region (latency or failover routing) and, optionally, AWS Global Accelerator."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from vllm_infra.components.options import child_options
from vllm_infra.config.global_lb import GlobalLoadBalancerSpec, validate_regions

# The Global Accelerator control plane is in us-west-2 whatever the endpoints' regions: the API must be called there.
GLOBAL_ACCELERATOR_REGION = "us-west-2"
# An NLB's DNS name is "<name>-<id>.elb.<region>.amazonaws.com" (".com.cn" in China). Load balancer names have at most
# 32 characters, letters, digits and hyphens, never start or end with a hyphen, and never start with "internal-".
NLB_HOSTNAME = re.compile(
    r"^(?:internal-)?(?P<name>[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?)-(?P<id>[0-9a-f]+)"
    r"\.elb\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\.?$"
)
ACCELERATOR_NAME_MAX = 64


@dataclass
class RegionalEndpoint:
    """One region behind the global name.

    Example::

        RegionalEndpoint("us-east-1", east_balancer.hostname, east_cluster.aws_provider, primary=True)
    """

    region: str
    """The AWS region (``vllm-infra:regions[].name``)."""
    hostname: pulumi.Input[str]
    """The DNS name of the region's NLB: the regional balancer's ``LoadBalancer.hostname`` output."""
    aws_provider: aws.Provider
    """The region's ``aws.Provider`` (``RegionalCluster.aws_provider``): the region's records, health check and NLB
    lookup go through it."""
    primary: bool = False
    """The primary of the ``failover`` policy (``vllm-infra:regions[].primary``); False by default, ignored by
    ``latency``."""


@dataclass
class GlobalLoadBalancerArgs:
    """Inputs of ``GlobalLoadBalancer``.

    Example::

        GlobalLoadBalancerArgs(spec=stack_config.global_load_balancer, endpoints=endpoints, name_prefix="vllm-prod")
    """

    spec: GlobalLoadBalancerSpec
    """The public name, hosted zone, routing policy, health check and accelerator settings
    (``vllm-infra:globalLoadBalancer``)."""
    endpoints: list[RegionalEndpoint]
    """One endpoint per region, checked against ``spec`` (the policy's primary, the regions)."""
    name_prefix: str
    """The prefix of logical names and of the accelerator's name (``vllm-<stack>`` in the stack program)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the health checks and the accelerator; none by default (the regional providers add their own default
    tags)."""


def nlb_name_from_hostname(hostname: str, region: str | None = None) -> str:
    """The load balancer name inside an NLB's DNS name (what ``aws.lb.get_load_balancer`` looks it up by).

    >>> nlb_name_from_hostname("k8s-vllm-vllmgate-1a2b3c4d5e-0123456789abcdef.elb.us-east-1.amazonaws.com", "us-east-1")
    'k8s-vllm-vllmgate-1a2b3c4d5e'
    """
    match = NLB_HOSTNAME.match(hostname.lower())
    if not match:
        raise ValueError(
            f"{hostname!r} is not a Network Load Balancer DNS name (<name>-<id>.elb.<region>.amazonaws.com): the "
            "global load balancer needs the regional balancer exposed as a Service of type LoadBalancer (NLB)"
        )
    if region is not None and match["region"] != region:
        raise ValueError(f"{hostname!r} is an NLB in {match['region']}, but it was given as the endpoint of {region}")
    return match["name"]


def _checked_nlb_hostname(hostname: str, region: str) -> str:
    nlb_name_from_hostname(hostname, region)  # raises, naming the endpoint, when it is not an NLB of ``region``
    return hostname


def accelerator_name(prefix: str) -> str:
    """A Global Accelerator name from ``prefix``: letters, digits, periods and hyphens, at most 64 characters, neither
    starting nor ending with a hyphen or period.

    >>> accelerator_name("vllm_infra/prod")
    'vllm-infra-prod'
    """
    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "-", prefix)[:ACCELERATOR_NAME_MAX].strip("-.")
    return cleaned or "vllm-infra"


def health_check_type(spec: GlobalLoadBalancerSpec) -> str:
    """The Route 53 health check type: HTTPS with TLS, and the string-matching variant when a search string is set
    (a 200 from an error page must not count as serving)."""
    base = "HTTPS" if spec.tls else "HTTP"
    return f"{base}_STR_MATCH" if spec.search_string else base


class GlobalLoadBalancer(pulumi.ComponentResource):
    """One public name (``spec.domain_name``) for every region's balancer.

    Per region, with that region's provider:

    - a record ``<region>.<domain_name>``: an alias to the region's NLB (the zone id of NLB aliases in the region comes
      from ``aws.lb.get_hosted_zone_id``). It gives the health check a name that is the region's alone, matches the
      regional certificate (SNI and Host), and lets operators call one region directly;
    - a Route 53 health check on ``https://<region>.<domain_name><health_check_path>`` (or http on 80) that requires
      ``search_string`` in the body: the balancer answers that path only when the model produces a token, so a region
      whose processes listen but cannot serve leaves DNS. It checks the regional name, never the global one: a check
      that resolved the name it guards would follow Route 53's own answer to another region and stay green. AWS
      recommends the same: one health check per endpoint, on the endpoint's own name;
    - a global record ``<domain_name>`` (``set_identifier`` = region) aliased to the NLB with that health check and
      ``evaluate_target_health``, routed by ``latency`` (the region's latency) or ``failover`` (PRIMARY/SECONDARY).

    With ``spec.global_accelerator``, an accelerator (created through its own ``us-west-2`` provider, where the Global
    Accelerator API lives) with a TCP listener on 443 (80 without TLS) and one endpoint group per region holding the
    region's NLB, looked up by the name in its DNS name once the NLB exists. With ``failover``, the secondary's traffic
    dial is 0: it receives traffic only when the primary has no healthy endpoint. Global Accelerator judges an NLB by
    its own target health checks, not by the endpoint group's health-check settings (those apply to EC2 and Elastic
    IP endpoints); clients that reach the accelerator must still send ``domain_name`` as SNI.

    Example::

        glb = GlobalLoadBalancer("global", GlobalLoadBalancerArgs(
            spec=GlobalLoadBalancerSpec(hosted_zone_id="Z0123456789ABCDEFGHIJ", domain_name="llm.example.com",
                                        policy="failover"),
            endpoints=[RegionalEndpoint("us-east-1", east_balancer.hostname, east.aws_provider, primary=True),
                       RegionalEndpoint("eu-west-1", west_balancer.hostname, west.aws_provider)],
            name_prefix="vllm-prod"))
        pulumi.export("url", glb.fqdn.apply(lambda name: f"https://{name}"))
    """

    args: GlobalLoadBalancerArgs
    """The inputs the component was built from."""
    fqdn: pulumi.Output[str]
    """The global name, known once every region's global record exists."""
    regional_fqdns: dict[str, str]
    """Each region's own name, ``<region>.<domain_name>``."""
    health_check_ids: dict[str, pulumi.Output[str]]
    """Each region's Route 53 health check."""
    accelerator_dns_name: pulumi.Output[str] | None
    """The accelerator's DNS name; None without ``global_accelerator``."""
    accelerator_ips: pulumi.Output[list[str]] | None
    """The accelerator's static IPs; None without ``global_accelerator``."""

    def __init__(self, name: str, args: GlobalLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:global_load_balancer:GlobalLoadBalancer", name, None, opts)
        self.args = args
        spec, prefix = args.spec, args.name_prefix
        regions = [endpoint.region for endpoint in args.endpoints]
        problems = validate_regions(spec, regions, [e.region for e in args.endpoints if e.primary])
        if problems:
            raise ValueError("GlobalLoadBalancer: " + "; ".join(problems))

        self.regional_fqdns, self.health_check_ids = {}, {}
        global_records = []
        for endpoint in args.endpoints:
            region = endpoint.region
            regional_opts = child_options(self, opts, provider=endpoint.aws_provider)
            # NLB aliases point at the region's canonical ELB zone (not the customer's zone).
            nlb_zone_id = aws.lb.get_hosted_zone_id_output(
                load_balancer_type="network",
                region=region,
                opts=pulumi.InvokeOutputOptions(provider=endpoint.aws_provider, parent=self),
            ).id
            # Checked against the region: an alias with another region's ELB zone (or to an ALB) fails in Route 53
            # with an opaque "alias target does not exist"; this names the endpoint instead.
            target = pulumi.Output.from_input(endpoint.hostname).apply(
                functools.partial(_checked_nlb_hostname, region=region)
            )
            alias = {"name": target, "zone_id": nlb_zone_id, "evaluate_target_health": True}

            regional_name = spec.regional_name(region)
            regional = aws.route53.Record(
                f"{prefix}-{region}",
                zone_id=spec.hosted_zone_id,
                name=regional_name,
                type="A",
                aliases=[alias],
                opts=regional_opts,
            )
            check = aws.route53.HealthCheck(
                f"{prefix}-{region}-health",
                type=health_check_type(spec),
                fqdn=regional_name,
                port=spec.port,
                resource_path=spec.health_check_path,
                search_string=spec.search_string,
                # The provider sends SNI by default only for type HTTPS, not HTTPS_STR_MATCH; with it, the TLS
                # listener presents the certificate for the regional name the check requests.
                enable_sni=True if spec.tls else None,
                request_interval=spec.health_check_interval_seconds,
                failure_threshold=spec.health_check_failure_threshold,
                # Latency graphs per checker region in CloudWatch (cannot be changed after creation).
                measure_latency=True,
                tags={"Name": f"{prefix}-{region}", **args.tags},
                # The regional name must resolve before the first check; the global record is never a dependency.
                opts=child_options(self, opts, provider=endpoint.aws_provider, depends_on=[regional]),
            )
            routing: dict = (
                {"latency_routing_policies": [{"region": region}]}
                if spec.policy == "latency"
                else {"failover_routing_policies": [{"type": "PRIMARY" if endpoint.primary else "SECONDARY"}]}
            )
            global_records.append(
                aws.route53.Record(
                    f"{prefix}-global-{region}",
                    zone_id=spec.hosted_zone_id,
                    name=spec.domain_name,
                    type="A",
                    set_identifier=region,
                    health_check_id=check.id,
                    aliases=[alias],
                    **routing,
                    opts=regional_opts,
                )
            )
            self.regional_fqdns[region] = regional_name
            self.health_check_ids[region] = check.id

        # Known once every global record exists, so a dependent (an export, a smoke test) waits for the whole set.
        self.fqdn = pulumi.Output.all(*[record.id for record in global_records]).apply(lambda _: spec.domain_name)
        self.accelerator_dns_name = self.accelerator_ips = None
        if spec.global_accelerator:
            self._accelerator(args, opts)
        self.register_outputs({
            "fqdn": self.fqdn,
            "regional_fqdns": self.regional_fqdns,
            "health_check_ids": self.health_check_ids,
            "accelerator_dns_name": self.accelerator_dns_name,
            "accelerator_ips": self.accelerator_ips,
        })  # fmt: skip

    def _accelerator(self, args: GlobalLoadBalancerArgs, opts: pulumi.ResourceOptions | None) -> None:
        spec, prefix = args.spec, args.name_prefix
        provider = aws.Provider(
            f"{prefix}-global-accelerator",
            region=GLOBAL_ACCELERATOR_REGION,
            default_tags={"tags": {"managed-by": "pulumi", "app": "vllm-infra", **args.tags}},
            opts=child_options(self, opts),
        )
        accelerator_opts = child_options(self, opts, provider=provider)
        accelerator = aws.globalaccelerator.Accelerator(
            f"{prefix}-accelerator",
            name=accelerator_name(prefix),
            ip_address_type="IPV4",
            enabled=True,
            opts=accelerator_opts,
        )
        listener = aws.globalaccelerator.Listener(
            f"{prefix}-listener",
            accelerator_arn=accelerator.arn,
            protocol="TCP",  # TLS passes through to the NLB, which terminates it with the regional certificate
            port_ranges=[{"from_port": spec.port, "to_port": spec.port}],
            opts=accelerator_opts,
        )
        for endpoint in args.endpoints:
            region = endpoint.region
            # The NLB's name is in its DNS name; deriving it from the hostname Output makes the lookup wait until the
            # AWS Load Balancer Controller has created the NLB (and skips it in a preview where the name is unknown).
            nlb = aws.lb.get_load_balancer_output(
                name=pulumi.Output.from_input(endpoint.hostname).apply(
                    functools.partial(nlb_name_from_hostname, region=region)
                ),
                region=region,
                opts=pulumi.InvokeOutputOptions(provider=endpoint.aws_provider, parent=self),
            )
            standby = spec.policy == "failover" and not endpoint.primary
            aws.globalaccelerator.EndpointGroup(
                f"{prefix}-{region}-endpoints",
                listener_arn=listener.arn,
                endpoint_group_region=region,
                endpoint_configurations=[{"endpoint_id": nlb.arn}],
                # Used for EC2/EIP endpoints only; an NLB endpoint is judged by its own target health. Set anyway so
                # the group states the same contract as the Route 53 checks.
                health_check_path=spec.health_check_path,
                health_check_port=spec.port,
                health_check_protocol="HTTPS" if spec.tls else "HTTP",
                health_check_interval_seconds=spec.health_check_interval_seconds,
                threshold_count=spec.health_check_failure_threshold,
                # Failover: the secondary gets no traffic while the primary is healthy; Global Accelerator ignores the
                # dial when it fails over from a group without healthy endpoints.
                traffic_dial_percentage=0 if standby else 100,
                opts=accelerator_opts,
            )
        self.accelerator_dns_name = accelerator.dns_name
        self.accelerator_ips = accelerator.ip_sets.apply(
            lambda sets: [ip for ip_set in sets or [] for ip in (ip_set.ip_addresses or [])]
        )
