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
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "ports": {"type": "array", "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
                "settings": {"type": "object", "additionalProperties": {"$ref": "pulumi.json#/Any"}},
                "size": {"$ref": "#/types/mini:widgets/WidgetSize:WidgetSize"},
                "spare": {"type": "boolean"},
            },
            "requiredInputs": ["size"],
        }
    },
    "functions": {
        "mini:widgets/getWidget:getWidget": {
            "inputs": {
                "properties": {
                    "filters": {"type": "array", "items": {"$ref": FILTER}},
                    "name": {"type": "string"},
                },
                "required": ["name"],
            }
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
    # Descriptions and language hints dropped; the unselected Gadget's type (Unused) left out; enum names dropped.
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
