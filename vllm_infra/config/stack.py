"""The whole stack configuration: one validated object that the stack program hands down to the topologies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from vllm_infra import vllm_release
from vllm_infra.config.base import ConfigModel
from vllm_infra.config.model import ModelSpec

Topology = Literal["single", "load-balanced", "multi-model", "multi-region"]
Namespace = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


class StackConfig(ConfigModel):
    """Everything one environment (Pulumi stack) declares under the ``vllm-infra`` config namespace, validated.

    Secrets (``vllm-infra:apiKey``, ``vllm-infra:hfToken``) are not part of this model: they stay Pulumi secret
    Outputs from the moment they are read and are handed to the components separately.

    Example (``stacks/Pulumi.single.yaml``)::

        config:
          vllm-infra:topology: single
          vllm-infra:models:
            - name: llama-8b
              model: meta-llama/Llama-3.1-8B-Instruct
    """

    topology: Topology = Field(description="single | load-balanced | multi-model | multi-region")
    namespace: Namespace = Field("vllm", description="Kubernetes namespace created for the stack's objects.")
    vllm_image: str = Field(vllm_release.VLLM_IMAGE, description="The vLLM server image; pinned to a release.")
    models: tuple[ModelSpec, ...] = Field(min_length=1, description="The models this stack serves.")

    @field_validator("vllm_image")
    @classmethod
    def _image_is_pinned(cls, image: str) -> str:
        if "@sha256:" in image:
            return image
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag or tag in {"", "latest", "nightly"}:
            raise ValueError(
                f"must be pinned to a release tag or digest (e.g. {vllm_release.VLLM_IMAGE}); "
                "a moving tag changes what runs without a diff"
            )
        return image

    @model_validator(mode="after")
    def _models_fit_topology(self) -> StackConfig:
        names = [model.name for model in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"models: names must be unique; repeated: {', '.join(duplicates)}")
        served = [model.served_name for model in self.models]
        if len(set(served)) != len(served):
            raise ValueError("models: servedModelName must be unique, or requests for one model reach another")
        if self.topology == "single":
            if len(self.models) != 1 or self.models[0].replicas != 1:
                raise ValueError(
                    "topology single serves one model with one replica; use topology load-balanced for more "
                    "replicas, multi-model for more models"
                )
        return self

    def warnings(self) -> list[str]:
        """Risks that are allowed but worth a reviewer's attention (printed by ``vllm-infra plan``)."""
        notes = []
        for index, model in enumerate(self.models):
            if model.revision is None:
                notes.append(
                    f"vllm-infra:models[{index}].revision is not pinned: replicas started at different times may "
                    "serve different weights"
                )
            if model.cache.access_mode == "ReadWriteOnce":
                notes.append(
                    f"vllm-infra:models[{index}].cache.accessMode is ReadWriteOnce: an update replaces the replica "
                    "(Recreate) because a second pod cannot attach the volume; use ReadWriteMany for zero-downtime "
                    "rollouts"
                )
        return notes
