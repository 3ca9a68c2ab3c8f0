"""Resource options shared by every component."""

from __future__ import annotations

from typing import Any

import pulumi


def child_options(parent: pulumi.Resource, opts: pulumi.ResourceOptions | None, **extra: Any) -> pulumi.ResourceOptions:
    """Options of a component's child: parented to the component (so it inherits its providers) and waiting for
    what the component was told to wait for — a component's ``depends_on`` does not reach its children, so a
    Deployment would otherwise start before the pre-warm Job it depends on. Nothing else of the caller's options is
    copied (aliases or ``protect`` meant for the component must not land on every child).

    ``extra`` are further ``ResourceOptions`` of this child; its own ``depends_on`` is added after the component's.
    Every component creates its children through this function (``tests/components/test_conventions.py`` checks
    it). A child that must not wait for the component's dependencies passes ``opts=None``, with a comment at the
    call saying why.

    Example::

        class Cache(pulumi.ComponentResource):
            def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
                super().__init__("vllm-infra:cache:Cache", name, None, opts)
                claim = k8s.core.v1.PersistentVolumeClaim(f"{name}-claim", ..., opts=child_options(self, opts))
                k8s.batch.v1.Job(f"{name}-job", ..., opts=child_options(self, opts, depends_on=[claim]))
    """
    depends_on: list[Any] = (
        list(opts.depends_on or [])
        if opts is not None and isinstance(opts.depends_on, list)
        else ([opts.depends_on] if opts is not None and opts.depends_on is not None else [])
    )
    depends_on += list(extra.pop("depends_on", None) or [])
    return pulumi.ResourceOptions(parent=parent, depends_on=depends_on or None, **extra)
