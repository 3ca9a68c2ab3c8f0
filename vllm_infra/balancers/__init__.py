"""Balancer strategies as registered objects: one module per strategy (``affinity``, the default, built on ``nginx``;
``nginx``, ``router``, ``service``), each a ``BalancerStrategy`` that says what it builds (pods, Service, RBAC),
which ports the network policies open, what Prometheus scrapes and which stack rules it satisfies.
``LoadBalancer``, the network policies, the observability wiring and ``StackConfig`` ask the registry instead of
comparing strategy names.

Adding a strategy: a module in this package that defines a class with the ``BalancerStrategy`` members and calls
``register`` on import (the registry imports every module of the package), plus its tests. Its settings are a
``StrategySettings`` model named by ``settings_model``; ``BalancerSpec`` gets them as the key ``settings_field``
(``vllm-infra:balancer.<settingsField>``) with no edit to ``config/balancer.py``. Outside the package: a module named
by a ``vllm_infra.balancers`` entry point of an installed distribution; a strategy without settings may also
``register`` later, before the stack config is validated. Either way the module's top-level imports stay clear of
``vllm_infra.config`` (``vllm_infra.balancers.registry`` says why). The pure generators the built-ins use (the
``nginx.conf``, its affinity upstream and the vllm-router command line) stay in ``vllm_infra.balancing``.
"""

from vllm_infra.balancers.base import BalancerContext, BalancerPods, BalancerStrategy, BalancerTraffic, content_hash
from vllm_infra.balancers.registry import (
    names_where,
    register,
    strategies,
    strategy_for,
    strategy_names,
    unregister,
)
from vllm_infra.balancers.settings import PinnedImage, StrategySettings, pinned_image

__all__ = [
    "BalancerContext",
    "BalancerPods",
    "BalancerStrategy",
    "BalancerTraffic",
    "PinnedImage",
    "StrategySettings",
    "content_hash",
    "names_where",
    "pinned_image",
    "register",
    "strategies",
    "strategy_for",
    "strategy_names",
    "unregister",
]
