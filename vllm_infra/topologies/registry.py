"""The topologies by name: the built-in ones (every module of this package but ``base``, ``registry`` and
``serving``, each registering its topology on import: ``single``, ``load_balanced``, ``multi_model``,
``multi_region``) and any registered later.

The built-ins are imported on the first use of the registry, not when this module is: ``config/stack.py`` validates
against the registry, and the topology modules build Pulumi components (importing them from the config would be a
cycle).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from vllm_infra.topologies.base import Topology

# Not topologies: the protocol, this registry and the serving unit the topologies share.
_NOT_TOPOLOGY_MODULES = frozenset({"base", "registry", "serving"})
# The simplest topology leads the choices (as the docs introduce them); the others follow by name.
_LISTED_FIRST = "single"
_topologies: dict[str, Topology] = {}
_builtins_loaded = False


@functools.cache
def builtin_modules() -> list[str]:
    """The package's topology modules: the order ``topologies()`` lists the built-ins in (single first, then by name).

    >>> builtin_modules()  # doctest: +NORMALIZE_WHITESPACE
    ['vllm_infra.topologies.single', 'vllm_infra.topologies.load_balanced', 'vllm_infra.topologies.multi_model',
     'vllm_infra.topologies.multi_region']
    """
    import vllm_infra.topologies as package

    names = [info.name for info in pkgutil.iter_modules(package.__path__) if not info.ispkg]
    names = sorted((name for name in names if name not in _NOT_TOPOLOGY_MODULES), key=lambda n: (n != _LISTED_FIRST, n))
    return [f"{package.__name__}.{name}" for name in names]


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        # Set first: each built-in module calls register(), which lands here again.
        _builtins_loaded = True
        for module in builtin_modules():
            importlib.import_module(module)


def register(topology: Topology) -> Topology:
    """Make ``topology`` a ``vllm-infra:topology`` choice under ``topology.name``; returns it.

    >>> from vllm_infra.topologies import topology_names
    >>> topology_names()
    ('single', 'load-balanced', 'multi-model', 'multi-region')
    """
    _load_builtins()  # the built-ins come first in the choices, whoever registers first
    if not isinstance(topology, Topology):
        raise TypeError(f"{topology!r} does not provide every member of Topology")
    if topology.name in _topologies:
        raise ValueError(f"topology {topology.name!r} is already registered")
    _topologies[topology.name] = topology
    return topology


def unregister(name: str) -> None:
    """Remove the topology registered as ``name`` (for tests that register one of their own)."""
    del _topologies[name]


def topology_names() -> tuple[str, ...]:
    """Every registered topology's name, built-ins first."""
    return tuple(topology.name for topology in topologies())


def topologies() -> tuple[Topology, ...]:
    """Every registered topology: the built-ins in ``builtin_modules`` order, then the others as registered."""
    _load_builtins()
    # Sorted rather than taken in registration order: importing a built-in module directly registers it after the
    # others it loads (``import vllm_infra.topologies.single`` would list single last).
    rank = {module: index for index, module in enumerate(builtin_modules())}
    return tuple(sorted(_topologies.values(), key=lambda topology: rank.get(type(topology).__module__, len(rank))))


def topology_for(name: str) -> Topology:
    """The topology registered as ``name``; ``KeyError`` naming the choices when there is none.

    >>> topology_for("multi-region").multi_region
    True
    """
    _load_builtins()
    try:
        return _topologies[name]
    except KeyError:
        raise KeyError(f"no topology {name!r}; registered: {', '.join(topology_names())}") from None


def names_where(attribute: str) -> list[str]:
    """The names of the topologies whose boolean ``attribute`` (``multi_region``, ...) is true, for messages.

    >>> names_where("several_models")
    ['multi-model']
    """
    return [topology.name for topology in topologies() if getattr(topology, attribute)]
