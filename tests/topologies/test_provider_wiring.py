"""Every resource of a region uses that region's providers; nothing falls back to an ambient provider."""

from __future__ import annotations

import pytest

from tests.conftest import SHIPPED_STACKS


def provider_urn(reference: str | None) -> str | None:
    return reference.rsplit("::", 1)[0] if reference else None


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_resource_uses_an_ambient_provider(shipped_plans, stack):
    plan = shipped_plans[stack]
    providers = {r.urn: r for r in plan.resources if r.type.startswith("pulumi:providers:")}
    for resource in plan.resources:
        if not resource.custom or resource.type.startswith("pulumi:providers:"):
            continue
        package = resource.type.split(":", 1)[0]
        assert resource.provider, f"{resource.type} {resource.name} uses the ambient provider"
        provider = providers[provider_urn(resource.provider)]
        assert provider.type == f"pulumi:providers:{package}", (resource.name, provider.name)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_resources_of_a_region_use_that_regions_providers(shipped_plans, stack):
    plan = shipped_plans[stack]
    providers = {r.urn: r for r in plan.resources if r.type.startswith("pulumi:providers:")}
    regions = {p.inputs["region"] for p in providers.values() if p.type == "pulumi:providers:aws"}
    assert regions
    checked = 0
    for resource in plan.resources:
        if not resource.custom or resource.type.startswith("pulumi:providers:"):
            continue
        named = [r for r in regions if r in resource.name]
        if not named:
            # Only global resources (Global Accelerator) name no region; they live under the global component.
            assert "GlobalLoadBalancer" in resource.urn, resource.name
            continue
        (region,) = named
        provider = providers[provider_urn(resource.provider)]
        assert provider.name.startswith(region + "-"), f"{resource.name} ({region}) uses {provider.name}"
        checked += 1
    assert checked > 10
