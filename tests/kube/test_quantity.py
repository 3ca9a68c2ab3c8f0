"""The package's one Kubernetes quantity parser (``vllm_infra.kube.quantity``) follows Kubernetes' grammar."""

from __future__ import annotations

from decimal import Decimal

import pytest

from vllm_infra.kube.quantity import QuantityError, gib, gib_quantity, parse_quantity, suggest_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("8", Decimal(8)),
        ("1Ki", Decimal(1024)),
        ("12Gi", Decimal(12 * 2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("12G", Decimal(12 * 10**9)),
        ("1E", Decimal(10**18)),  # a suffix before an exponent: one exa
        ("1E3", Decimal(1000)),
        ("1.5e-3", Decimal("0.0015")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("+2k", Decimal(2000)),
        ("100u", Decimal("0.0001")),
        (4, Decimal(4)),
        (0.25, Decimal("0.25")),
    ],
)
def test_legal_quantities_have_their_exact_value(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "1e", "1.2.3", "1 Gi", "12GB", "1gi", "lots", "1Kib", True, None])
def test_anything_else_is_rejected_in_words(text):
    with pytest.raises(QuantityError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


def test_gib_converts_bytes_to_gib():
    assert (gib("512Mi"), gib("2Gi"), gib(str(2**30))) == (0.5, 2.0, 1.0)


@pytest.mark.parametrize(
    ("text", "hint"),
    [("12GB", "12G or 12Gi"), ("16 Gi", "16Gi"), ("4gib", "4Gi"), ("200MB", "200M or 200Mi"), ("lots", None)],
)
def test_near_misses_get_a_legal_spelling(text, hint):
    assert suggest_quantity(text) == hint


def test_sizes_in_gib_are_spelled_with_the_binary_suffix():
    assert gib_quantity(12) == "12Gi"
    assert parse_quantity(gib_quantity(300)) == Decimal(300 * 2**30)
