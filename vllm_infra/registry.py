"""``Registry``: named objects of one kind, the built-ins being the modules of a package — what the balancer
strategies (``vllm_infra.balancers.registry``) and the topologies (``vllm_infra.topologies.registry``) are.

The built-in modules are imported on the first use of the registry, not when it is created: the config validates
names against a registry, and the built-in modules build Pulumi components, which import the config (importing them
from the config would be a cycle). Each built-in module registers its object on import.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from typing import Generic, Protocol, TypeVar

from pydantic_core import PydanticCustomError


class Named(Protocol):
    """What a registry holds: an object with a ``name``."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """The objects of one ``kind`` by name: the built-ins (every module of ``package`` but ``not_builtin``), those
    of the ``entry_point_group`` of installed plug-ins, and any registered later.

    - ``protocol``: a ``runtime_checkable`` Protocol every object must provide (checked by ``register``);
    - ``listed_first``: a built-in module listed before the others (which follow by module name);
    - ``admit``: a further check of an object that provides the protocol, raising to refuse it.

    Listing is in that order — built-ins in module order, then the others as registered — whatever order they
    registered in: importing a built-in module directly registers it after the built-ins it loads, and every message
    that lists the choices would otherwise change with the import order.

    Example::

        _strategies = Registry("vllm_infra.balancers", "balancer strategy", BalancerStrategy,
                               not_builtin={"base", "registry", "settings"}, entry_point_group="vllm_infra.balancers")
        _strategies.register(NginxStrategy())
        _strategies.get("nginx").routes_by_model  # False
    """

    def __init__(
        self,
        package: str,
        kind: str,
        protocol: type,
        *,
        not_builtin: Iterable[str],
        listed_first: str | None = None,
        entry_point_group: str | None = None,
        admit: Callable[[T], None] | None = None,
    ) -> None:
        self.package = package
        self.kind = kind
        self.protocol = protocol
        self.entry_point_group = entry_point_group
        self._not_builtin = frozenset(not_builtin)
        self._listed_first = listed_first
        self._admit = admit
        self._items: dict[str, T] = {}
        self._loaded = False

    @functools.cached_property
    def builtin_modules(self) -> list[str]:
        """The package's built-in modules, in listing order."""
        package = importlib.import_module(self.package)
        names = [info.name for info in pkgutil.iter_modules(package.__path__) if not info.ispkg]
        names = [name for name in names if name not in self._not_builtin]
        names.sort(key=lambda name: (name != self._listed_first, name))
        return [f"{self.package}.{name}" for name in names]

    def load(self) -> None:
        """Import the built-in modules, then the plug-ins' entry points (each registers on import); once."""
        if self._loaded:
            return
        # Set first: each built-in module calls register(), which lands here again.
        self._loaded = True
        for module in self.builtin_modules:
            importlib.import_module(module)
        if self.entry_point_group is not None:
            for entry_point in sorted(entry_points(group=self.entry_point_group), key=lambda point: point.name):
                entry_point.load()

    def register(self, item: T) -> T:
        """Add ``item`` under ``item.name``; ``TypeError`` if it lacks a member of the protocol, ``ValueError`` if
        the name is taken. Returns it."""
        self.load()  # the built-ins come first in the choices, whoever registers first
        if not isinstance(item, self.protocol):
            raise TypeError(f"{item!r} does not provide every member of {self.protocol.__name__}")
        if item.name in self._items:
            raise ValueError(f"{self.kind} {item.name!r} is already registered")
        if self._admit is not None:
            self._admit(item)
        self._items[item.name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove the object registered as ``name`` (for tests that register one of their own)."""
        del self._items[name]

    def items(self) -> tuple[T, ...]:
        """Every registered object, built-ins first (see the class docstring for the order)."""
        self.load()
        rank = {module: index for index, module in enumerate(self.builtin_modules)}
        return tuple(sorted(self._items.values(), key=lambda item: rank.get(type(item).__module__, len(rank))))

    def names(self) -> tuple[str, ...]:
        """Every registered object's name, built-ins first."""
        return tuple(item.name for item in self.items())

    def get(self, name: str) -> T:
        """The object registered as ``name``; ``KeyError`` naming the choices when there is none."""
        self.load()
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"no {self.kind} {name!r}; registered: {', '.join(self.names())}") from None

    def names_where(self, attribute: str) -> list[str]:
        """The names of the objects whose boolean ``attribute`` is true, for messages."""
        return [item.name for item in self.items() if getattr(item, attribute)]


def choices_phrase(names: Sequence[str], *, quoted: bool = False) -> str:
    """``a``, ``a or b``, ``a, b or c``: how messages list a registry's names (``quoted``: as pydantic quotes
    ``Literal`` choices).

    >>> choices_phrase(["nginx", "router", "service"], quoted=True)
    "'nginx', 'router' or 'service'"
    """
    items = [repr(name) if quoted else name for name in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def registered_choice(value: object, names: Sequence[str]) -> str:
    """``value`` if it is one of a registry's ``names``; otherwise the error a ``Literal`` of those names raises, so
    a config key checked against a registry reads like any other choice (``config.errors`` lists the choices and
    suggests the nearest). For a pydantic ``field_validator(mode="before")``.

    >>> registered_choice("nginx", ("affinity", "nginx"))
    'nginx'
    """
    if not isinstance(value, str) or value not in names:
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": choices_phrase(names, quoted=True)}
        )
    return value
