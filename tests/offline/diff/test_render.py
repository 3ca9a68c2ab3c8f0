"""How a diff reads: text properties as line diffs, citations once in notes, a one-line-per-resource summary."""

from __future__ import annotations

import json
import re

from tests.offline.diff.documents import deployment, document, k8s, mutate, node_group
from tests.offline.diff.test_cli import PROJECT_DIR, model, variant
from tests.offline.test_secret_leak import run_cli
from vllm_infra.offline.diff import (
    diff_plans,
    render_json,
    render_markdown,
    render_markdown_summary,
    render_text,
    render_text_summary,
)

CONF = "\n".join(f"line {i};" for i in range(200)) + "\n"
K8S_SOURCE = "pulumi-kubernetes v4 forceNew table"


def nginx_map(conf: str, name: str = "nginx") -> dict:
    return k8s("ConfigMap", "v1", name, data={"nginx.conf": conf})


def test_a_multi_line_string_change_is_a_line_diff_with_context():
    old, new = nginx_map(CONF), nginx_map(CONF.replace("line 100;", "line one hundred;"))
    diff = diff_plans(document(old), document(new))
    text = render_text(diff)
    assert 'data["nginx.conf"]: +1 −1 lines' in text
    body = [line.strip() for line in text.splitlines()]
    assert "-line 100;" in body and "+line one hundred;" in body
    assert "line 98;" in body and "line 102;" in body, "two lines of context"
    assert "line 97;" not in body and "line 0;" not in body, "not the whole file"
    assert len(text.splitlines()) < 25
    (change,) = render_json(diff)["resources"][0]["changes"]
    assert change["lineDiff"][0].startswith("@@") and "+line one hundred;" in change["lineDiff"]


def test_a_long_json_string_is_pretty_printed_before_the_line_diff():
    dashboard = {"panels": [{"id": i, "title": f"panel {i}", "targets": [{"expr": f"vllm:x{i}"}]} for i in range(30)]}
    changed = json.loads(json.dumps(dashboard))
    changed["panels"][7]["title"] = "queue depth"
    old = k8s("ConfigMap", "v1", "dash", data={"d.json": json.dumps(dashboard)})
    new = k8s("ConfigMap", "v1", "dash", data={"d.json": json.dumps(changed)})
    text = render_text(diff_plans(document(old), document(new)))
    assert '-      "title": "panel 7"' in text and '+      "title": "queue depth"' in text
    assert '"panel 20"' not in text
    markdown = render_markdown(diff_plans(document(old), document(new)))
    assert "```diff" in markdown and '+      "title": "queue depth"' in markdown


def test_short_strings_stay_one_line():
    old = k8s("ConfigMap", "v1", "a", data={"k": "v1"})
    text = render_text(diff_plans(document(old), document(mutate(old, lambda i: i["data"].update(k="v2")))))
    assert "data.k: v1 → v2" in text and "@@" not in text


def test_citations_are_printed_once_in_the_notes_not_on_each_line():
    old = [nginx_map(CONF, "a"), nginx_map(CONF, "b"), nginx_map(CONF, "c")]
    new = [nginx_map(CONF + "x;\n", "a"), nginx_map(CONF + "y;\n", "b"), nginx_map(CONF + "z;\n", "c")]
    diff = diff_plans(document(*old), document(*new))
    for rendered in (render_text(diff), render_markdown(diff), render_text_summary(diff),
                     render_markdown_summary(diff)):  # fmt: skip
        assert rendered.count(K8S_SOURCE) == 1, rendered
        assert rendered.count("deleted before the new one is created") == 1
        citing = [line for line in rendered.splitlines() if K8S_SOURCE in line]
        assert re.match(r"[- ]*\[\d\] forces replacement: data is immutable \(source: ", citing[0]), citing


