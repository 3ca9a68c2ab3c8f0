"""Balancer strategies as registered objects: one module per strategy (``nginx``, ``router``, ``service``), each a
``BalancerStrategy`` that says what it builds (pods, Service, RBAC), which ports the network policies open, what
Prometheus scrapes and which stack rules it satisfies. ``LoadBalancer``, the network policies, the observability
wiring and ``StackConfig`` ask the registry instead of comparing strategy names.

Adding a strategy: a module in this package that defines a class with the ``BalancerStrategy`` members and calls
``register`` on import (the registry imports every module of the package), plus its tests; outside the package,
any code that calls ``register`` before the stack config is validated. The pure generators the built-ins use (the
``nginx.conf`` and the vllm-router command line) stay in ``vllm_infra.balancing``.
"""

from vllm_infra.balancers.base import BalancerContext, BalancerPods, BalancerStrategy, BalancerTraffic, content_hash
from vllm_infra.balancers.registry import (
    choices_phrase,
    names_where,
    register,
    strategies,
    strategy_for,
    strategy_names,
    unregister,
)

__all__ = [
    "BalancerContext",
    "BalancerPods",
    "BalancerStrategy",
    "BalancerTraffic",
    "choices_phrase",
    "content_hash",
    "names_where",
    "register",
    "strategies",
    "strategy_for",
    "strategy_names",
    "unregister",
]
