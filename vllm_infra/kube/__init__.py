"""Pure builders of Kubernetes pieces: plain values in, plain dictionaries out, shaped as the Kubernetes API spells
them (camelCase keys). Nothing here creates a Pulumi resource or reads configuration; a ``pulumi.Input`` (a namespace,
a name known only at apply time) may pass through untouched. Components compose these instead of writing their own
dictionaries, so every object of the library carries the same labels and every probe has the same shape.

What lives where:

- ``labels``: the ``app.kubernetes.io/*`` selector and standard labels, label selectors, ``ObjectMeta``.
- ``probes``: HTTP readiness/liveness probes and the startup probe sized from a time budget.
- ``security``: container and pod security contexts (the "restricted" Pod Security Standard).
- ``disruption``: ``PodDisruptionBudget`` specs.
- ``pods``: pod-spec pieces — the GPU resource name and toleration, emptyDir volumes, the scratch directory.
- ``quantity``: the package's one parser of Kubernetes resource quantities (``500m``, ``12Gi``) and their spelling.
- ``gvk``: group, version and kind of a Kubernetes resource from its Pulumi type token.
- ``timeouts``: Pulumi custom-timeout strings for the waits on Kubernetes objects.

The package imports nothing of ``vllm_infra`` outside itself, nor the Pulumi providers (tests/kube/test_purity.py), so
the configuration, the sizing and the policies can use it without import cycles.
"""
