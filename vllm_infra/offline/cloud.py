"""Answers to the data-source invokes the stack program makes, for offline runs (no cloud account).

Values are plausible in shape and obviously fake in content (``offline`` everywhere), so nothing in a plan can be
mistaken for a real account's data. Public AWS constants that are the same for every account (the canonical hosted
zone ids of load balancers) are the real ones, so a plan shows the alias targets ``pulumi up`` would write.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import grpc

from vllm_infra.offline.runner import InvokeResults

OFFLINE_ACCOUNT = "000000000000"
OFFLINE_VPC_ID = "vpc-00000000offline"


def _partition(_args: dict) -> dict:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws", "id": "aws"}


def _eks_cluster(args: dict) -> dict:
    name = args["name"]
    return {
        "id": name,
        "name": name,
        "arn": f"arn:aws:eks:offline:{OFFLINE_ACCOUNT}:cluster/{name}",
        "endpoint": f"https://offline-{name}.eks.amazonaws.com",
        "certificateAuthorities": [{"data": base64.b64encode(b"offline certificate authority").decode()}],
        "version": "1.33",
        "status": "ACTIVE",
        "vpcConfig": {
            "subnetIds": ["subnet-0000000000offline1", "subnet-0000000000offline2"],
            "vpcId": OFFLINE_VPC_ID,
            "securityGroupIds": [],
            "clusterSecurityGroupId": "sg-00000000offline",
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
            "publicAccessCidrs": [],
        },
    }


class InvokeFailed(grpc.RpcError):
    """The error the engine returns when a data source fails (e.g. ``ResourceNotFoundException``); raised by an
    answer, it reaches the program as the failed invoke a real ``pulumi preview`` would see."""

    def __init__(self, details: str):
        super().__init__(details)
        self._details = details

    def code(self) -> grpc.StatusCode:
        """gRPC status of the failure."""
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        """The provider's message."""
        return self._details


#: Add-ons every offline cluster runs as EKS add-ons, with their configuration values: the VPC CNI with its
#: network-policy agent on (a well-kept cluster). Any other add-on is absent, as on a new cluster.
OFFLINE_CLUSTER_ADDONS = {"vpc-cni": json.dumps({"enableNetworkPolicy": "true"})}


def eks_addon_answer(addons: Mapping[str, str | None], tags: Mapping[str, str] | None = None):
    """An answer to ``aws:eks/getAddon:getAddon`` for clusters that run ``addons`` (name → configuration values),
    each tagged with ``tags``; any other add-on fails the invoke as EKS does (``ResourceNotFoundException``)."""

    def answer(args: dict) -> dict:
        cluster, addon = args["clusterName"], args["addonName"]
        if addon not in addons:
            raise InvokeFailed(
                f"reading EKS Add-On ({cluster}:{addon}): couldn't find resource (ResourceNotFoundException)"
            )
        return {
            "id": f"{cluster}:{addon}",
            "addonName": addon,
            "clusterName": cluster,
            "addonVersion": "v0.0.0-offline",
            "arn": f"arn:aws:eks:offline:{OFFLINE_ACCOUNT}:addon/{cluster}/{addon}/offline",
            "configurationValues": addons[addon] or "",
            "podIdentityAssociations": [],
            "serviceAccountRoleArn": "",
            "tags": dict(tags or {}),
            "createdAt": "2026-01-01T00:00:00Z",
            "modifiedAt": "2026-01-01T00:00:00Z",
        }

    return answer


# Canonical hosted zone ids of Network Load Balancers (the alias target zone of an NLB's DNS name), as the AWS provider
# answers aws:lb/getHostedZoneId for load_balancer_type=network. Real, public values, copied from the provider's own
# table (hashicorp/terraform-provider-aws internal/service/elbv2/hosted_zone_id_data_source.go,
# HostedZoneIdPerRegionNLBMap, which cites https://docs.aws.amazon.com/general/latest/gr/elb.html). A region missing
# here gets an obviously fake id rather than an error.
NLB_HOSTED_ZONE_IDS = {
    "af-south-1": "Z203XCE67M25HM",
    "ap-east-1": "Z12Y7K3UBGUAD1",
    "ap-northeast-1": "Z31USIVHYNEOWT",
    "ap-northeast-2": "ZIBE1TIR4HY56",
    "ap-northeast-3": "Z1GWIQ4HH19I5X",
    "ap-south-1": "ZVDDRBQ08TROA",
    "ap-south-2": "Z0711778386UTO08407HT",
    "ap-southeast-1": "ZKVM4W9LS7TM",
    "ap-southeast-2": "ZCT6FZBF4DROD",
    "ap-southeast-3": "Z01971771FYVNCOVWJU1G",
    "ca-central-1": "Z2EPGBW3API2WT",
    "eu-central-1": "Z3F0SRJ5LGBH90",
    "eu-central-2": "Z02239872DOALSIDCX66S",
    "eu-north-1": "Z1UDT6IFJ4EJM",
    "eu-south-1": "Z23146JA1KNAFP",
    "eu-south-2": "Z1011216NVTVYADP1SSV",
    "eu-west-1": "Z2IFOLAFXWLO4F",
    "eu-west-2": "ZD4D7Y8KGAS4G",
    "eu-west-3": "Z1CMS0P5QUZ6D5",
    "me-central-1": "Z00282643NTTLPANJJG2P",
    "me-south-1": "Z3QSRYVP46NYYV",
    "sa-east-1": "ZTK26PT1VY4CU",
    "us-east-1": "Z26RNL4JYFTOTI",
    "us-east-2": "ZLMOA37VPKANP",
    "us-gov-east-1": "Z1ZSMQQ6Q24QQ8",
    "us-gov-west-1": "ZMG1MZ2THAWF1",
    "us-west-1": "Z24FKFUX50B4VW",
    "us-west-2": "Z18D5FSROUN65G",
}
OFFLINE_HOSTED_ZONE_ID = "Z0OFFLINEELBZONE"


