"""scripts/extract_provider_schema.py on a miniature package: a hand-written schema and the Python SDK that Pulumi's
generator would make of it (tests/data/provider-schemas/fixture/). Both routes must give the same pieces, and those
pieces are written out here by hand."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "provider-schemas" / "fixture"
SELECTION = {"mini": {"resources": ["mini:widgets/widget:Widget"], "functions": ["mini:widgets/getWidget:getWidget"]}}

ENDPOINT = "#/types/mini:index/ProviderEndpoint:ProviderEndpoint"
FILTER = "#/types/mini:widgets/GetWidgetFilter:GetWidgetFilter"
EXPECTED = {
    "name": "mini",
    "version": "1.2.3",
    "resourceTokens": ["mini:widgets/gadget:Gadget", "mini:widgets/widget:Widget"],
    "functionTokens": ["mini:widgets/getWidget:getWidget"],
    "provider": {
        "inputProperties": {"endpoint": {"$ref": ENDPOINT}, "maxRetries": {"type": "integer"}},
        "requiredInputs": [],
    },
    "resources": {
        "mini:widgets/widget:Widget": {
            "inputProperties": {
                "apiVersion": {"type": "string", "const": "v1"},
                "description": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "modes": {"type": "array", "items": {"type": "string", "documentedValues": ["quiet", "loud"]}},
                "ports": {"type": "array", "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
                "settings": {"type": "object", "additionalProperties": {"$ref": "pulumi.json#/Any"}},
                "size": {"$ref": "#/types/mini:widgets/WidgetSize:WidgetSize"},
                "spare": {"type": "boolean"},
                "speed": {"type": "string", "documentedValues": ["slow", "fast"]},
            },
            "requiredInputs": ["size"],
        }
    },
    "functions": {
        "mini:widgets/getWidget:getWidget": {
            "inputs": {
                "properties": {
                    "filters": {"type": "array", "items": {"$ref": FILTER}},
                    "kind": {"type": "string", "documentedValues": ["round", "square"]},
                    "name": {"type": "string"},
                },
                "required": ["name"],
            },
            "outputs": {
                "properties": {
                    "filters": {"type": "array", "items": {"$ref": FILTER}},
                    "id": {"type": "string"},
                    "widgetName": {"type": "string"},
                },
                "required": ["id"],
            },
        }
    },
    "types": {
        "mini:index/ProviderEndpoint:ProviderEndpoint": {
            "type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"],
        },
        "mini:widgets/GetWidgetFilter:GetWidgetFilter": {
            "type": "object",
            "properties": {"values": {"type": "array", "items": {"type": "string"}}},
            "required": ["values"],
        },
        "mini:widgets/WidgetSize:WidgetSize": {
            "type": "object",
            "properties": {
                "color": {"$ref": "#/types/mini:widgets/color:Color"},
                "endpoint": {"$ref": ENDPOINT},
                "heightCm": {"type": "number"},
            },
            "required": ["heightCm"],
        },
        "mini:widgets/color:Color": {"type": "string", "enum": [{"value": "red"}, {"value": "blue"}]},
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def extractor():
    script = ROOT / "scripts" / "extract_provider_schema.py"
    spec = importlib.util.spec_from_file_location("extract_provider_schema", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through the module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _run(extractor, tmp_path: Path, source: str, path: Path) -> dict:
    selection = tmp_path / "selection.json"
    selection.write_text(json.dumps(SELECTION))
    out = tmp_path / "out.json"
    assert extractor.main([source, str(path), "--selection", str(selection), "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_a_full_schema_is_cut_to_the_selection_and_what_it_references(extractor, tmp_path):
    pieces = _run(extractor, tmp_path, "schema", FIXTURE / "mini-schema.json")
    source = pieces.pop("source")
    assert source["kind"] == "package schema" and source["file"] == "mini-schema.json" and len(source["sha256"]) == 64
    # Descriptions and language hints dropped but for exhaustive "Valid values" lists of strings; a property named
    # "description" kept; the unselected Gadget's type (Unused) left out; enum names dropped.
    assert pieces == EXPECTED


def test_the_generated_python_sdk_gives_the_same_pieces(extractor, tmp_path):
    pieces = _run(extractor, tmp_path, "sdk", FIXTURE / "pulumi_mini")
    assert pieces.pop("source") == {"kind": "generated Python SDK", "directory": "pulumi_mini"}
    assert pieces == EXPECTED


def test_a_wheel_is_read_without_unpacking(extractor, tmp_path):
    import zipfile

    wheel = tmp_path / "pulumi_mini-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for file in sorted((FIXTURE / "pulumi_mini").rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, f"pulumi_mini/{file.relative_to(FIXTURE / 'pulumi_mini').as_posix()}")
        archive.writestr("pulumi_mini-1.2.3.dist-info/METADATA", "Name: pulumi-mini\n")
    pieces = _run(extractor, tmp_path, "sdk", wheel)
    source = pieces.pop("source")
    assert source["file"] == wheel.name and len(source["sha256"]) == 64
    assert pieces == EXPECTED


def test_a_token_the_package_lacks_is_an_error(extractor):
    schema = json.loads((FIXTURE / "mini-schema.json").read_text())
    with pytest.raises(KeyError, match="mini has no resource mini:widgets/widget:Widgets"):
        extractor.subset_schema(schema, ["mini:widgets/widget:Widgets"], [])
    sdk, _ = extractor.parse_sdk(str(FIXTURE / "pulumi_mini"))
    with pytest.raises(KeyError, match="mini has no function mini:widgets/getWidgets:getWidgets"):
        extractor.schema_from_sdk(sdk, [], ["mini:widgets/getWidgets:getWidgets"])


@pytest.mark.parametrize(
    ("description", "values"),
    [
        ("Type of capacity associated with the EKS Node Group. Valid values: `ON_DEMAND`, `SPOT`. This provider will "
         "only perform drift detection if a configuration value is provided.", ["ON_DEMAND", "SPOT"]),
        ("The protocol to use when performing health checks. Valid values are `HTTP`, `HTTPS`, `HTTP_STR_MATCH`, "
         "`HTTPS_STR_MATCH`, `TCP`, `CALCULATED`, `CLOUDWATCH_METRIC` and `RECOVERY_CONTROL`.",
         ["HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED", "CLOUDWATCH_METRIC",
          "RECOVERY_CONTROL"]),
        ("The IP family used to assign Kubernetes pod and service addresses. Valid values are `ipv4` (default) and "
         "`ipv6`. You can only specify an IP family when you create a cluster", ["ipv4", "ipv6"]),
        ("The control plane scaling tier. Valid values are `standard`, `tier-xl`, `tier-2xl`, `tier-4xl`, or "
         "`tier-8xl`. Defaults to `standard`.", ["standard", "tier-xl", "tier-2xl", "tier-4xl", "tier-8xl"]),
        # Not an exhaustive list of strings: nothing to check against.
        ("The minimum number of child health checks ... Valid values are integers between 0 and 256, inclusive", None),
        ("IP addresses to use for BYOIP accelerators. Valid values: 1 or 2 IPv4 addresses.", None),
        ("Valid values include `gp2` and `gp3` among others.", None),
        ("Image pull policy. One of Always, Never, IfNotPresent.", None),
        (None, None),
    ],
)  # fmt: skip
def test_documented_values_are_read_only_from_an_exhaustive_list(extractor, description, values):
    assert extractor.documented_values(description) == values