def test_the_summary_has_one_line_per_resource():
    old = [nginx_map(CONF, "a"), k8s("Service", "v1", "s", {"type": "ClusterIP"}), k8s("Secret", "v1", "gone")]
    new = [nginx_map(CONF + "x;\n", "a"), k8s("Service", "v1", "s", {"type": "LoadBalancer"}),
           k8s("Namespace", "v1", "new")]  # fmt: skip
    diff = diff_plans(document(*old), document(*new))
    rows = [line for line in render_text_summary(diff).splitlines() if line[:4] in ("  ± ", "  ~ ", "  + ", "  - ")]
    assert len(rows) == 4
    assert rows[0].split()[:4] == ["±", "replace", "kubernetes:core/v1:ConfigMap", "a"]
    assert 'data["nginx.conf"] (+1 −0 lines) [1][2]' in rows[0]
    assert "spec.type" in next(row for row in rows if " s " in row)
    table = [line for line in render_markdown_summary(diff).splitlines() if line.startswith("| ")]
    assert len(table) == 2 + 4


def test_adding_a_model_to_multi_model_reads_at_a_glance(tmp_path):
    # The newcomer's case: a fourth model changes the nginx.conf, the dashboard JSON and the alert rules.
    def add_model(config):
        config["vllm-infra:models"].append({
            "name": "qwen-7b", "model": "Qwen/Qwen2.5-7B-Instruct",
            "revision": "a09a35458c702b33eeacc393d103063234e8bc28", "replicas": 1,
            "cache": {"storageClass": "efs-sc", "accessMode": "ReadWriteMany"}})  # fmt: skip

    import yaml

    document_ = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.multi-model.yaml").read_text())
    add_model(document_["config"])
    new = tmp_path / "Pulumi.multi-model.yaml"
    new.write_text(yaml.safe_dump(document_, sort_keys=False))
    result = run_cli("diff", str(PROJECT_DIR / "stacks" / "Pulumi.multi-model.yaml"), str(new))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) < 200  # was 1,689: both ConfigMaps printed whole, old and new
    assert "worker_processes auto;" not in result.stdout, "unchanged nginx lines far from the change are not shown"
    summary = run_cli("diff", str(PROJECT_DIR / "stacks" / "Pulumi.multi-model.yaml"), str(new), "--summary").stdout
    assert len(summary.splitlines()) < 25


def test_exit_codes_tell_changes_from_a_failing_pulumi_up(tmp_path):
    single = str(PROJECT_DIR / "stacks" / "Pulumi.single.yaml")
    assert run_cli("diff", single, single, "--exit-code").returncode == 0
    more_seqs = variant(tmp_path, "seqs", lambda c: model(c)["engine"].update(maxNumSeqs=128))
    assert run_cli("diff", single, more_seqs, "--exit-code").returncode == 1
    # Renaming the model deletes its protected weight cache: Pulumi refuses, `pulumi up` fails.
    renamed = variant(tmp_path, "renamed", lambda c: model(c).update(name="llama-v2"))
    result = run_cli("diff", single, renamed, "--exit-code", "--summary")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "⛔" in result.stdout
    assert run_cli("diff", single, renamed).returncode == 0, "without --exit-code a diff is only a report"
    help_text = run_cli("diff", "--help").stdout
    assert "4  --exit-code: `pulumi up` would fail" in help_text and "1  --exit-code: there are changes" in help_text


def test_a_list_item_swapped_for_one_with_another_key_shows_only_what_differs():
    rules = [{"alert": f"Alert{i}", "expr": f"vllm:metric_{i} > {i}", "for": "5m"} for i in range(12)]
    old = k8s("PrometheusRule", "monitoring.coreos.com/v1", "slo",
              {"groups": [{"name": "slo-llama-8b", "rules": rules}]})  # fmt: skip
    new = mutate(old, lambda i: i["spec"]["groups"][0].update(name="slo-llama-v2"))
    diff = diff_plans(document(old), document(new))
    # The engine's view: the keyed item is removed and another added (JSON keeps both) ...
    assert [c["kind"] for c in render_json(diff)["resources"][0]["changes"]] == ["add", "delete"]
    # ... a person's view: one change whose line diff is the name.
    text = render_text(diff)
    assert "~ spec.groups[0]: +1 −1 lines" in text
    assert '-  "name": "slo-llama-8b",' in text and '+  "name": "slo-llama-v2",' in text
    assert "Alert11" not in text


