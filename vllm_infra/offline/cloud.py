"""Answers to the data-source invokes the stack program makes, for offline runs (no cloud account).

Values are plausible in shape and obviously fake in content (``offline`` everywhere), so nothing in a plan can be
mistaken for a real account's data.
"""

from __future__ import annotations

import base64

from vllm_infra.offline.runner import InvokeResults

OFFLINE_ACCOUNT = "000000000000"


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
            "vpcId": "vpc-00000000offline",
            "securityGroupIds": [],
            "clusterSecurityGroupId": "sg-00000000offline",
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
            "publicAccessCidrs": [],
        },
    }


def default_invokes() -> InvokeResults:
    """The invoke answers used by ``vllm-infra plan``."""
    return InvokeResults(
        {
            "aws:index/getPartition:getPartition": _partition,
            "aws:eks/getCluster:getCluster": _eks_cluster,
        }
    )
