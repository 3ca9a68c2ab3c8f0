"""The structural walk: what counts as a change, list pairing, container flags, property paths."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import rpc

from tests.offline.diff.documents import NODE_GROUP, changed, deployment, document, entry, k8s, mutate
from vllm_infra.offline.diff import (
    MISSING,
    diff_plans,
    format_path,
    parse_path,
    render_json,
    render_markdown,
    render_text,
)

# --- basics -----------------------------------------------------------------------------------------------------------


def test_identical_documents_have_no_changes():
    doc = document(deployment(), k8s("Service", "v1", "llama", {"type": "ClusterIP"}), cost=0.8)
    diff = diff_plans(doc, copy.deepcopy(doc))
    assert diff.empty
    assert render_text(diff) == "Plan diff (dev): No changes."
    assert render_markdown(diff) == "**Plan diff** `dev`: No changes.\n"
    assert render_json(diff)["empty"] is True and render_json(diff)["resources"] == []


def test_added_removed_and_changed_are_keyed_by_urn_and_sorted():
    a, b, c = (k8s("ConfigMap", "v1", n, data={"k": "v"}) for n in ("a", "b", "c"))
    diff = diff_plans(document(a, b), document(c, mutate(b, lambda i: i["metadata"].update(labels={"x": "1"}))))
    assert [r.name for r in diff.added] == ["c"] and [r.name for r in diff.removed] == ["a"]
    assert [(r.name, r.action) for r in diff.changed] == [("b", "update")]
    assert diff.counts() == {"replace": 0, "update": 1, "create": 1, "delete": 1}


def test_output_is_deterministic_whatever_the_input_order():
    old = document(deployment(), k8s("ConfigMap", "v1", "a", data={"k": "v"}))
    new = document(
        k8s("ConfigMap", "v1", "b", data={"k": "v"}),
        mutate(deployment(), lambda i: i["spec"].update(replicas=2.0)),
    )
    shuffled = copy.deepcopy(new)
    shuffled["resources"].reverse()
    for render in (render_text, render_markdown, lambda d: json.dumps(render_json(d))):
        assert render(diff_plans(old, new)) == render(diff_plans(old, shuffled))


def test_numbers_compare_as_numbers_but_not_as_booleans():
    old = k8s("ConfigMap", "v1", "a", spec={"n": 1, "flag": True})
    assert diff_plans(document(old), document(mutate(old, lambda i: i["spec"].update(n=1.0)))).empty
    resource = changed(old, mutate(old, lambda i: i["spec"].update(flag=1)))
    assert [c.path for c in resource.changes] == ["spec.flag"]


def test_secrets_compare_by_marker_and_never_print():
    old = k8s("Secret", "v1", "key", stringData={"api-key": "[secret]"})
    raw = mutate(old, lambda i: i["stringData"].update({"api-key": rpc.wrap_rpc_secret("sk-DO-NOT-PRINT")}))
    assert diff_plans(document(old), document(raw)).empty
    leaked = mutate(old, lambda i: i["stringData"].update({"api-key": "sk-plain"}))
    diff = diff_plans(document(old), document(leaked))
    (change,) = diff.changed[0].changes
    assert (change.old, change.new) == ("[secret]", "sk-plain")
    everything = render_text(diff) + render_markdown(diff) + json.dumps(render_json(diff))
    raw_diff = diff_plans(document(leaked), document(raw))
    assert "sk-DO-NOT-PRINT" not in everything + render_markdown(raw_diff) + json.dumps(render_json(raw_diff))


def test_unknown_values_show_as_unknown():
    old = entry(NODE_GROUP, "ng", {"nodeRoleArn": "[unknown]", "clusterName": "c"})
    assert diff_plans(document(old), document(copy.deepcopy(old))).empty
    resource = changed(old, mutate(old, lambda i: i.update(nodeRoleArn="arn:aws:iam::1:role/x")))
    assert resource.changes[0].old == "[unknown]"


# --- lists ----------------------------------------------------------------------------------------------------------


def test_container_args_show_the_flag_that_changed():
    old = deployment()
    new = mutate(old, lambda i: i["spec"]["template"]["spec"]["containers"][0]["args"].__setitem__(4, "16384"))
    resource = changed(old, new)
    (change,) = resource.changes
    assert change.path == "spec.template.spec.containers[0].args[4]"
    assert change.describe() == "--max-model-len 8192 → 16384"
    assert resource.action == "update"


def test_flags_added_removed_flipped_and_reordered():
    base = ["org/m", "--port", "8000", "--enable-prefix-caching", "--dtype", "auto"]
    old = deployment(args=base)
    new = deployment(args=["org/m", "--port", "8000", "--no-enable-prefix-caching", "--quantization", "awq"])
    described = [c.describe() for c in changed(old, new).changes]
    assert described == ["--enable-prefix-caching → --no-enable-prefix-caching", "+ --quantization awq",
                         "- --dtype auto"]  # fmt: skip
    reordered = deployment(args=["org/m", "--dtype", "auto", "--port", "8000", "--enable-prefix-caching"])
    (change,) = changed(old, reordered).changes
    assert change.note == "same flags, order changed"
    (model,) = changed(old, deployment(args=["org/other", *base[1:]])).changes
    assert (model.path, model.old, model.new) == ("spec.template.spec.containers[0].args[0]", "org/m", "org/other")


def test_named_list_items_pair_by_name_not_position():
    old = deployment()
    new = deployment(env=[{"name": "A", "value": "1"}, {"name": "NEW", "value": "x"}, {"name": "B", "value": "3"}])
    changes = changed(old, new).changes
    assert [(c.path, c.kind) for c in changes] == [
        ("spec.template.spec.containers[0].env[1]", "add"),
        ("spec.template.spec.containers[0].env[2].value", "update"),
    ]


def test_paths_use_pulumi_property_path_syntax():
    old = k8s("ConfigMap", "v1", "a", data={"x": "1"})
    old["inputs"]["metadata"]["labels"] = {"tier": "gpu"}
    new = mutate(old, lambda i: i["metadata"]["labels"].update({"app.kubernetes.io/name": "vllm"}))
    (change,) = changed(old, new).changes
    assert change.path == 'metadata.labels["app.kubernetes.io/name"]'
    assert parse_path(change.path) == ["metadata", "labels", "app.kubernetes.io/name"]
    assert format_path(parse_path('a[0]["b.c"][*].d')) == 'a[0]["b.c"][*].d'


# --- property: a document never differs from itself, and differs whenever its JSON does ----------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab-", max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text("xyz", max_size=2), children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(json_values, json_values)
def test_diff_is_empty_exactly_when_inputs_are_equal(a, b):
    old = k8s("ConfigMap", "v1", "a", spec={"v": a})
    assert diff_plans(document(old), document(copy.deepcopy(old))).empty
    new = k8s("ConfigMap", "v1", "a", spec={"v": b})
    equal = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    diff = diff_plans(document(old), document(new))
    assert diff.empty is equal
    for change in diff.changed[0].changes if diff.changed else ():
        assert change.old is not MISSING or change.new is not MISSING