def _lb_hosted_zone_id(args: dict) -> dict:
    region = args.get("region") or "offline"
    load_balancer_type = args.get("loadBalancerType") or "application"
    zone = OFFLINE_HOSTED_ZONE_ID
    if load_balancer_type == "network":
        zone = NLB_HOSTED_ZONE_IDS.get(region, OFFLINE_HOSTED_ZONE_ID)
    return {"id": zone, "loadBalancerType": load_balancer_type, "region": region}


def _load_balancer(args: dict) -> dict:
    # The NLB the AWS Load Balancer Controller created for a Service, looked up by name (shape: GetLoadBalancerResult).
    name = args.get("name") or "offline-nlb"
    region = args.get("region") or "offline"
    arn = f"arn:aws:elasticloadbalancing:{region}:{OFFLINE_ACCOUNT}:loadbalancer/net/{name}/0000000000offline"
    return {
        "id": arn,
        "arn": arn,
        "arnSuffix": f"net/{name}/0000000000offline",
        "name": name,
        "dnsName": f"{name}-0000000000offline.elb.{region}.amazonaws.com",
        "loadBalancerType": "network",
        "internal": False,
        "ipAddressType": "ipv4",
        "region": region,
        "zoneId": NLB_HOSTED_ZONE_IDS.get(region, OFFLINE_HOSTED_ZONE_ID),
        "vpcId": "vpc-00000000offline",
        "subnets": ["subnet-0000000000offline1", "subnet-0000000000offline2"],
        "securityGroups": [],
        "tags": {"elbv2.k8s.aws/cluster": "offline"},
    }


def _subnet(args: dict) -> dict:
    # Any subnet a stack names lies in the offline VPC (shape: GetSubnetResult).
    subnet_id = args.get("id") or "subnet-0000000000offline1"
    return {
        "id": subnet_id,
        "arn": f"arn:aws:ec2:offline:{OFFLINE_ACCOUNT}:subnet/{subnet_id}",
        "vpcId": OFFLINE_VPC_ID,
        "availabilityZone": "offline-1a",
        "cidrBlock": "10.0.0.0/20",
        "tags": {},
    }


def _subnets(args: dict) -> dict:
    # The offline VPC has two subnets (in two zones) for each load balancer scheme, tagged as the AWS Load Balancer
    # Controller expects: kubernetes.io/role/elb (public) and kubernetes.io/role/internal-elb (private).
    filters = args.get("filters") or []
    tag_keys = [value for f in filters if f.get("name") == "tag-key" for value in f.get("values", [])]
    ids = ["subnet-0000000000offline1", "subnet-0000000000offline2"]
    if "kubernetes.io/role/elb" in tag_keys:
        ids = ["subnet-00000000publicoff1", "subnet-00000000publicoff2"]
    return {"id": "offline", "ids": ids, "filters": filters}


def default_invokes() -> InvokeResults:
    """The invoke answers used by ``vllm-infra plan``."""
    return InvokeResults(
        {
            "aws:index/getPartition:getPartition": _partition,
            "aws:eks/getCluster:getCluster": _eks_cluster,
            "aws:eks/getAddon:getAddon": eks_addon_answer(OFFLINE_CLUSTER_ADDONS),
            "aws:lb/getHostedZoneId:getHostedZoneId": _lb_hosted_zone_id,
            "aws:lb/getLoadBalancer:getLoadBalancer": _load_balancer,
            "aws:ec2/getSubnet:getSubnet": _subnet,
            "aws:ec2/getSubnets:getSubnets": _subnets,
        }
    )
