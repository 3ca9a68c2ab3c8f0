"""The balancer strategies by name: the built-in ones (every module of this package but ``base``, ``registry`` and
``settings``, each registering its strategy on import: ``affinity``, ``nginx``, ``router``, ``service``), those of
installed plug-ins (the ``vllm_infra.balancers`` entry-point group) and any registered later.

The built-ins and plug-ins are imported on the first use of the registry, not when this module is. That first use
is ``config/balancer.py`` building ``BalancerSpec``'s per-strategy settings fields (``seal_settings``), while the
config package is being imported: so a strategy module keeps its module-level imports free of ``vllm_infra.config``
and of what imports it (``vllm_infra.observability``, the components but ``kube``), and imports those inside the
methods that build. A strategy registered after that may not bring settings ``BalancerSpec`` lacks: its field would
not exist.
"""

from __future__ import annotations

from vllm_infra.balancers.base import BalancerStrategy
from vllm_infra.registry import Registry

#: The entry-point group a separately installed package registers its strategies under: each entry point names a
#: module that calls ``register`` on import (``[project.entry-points."vllm_infra.balancers"] echo = "pkg.echo"``).
ENTRY_POINT_GROUP = "vllm_infra.balancers"
# BalancerSpec's settings fields once it is built (field -> settings model); None before.
_sealed_settings: dict[str, type | None] | None = None


def _settings_still_possible(strategy: BalancerStrategy) -> None:
    # Once BalancerSpec is built, a strategy's settings key can no longer be added to it.
    field, model = strategy.settings_field, strategy.settings_model
    if _sealed_settings is not None and field is not None and _sealed_settings.get(field) is not model:
        raise ValueError(
            f"balancer strategy {strategy.name!r} brings settings (balancer.{field}), but BalancerSpec was already "
            "built without them: ship the strategy as a module of vllm_infra.balancers or as a "
            f"{ENTRY_POINT_GROUP!r} entry point, which load before the config is built"
        )


_strategies: Registry[BalancerStrategy] = Registry(
    "vllm_infra.balancers",
    "balancer strategy",
    BalancerStrategy,
    # Not strategies: the protocol, this registry and the settings building blocks.
    not_builtin={"base", "registry", "settings"},
    entry_point_group=ENTRY_POINT_GROUP,
    admit=_settings_still_possible,
)


def builtin_modules() -> list[str]:
    """The package's strategy modules, by name: the order ``strategies()`` lists the built-ins in.

    >>> builtin_modules()  # doctest: +NORMALIZE_WHITESPACE
    ['vllm_infra.balancers.affinity', 'vllm_infra.balancers.nginx', 'vllm_infra.balancers.router',
     'vllm_infra.balancers.service']
    """
    return _strategies.builtin_modules


def register(strategy: BalancerStrategy) -> BalancerStrategy:
    """Make ``strategy`` a ``vllm-infra:balancer.strategy`` choice under ``strategy.name``; returns it.

    >>> from vllm_infra.balancers import strategy_names
    >>> strategy_names()
    ('affinity', 'nginx', 'router', 'service')
    """
    return _strategies.register(strategy)


def seal_settings() -> tuple[BalancerStrategy, ...]:
    """Every registered strategy, for building ``BalancerSpec``'s per-strategy settings fields; from then on a
    strategy can only register if ``BalancerSpec`` has its settings field (``config/balancer.py`` calls this once).
    """
    global _sealed_settings
    registered = strategies()
    _sealed_settings = {s.settings_field: s.settings_model for s in registered if s.settings_field is not None}
    return registered


def unregister(name: str) -> None:
    """Remove the strategy registered as ``name`` (for tests that register one of their own)."""
    _strategies.unregister(name)


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy's name, built-ins first."""
    return _strategies.names()


def strategies() -> tuple[BalancerStrategy, ...]:
    """Every registered strategy: the built-ins in ``builtin_modules`` order, then the others as registered."""
    return _strategies.items()


def strategy_for(name: str) -> BalancerStrategy:
    """The strategy registered as ``name``; ``KeyError`` naming the choices when there is none.

    >>> strategy_for("router").routes_by_model
    True
    """
    return _strategies.get(name)


def names_where(capability: str) -> list[str]:
    """The names of the strategies whose boolean ``capability`` (``routes_by_model``, ...) is true, for messages.

    >>> names_where("edge_health_check")
    ['affinity', 'nginx', 'router']
    """
    return _strategies.names_where(capability)