def _entry(name: str, type_: str, parent: str | None = None, protect: bool = False) -> dict:
    return {"urn": f"urn:pulumi:s::p::{type_}::{name}", "type": type_, "name": name, "parent": parent,
            "inputs": {}, "protect": protect}  # fmt: skip


def test_summaries_fold_what_is_created_or_deleted_with_its_component():
    from vllm_infra.offline.diff import diff_plans, render_markdown_summary, render_text_summary

    stack = _entry("stack", "pulumi:pulumi:Stack")
    new_component = _entry("new-model", "vllm-infra:vllm:VllmDeployment", stack["urn"])
    new_children = [_entry(f"new-model-{kind}", f"kubernetes:core/v1:{kind}", new_component["urn"])
                    for kind in ("Service", "ConfigMap")]  # fmt: skip
    grandchild = _entry("new-model-tag", "aws:autoscaling/tag:Tag", new_children[0]["urn"])
    old_component = _entry("old-model", "vllm-infra:model_cache:ModelCache", stack["urn"])
    old_claim = _entry("old-model-cache", "kubernetes:core/v1:PersistentVolumeClaim", old_component["urn"], True)
    old_job = _entry("old-model-prewarm", "kubernetes:batch/v1:Job", old_component["urn"])
    old = {"stack": "s", "resources": [stack, old_component, old_claim, old_job]}
    new = {"stack": "s", "resources": [stack, new_component, *new_children, grandchild]}

    text = render_text_summary(diff_plans(old, new))
    rows = [line for line in text.splitlines() if line.startswith(("  + create", "  - delete"))]
    assert [row.split()[3] for row in rows] == ["old-model-cache", "new-model", "old-model"], text
    assert "(with 3 resources inside)" in next(row for row in rows if "new-model" in row)
    # The protected claim keeps its own line (it blocks `pulumi up`); only the Job folds into its component.
    assert "(with 1 resource inside)" in next(row for row in rows if row.split()[3] == "old-model")
    markdown = render_markdown_summary(diff_plans(old, new))
    assert "**new-model-Service**" not in markdown and "(with 3 resources inside)" in markdown


# --- tables and JSON ---------------------------------------------------------------------------------------------


def test_markdown_puts_replacements_first_and_collapses_long_tables():
    old_dep = deployment(env=[{"name": f"E{i}", "value": "0"} for i in range(12)])
    new_dep = deployment(env=[{"name": f"E{i}", "value": "1|2"} for i in range(12)])
    old_ng, new_ng = node_group(), node_group(inputs={"instanceTypes": ["g6e.xlarge"]})
    markdown = render_markdown(diff_plans(document(old_dep, old_ng), document(new_dep, new_ng)))
    assert markdown.index("### ⚠ Replacements") < markdown.index("### Updates")
    assert "<details>" in markdown and "<summary>12 property changes</summary>" in markdown
    assert "`1\\|2`" in markdown  # pipes cannot break the table
    assert markdown.splitlines()[0].startswith("**Plan diff** `dev`: 1 to replace, 1 to update")


def test_json_rendering_is_serialisable_and_lists_replacements():
    old, new = node_group(), node_group(inputs={"diskSize": 400.0})
    data = render_json(diff_plans(document(old), document(new)))
    json.dumps(data)
    assert data["replacements"] == [old["urn"]] and data["resources"][0]["action"] == "replace"
    assert data["resources"][0]["changes"][0] == {
        "path": "diskSize", "kind": "update", "old": 200, "new": 400,
        "replaces": data["resources"][0]["replaceReasons"][0]}  # fmt: skip
