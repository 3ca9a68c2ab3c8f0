"""The balancer strategies by name: the built-in ones (every module of this package but ``base`` and ``registry``,
each registering its strategy on import: ``affinity``, ``nginx``, ``router``, ``service``) and any registered later.

The built-ins are imported on the first use of the registry, not when this module is: ``config/balancer.py``
validates against the registry, and the strategy modules build Pulumi resources (importing them from the config
would be a cycle).
"""

from __future__ import annotations

import importlib
import pkgutil

from vllm_infra.balancers.base import BalancerStrategy

# Not strategies: the protocol and this registry.
_NOT_STRATEGY_MODULES = frozenset({"base", "registry"})
_strategies: dict[str, BalancerStrategy] = {}
_builtins_loaded = False


def builtin_modules() -> list[str]:
    """The package's strategy modules, by name: the order they are imported in (a module registers its strategy when
    imported, after any strategy module it imports: ``affinity`` builds on ``nginx``, which registers first).

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


def register(strategy: BalancerStrategy) -> BalancerStrategy:
    """Make ``strategy`` a ``vllm-infra:balancer.strategy`` choice under ``strategy.name``; returns it.

    >>> from vllm_infra.balancers import strategy_names
    >>> strategy_names()
    ('nginx', 'affinity', 'router', 'service')
    """
    _load_builtins()  # the built-ins come first in the choices, whoever registers first
    if not isinstance(strategy, BalancerStrategy):
        raise TypeError(f"{strategy!r} does not provide every member of BalancerStrategy")
    if strategy.name in _strategies:
        raise ValueError(f"balancer strategy {strategy.name!r} is already registered")
    _strategies[strategy.name] = strategy
    return strategy


def unregister(name: str) -> None:
    """Remove the strategy registered as ``name`` (for tests that register one of their own)."""
    del _strategies[name]


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy's name, built-ins first."""
    _load_builtins()
    return tuple(_strategies)


def strategies() -> tuple[BalancerStrategy, ...]:
    """Every registered strategy, built-ins first."""
    _load_builtins()
    return tuple(_strategies.values())


def strategy_for(name: str) -> BalancerStrategy:
    """The strategy registered as ``name``; ``KeyError`` naming the choices when there is none.

    >>> strategy_for("router").routes_by_model
    True
    """
    _load_builtins()
    try:
        return _strategies[name]
    except KeyError:
        raise KeyError(f"no balancer strategy {name!r}; registered: {', '.join(_strategies)}") from None


def names_where(capability: str) -> list[str]:
    """The names of the strategies whose boolean ``capability`` (``routes_by_model``, ...) is true, for messages.

    >>> names_where("edge_health_check")
    ['nginx', 'affinity', 'router']
    """
    return [strategy.name for strategy in strategies() if getattr(strategy, capability)]


def choices_phrase(names: list[str] | tuple[str, ...], *, quoted: bool = False) -> str:
    """``a``, ``a or b``, ``a, b or c``: how messages list strategies (``quoted``: as pydantic quotes Literal choices).

    >>> choices_phrase(["nginx", "router", "service"], quoted=True)
    "'nginx', 'router' or 'service'"
    """
    items = [repr(name) if quoted else name for name in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
