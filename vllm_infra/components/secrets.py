"""``InferenceSecrets``: the Kubernetes Secrets that carry the API key and the Hugging Face token."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.options import child_options
from vllm_infra.kube.labels import standard_labels


@dataclass(frozen=True)
class SecretKeyRef:
    """A reference to one key of a Kubernetes Secret; pods read the value through ``secretKeyRef``, never inline."""

    name: pulumi.Input[str]
    key: str

    def env(self, variable: str) -> dict:
        """An ``env`` entry that reads this key into ``variable``."""
        return {"name": variable, "valueFrom": {"secretKeyRef": {"name": self.name, "key": self.key}}}


@dataclass
class InferenceSecretsArgs:
    """Inputs of ``InferenceSecrets``. The values should be Pulumi secrets (``Config.require_secret``): they are
    stored in Secret objects only and never appear in plain text in the state or the preview.

    Example::

        InferenceSecretsArgs(namespace="vllm", api_key=config.require_secret("apiKey"))
    """

    namespace: pulumi.Input[str]
    """The namespace of the Secrets: the one the vLLM pods and the pre-warm Job run in (``vllm-infra:namespace``)."""
    api_key: pulumi.Input[str]
    """The API key clients send as ``Authorization: Bearer <key>`` (``vllm-infra:apiKey``), stored under key
    ``api-key``."""
    hf_token: pulumi.Input[str] | None = None
    """The Hugging Face token for gated repositories (``vllm-infra:hfToken``), stored under key ``token``; None (the
    default: public models need none) creates no token Secret."""
    name_prefix: str = "vllm"
    """The instance label of the Secrets (``app.kubernetes.io/instance``); their names are generated."""


class InferenceSecrets(pulumi.ComponentResource):
    """Kubernetes Secrets for inference: one holding the API key (key ``api-key``) and one the Hugging Face token
    (key ``token``, only when a token is given), auto-named so that rotating a value rolls every pod that reads it.

    They are separate objects so that each workload mounts only what it needs: vLLM pods the API key, the cache
    pre-warm Job the Hub token.

    Example::

        secrets = InferenceSecrets("secrets", InferenceSecretsArgs(
            namespace="vllm", api_key=config.require_secret("apiKey"), hf_token=config.get_secret("hfToken")))
        secrets.api_key  # SecretKeyRef(name=..., key="api-key")
    """

    args: InferenceSecretsArgs
    """The inputs the component was built from."""
    api_key: SecretKeyRef
    """Where the API key is: key ``api-key`` of a generated Secret."""
    hf_token: SecretKeyRef | None
    """Where the Hugging Face token is (key ``token``), or None without a token."""

    def __init__(self, name: str, args: InferenceSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:secrets:InferenceSecrets", name, None, opts)
        self.args = args
        child = child_options(self, opts)
        labels = standard_labels("secrets", args.name_prefix)

        def secret(suffix: str, key: str, value: pulumi.Input[str]) -> SecretKeyRef:
            # Auto-named (no metadata.name), like every object whose content change must restart its readers: a
            # rotated value creates a new Secret before the old one is deleted, and every pod referencing it rolls
            # onto the new name. A fixed name would be replaced while running pods kept the old value in their env.
            created = k8s.core.v1.Secret(
                f"{name}-{suffix}",
                metadata={"namespace": args.namespace, "labels": labels},
                type="Opaque",
                string_data={key: pulumi.Output.secret(value)},
                opts=child,
            )
            return SecretKeyRef(name=created.metadata.name, key=key)

        self.api_key = secret("api-key", "api-key", args.api_key)
        self.hf_token = secret("hf-token", "token", args.hf_token) if args.hf_token is not None else None

        self.register_outputs(
            {
                "api_key_secret_name": self.api_key.name,
                "hf_token_secret_name": self.hf_token.name if self.hf_token else None,
            }
        )
