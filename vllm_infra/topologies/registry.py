"""The topologies by name: the built-in ones (every module of this package but ``base``, ``registry`` and
``serving``, each registering its topology on import: ``single``, ``load_balanced``, ``multi_model``,
``multi_region``) and any registered later.

The built-ins are imported on the first use of the registry, not when this module is: ``config/stack.py`` validates
against the registry, and the topology modules build Pulumi components (importing them from the config would be a
cycle).
"""

from __future__ import annotations

from vllm_infra.registry import Registry
from vllm_infra.topologies.base import Topology

_topologies: Registry[Topology] = Registry(
    "vllm_infra.topologies",
    "topology",
    Topology,
    # Not topologies: the protocol, this registry and the serving unit the topologies share.
    not_builtin={"base", "registry", "serving"},
    # The simplest topology leads the choices (as the docs introduce them); the others follow by name.
    listed_first="single",
)


def builtin_modules() -> list[str]:
    """The package's topology modules: the order ``topologies()`` lists the built-ins in (single first, then by name).

    >>> builtin_modules()  # doctest: +NORMALIZE_WHITESPACE
    ['vllm_infra.topologies.single', 'vllm_infra.topologies.load_balanced', 'vllm_infra.topologies.multi_model',
     'vllm_infra.topologies.multi_region']
    """
    return _topologies.builtin_modules


def register(topology: Topology) -> Topology:
    """Make ``topology`` a ``vllm-infra:topology`` choice under ``topology.name``; returns it.

    >>> from vllm_infra.topologies import topology_names
    >>> topology_names()
    ('single', 'load-balanced', 'multi-model', 'multi-region')
    """
    return _topologies.register(topology)


def unregister(name: str) -> None:
    """Remove the topology registered as ``name`` (for tests that register one of their own)."""
    _topologies.unregister(name)


def topology_names() -> tuple[str, ...]:
    """Every registered topology's name, built-ins first."""
    return _topologies.names()


def topologies() -> tuple[Topology, ...]:
    """Every registered topology: the built-ins in ``builtin_modules`` order, then the others as registered."""
    return _topologies.items()


def topology_for(name: str) -> Topology:
    """The topology registered as ``name``; ``KeyError`` naming the choices when there is none.

    >>> topology_for("multi-region").multi_region
    True
    """
    return _topologies.get(name)


def names_where(attribute: str) -> list[str]:
    """The names of the topologies whose boolean ``attribute`` (``multi_region``, ...) is true, for messages.

    >>> names_where("several_models")
    ['multi-model']
    """
    return _topologies.names_where(attribute)
