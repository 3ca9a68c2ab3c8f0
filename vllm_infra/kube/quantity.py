"""Kubernetes resource quantities (``500m``, ``12Gi``, ``1.5e3``): the one parser of the package.

The grammar is Kubernetes' own (``k8s.io/apimachinery/pkg/api/resource/quantity.go``, the serialization format
documented on ``resource.Quantity``; the suffixes are those of ``suffix.go``)::

    <quantity>        ::= <signedNumber><suffix>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei            (powers of 1024)
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E  (powers of 1000)
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

Values are exact (``Decimal``): ``parse_quantity("500m") == Decimal("0.5")``, ``parse_quantity("1Ki") == 1024``.

Why hand-written: the only maintained Python implementation is ``kubernetes.utils.parse_quantity`` in the official
Kubernetes client, which would add the whole client (and its auth and HTTP dependencies) to every Pulumi program that
imports these components — for forty lines of grammar.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["QuantityError", "gib", "gib_quantity", "parse_quantity", "suggest_quantity"]

_SUFFIXES: dict[str, Decimal] = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
}
# A suffix is tried before an exponent: "1E" is one exa, "1E3" is a thousand (as in quantity.go).
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE](?P<exponent>[+-]?[0-9]+))?"
)
GIB = Decimal(2) ** 30


class QuantityError(ValueError):
    """Text that is not a Kubernetes quantity; the message says so in words, with a suggestion when one is close."""


def parse_quantity(text: str | int | float | Decimal) -> Decimal:
    """The value of a Kubernetes quantity in base units (bytes, cores), exactly.

    Numbers (``4``, ``0.5``) are accepted as they are in a manifest. Raises ``QuantityError`` otherwise.

    >>> parse_quantity("500m"), parse_quantity("12Gi"), parse_quantity("1.5e3"), parse_quantity(2)
    (Decimal('0.500'), Decimal('12884901888'), Decimal('1.5E+3'), Decimal('2'))
    """
    if isinstance(text, bool):
        raise QuantityError("is not a Kubernetes quantity (true/false)")
    if isinstance(text, (int, float, Decimal)):
        return Decimal(str(text))
    if not isinstance(text, str):
        raise QuantityError("is not a Kubernetes quantity")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        hint = suggest_quantity(text)
        raise QuantityError("is not a Kubernetes quantity" + (f" (did you mean {hint}?)" if hint else ""))
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
        raise QuantityError("is not a Kubernetes quantity") from None
    if match["exponent"] is not None:
        return number.scaleb(int(match["exponent"]))
    return number * _SUFFIXES[match["suffix"] or ""]


def gib(text: str | int | float | Decimal) -> float:
    """A quantity in GiB (2**30 bytes).

    >>> gib("12Gi"), gib("512Mi")
    (12.0, 0.5)
    """
    return float(parse_quantity(text) / GIB)


def gib_quantity(size_gib: float) -> str:
    """``size_gib`` GiB spelled as a Kubernetes quantity, the way manifests write sizes (``sizeLimit``, ``storage``).

    >>> gib_quantity(12)
    '12Gi'
    """
    return f"{size_gib}Gi"


# Units people write that Kubernetes does not know, and what they meant.
_NEAR_MISSES = {"kb": "k", "kib": "Ki", "mb": "M", "mib": "Mi", "gb": "G", "gib": "Gi", "tb": "T", "tib": "Ti",
                "b": ""}  # fmt: skip


def suggest_quantity(text: str) -> str | None:
    """A legal spelling of a near-miss such as ``12GB`` (→ ``12G or 12Gi``) or ``16 Gi`` (→ ``16Gi``), else None.

    >>> suggest_quantity("12GB"), suggest_quantity("16 Gi"), suggest_quantity("lots")
    ('12G or 12Gi', '16Gi', None)
    """
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if match is None:
        return None
    number, unit = match.groups()
    if unit in _SUFFIXES:
        return f"{number}{unit}"
    near = _NEAR_MISSES.get(unit.lower())
    if near is None:
        return None
    if near.endswith("i") or near == "":
        return f"{number}{near}"
    return f"{number}{near} or {number}{near.upper()}i"
