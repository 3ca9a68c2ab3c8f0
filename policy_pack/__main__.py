"""CrossGuard policy pack: vllm-infra's policy rules enforced by ``pulumi preview``/``up``.

Usage, from the repository root, in the environment that runs the Pulumi program::

    pip install 'pulumi-policy>=1.21,<2' -e .
    pulumi preview --policy-pack policy_pack

The rules live in ``vllm_infra.policies`` (plain functions, also run offline by ``vllm_infra.policies.evaluate``);
``vllm_infra.policies.crossguard`` wraps them. Constructing ``PolicyPack`` starts the analyzer's gRPC server and blocks
until the engine is done, so it only happens when Pulumi runs this file (``python -m pulumi.policy`` runs it with
``__name__ == "__main__"``); importing it for tests builds nothing.
"""

from __future__ import annotations

from vllm_infra.policies.crossguard import PACK_NAME, crossguard_policies


def build_pack():
    """Start the pack (blocks while the engine talks to it)."""
    from pulumi_policy import PolicyPack

    return PolicyPack(name=PACK_NAME, policies=crossguard_policies())


if __name__ == "__main__":
    build_pack()
