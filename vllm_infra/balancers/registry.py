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

import functools
import importlib
import pkgutil
from importlib.metadata import entry_points

from vllm_infra.balancers.base import BalancerStrategy

#: The entry-point group a separately installed package registers its strategies under: each entry point names a
#: module that calls ``register`` on import (``[project.entry-points."vllm_infra.balancers"] echo = "pkg.echo"``).
ENTRY_POINT_GROUP = "vllm_infra.balancers"
# Not strategies: the protocol, this registry and the settings building blocks.
_NOT_STRATEGY_MODULES = frozenset({"base", "registry", "settings"})
_strategies: dict[str, BalancerStrategy] = {}
_builtins_loaded = False
# BalancerSpec's settings fields once it is built (field -> settings model); None before.
_sealed_settings: dict[str, type | None] | None = None


@functools.cache
def builtin_modules() -> list[str]:
    """The package's strategy modules, by name: the order ``strategies()`` lists the built-ins in.

    >>> builtin_modules()  # doctest: +NORMALIZE_WHITESPACE
    ['vllm_infra.balancers.affinity', 'vllm_infra.balancers.nginx', 'vllm_infra.balancers.router',
     'vllm_infra.balancers.service']
    """
    import vllm_infra.balancers as package

    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if not info.ispkg)
    return [f"{package.__name__}.{name}" for name in names if name not in _NOT_STRATEGY_MODULES]


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        # Set first: each built-in module calls register(), which lands here again.
        _builtins_loaded = True
        for module in builtin_modules():
            importlib.import_module(module)
        # Plug-ins after the built-ins (the default stays first), in a stable order.
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda point: point.name):
            entry_point.load()


def register(strategy: BalancerStrategy) -> BalancerStrategy:
    """Make ``strategy`` a ``vllm-infra:balancer.strategy`` choice under ``strategy.name``; returns it.

    >>> from vllm_infra.balancers import strategy_names
    >>> strategy_names()
    ('affinity', 'nginx', 'router', 'service')
    """
    _load_builtins()  # the built-ins come first in the choices, whoever registers first
    if not isinstance(strategy, BalancerStrategy):
        raise TypeError(f"{strategy!r} does not provide every member of BalancerStrategy")
    if strategy.name in _strategies:
        raise ValueError(f"balancer strategy {strategy.name!r} is already registered")
    field, model = strategy.settings_field, strategy.settings_model
    if _sealed_settings is not None and field is not None and _sealed_settings.get(field) is not model:
        raise ValueError(
            f"balancer strategy {strategy.name!r} brings settings (balancer.{field}), but BalancerSpec was already "
            "built without them: ship the strategy as a module of vllm_infra.balancers or as a "
            f"{ENTRY_POINT_GROUP!r} entry point, which load before the config is built"
        )
    _strategies[strategy.name] = strategy
    return strategy


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
    del _strategies[name]


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy's name, built-ins first."""
    return tuple(strategy.name for strategy in strategies())


def strategies() -> tuple[BalancerStrategy, ...]:
    """Every registered strategy: the built-ins in ``builtin_modules`` order, then the others as registered."""
    _load_builtins()
    # Sorted rather than taken in registration order: importing a built-in module directly registers it after the
    # built-ins it loads (``import vllm_infra.balancers.nginx`` first would list nginx last, and every message that
    # lists the choices would change with the import order).
    rank = {module: index for index, module in enumerate(builtin_modules())}
    return tuple(sorted(_strategies.values(), key=lambda strategy: rank.get(type(strategy).__module__, len(rank))))


def strategy_for(name: str) -> BalancerStrategy:
    """The strategy registered as ``name``; ``KeyError`` naming the choices when there is none.

    >>> strategy_for("router").routes_by_model
    True
    """
    _load_builtins()
    try:
        return _strategies[name]
    except KeyError:
        raise KeyError(f"no balancer strategy {name!r}; registered: {', '.join(strategy_names())}") from None


def names_where(capability: str) -> list[str]:
    """The names of the strategies whose boolean ``capability`` (``routes_by_model``, ...) is true, for messages.

    >>> names_where("edge_health_check")
    ['affinity', 'nginx', 'router']
    """
    return [strategy.name for strategy in strategies() if getattr(strategy, capability)]


def choices_phrase(names: list[str] | tuple[str, ...], *, quoted: bool = False) -> str:
    """``a``, ``a or b``, ``a, b or c``: how messages list strategies (``quoted``: as pydantic quotes Literal choices).

    >>> choices_phrase(["nginx", "router", "service"], quoted=True)
    "'nginx', 'router' or 'service'"
    """
    items = [repr(name) if quoted else name for name in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
