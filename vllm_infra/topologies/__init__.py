"""Topologies as registered objects: one module per shape of deployment (``single``, ``load_balanced``,
``multi_model``, ``multi_region``), each a ``Topology`` that says which shared rules apply to it (one region or
several, a balancer or none, one model or several), checks its own rules and wires the components. ``StackConfig``
and the stack program ask the registry instead of comparing topology names.

Adding a topology: a module in this package that defines an object with the ``Topology`` members and calls
``register`` on import (the registry imports every module of the package), plus its tests; outside the package,
any code that calls ``register`` before the stack config is validated. ``serving.serve_region`` is the per-region
serving unit the built-ins compose.
"""

from vllm_infra.topologies.base import StackSecrets, Topology
from vllm_infra.topologies.registry import names_where, register, topologies, topology_for, topology_names, unregister

__all__ = [
    "StackSecrets",
    "Topology",
    "names_where",
    "register",
    "topologies",
    "topology_for",
    "topology_names",
    "unregister",
]
