"""fleet.migration.terraform against the OpenTofu contract fake (tests/fakes/fake_tofu.py)."""
from __future__ import annotations

import copy
import json

import pytest

from fakes import install, path_with
from fakes.harness import run_module

PASSPHRASE = "correct-horse-battery-staple-42"
ENCRYPTION = {
    "key_provider": {"pbkdf2": {"fleet": {"passphrase": "${var.state_passphrase}"}}},
    "method": {"aes_gcm": {"fleet": {"keys": "${key_provider.pbkdf2.fleet}"}}},
    "state": {"method": "${method.aes_gcm.fleet}", "enforced": True},
    "plan": {"method": "${method.aes_gcm.fleet}", "enforced": True},
}


def terranix(nodes: dict, encryption: bool = True) -> dict:
    """A config shaped like modules/terranix output: one server per enabled node."""
    doc = {
        "variable": {"state_passphrase": {"type": "string", "sensitive": True}},
        "resource": {"hcloud_server": {name: {"name": name, "server_type": kind, "image": "debian-12"}
                                       for name, kind in nodes.items()}},
        "output": {"cinnabar_ip": {"value": "${hcloud_server.cinnabar.name}"}},
    }
    if encryption:
        doc["terraform"] = {"required_version": ">= 1.8.0", "encryption": copy.deepcopy(ENCRYPTION)}
    return doc


@pytest.fixture
def tf(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("FAKE_TOFU_STATE", str(state))
    monkeypatch.setenv("PATH", path_with(install(tmp_path / "bin")))
    project = tmp_path / "project"

    class Env:
        def __init__(self):
            self.project, self.config = project, tmp_path / "hetzner.tf.json"

        def render(self, nodes, encryption=True):
            self.config.write_text(json.dumps(terranix(nodes, encryption)))

        def args(self, **kw):
            base = dict(project_path=str(project), config_json=str(self.config),
                        environment={"TF_VAR_state_passphrase": PASSPHRASE})
            return dict(base, **kw)

        def calls(self):
            return [json.loads(line)["argv"] for line in (state / "calls.jsonl").read_text().splitlines()]

    return Env()


def test_apply_creates_then_second_run_unchanged(tf):
    tf.render({"cinnabar": "cx53", "electrum": "cx22"})
    first = run_module("terraform", tf.args())
    assert not first["failed"], first
    assert first["changed"] is True and first["config_changed"] is True
    assert first["plan"]["creates"] == 2 and first["plan"]["deletes"] == 0
    assert {r["address"] for r in first["plan"]["resources"]} == {"hcloud_server.cinnabar", "hcloud_server.electrum"}
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in first["stdout"]
    assert first["outputs"] == {"cinnabar_ip": "cinnabar"}
    assert first["encryption"] == "config.tf.json: OpenTofu state encryption (enforced)"
    second = run_module("terraform", tf.args())
    assert second["changed"] is False and second["plan"]["resources"] == []
    assert not any(c[1] == "apply" for c in tf.calls()[-3:])


def test_state_on_disk_is_encrypted_and_secret_not_returned(tf):
    tf.render({"cinnabar": "cx53"})
    result = run_module("terraform", tf.args())
    text = (tf.project / "terraform.tfstate").read_text()
    assert "encrypted_data" in text and "cx53" not in text
    assert PASSPHRASE not in json.dumps(result)


def test_plan_flags_targets_var_files_and_detailed_exitcode(tf, tmp_path):
    tf.render({"cinnabar": "cx53", "electrum": "cx22"})
    varfile = tmp_path / "extra.tfvars.json"
    varfile.write_text("{}")
    result = run_module("terraform", tf.args(targets=["hcloud_server.electrum"], variables_files=[str(varfile)],
                                             state="planned"))
    assert result["changed"] is True
    assert [r["address"] for r in result["plan"]["resources"]] == ["hcloud_server.electrum"]
    plan = [c for c in tf.calls() if c[1] == "plan"][0]
    assert "-detailed-exitcode" in plan and "-target=hcloud_server.electrum" in plan
    assert "-var-file=%s" % varfile in plan and "-input=false" in plan
    assert not (tf.project / "terraform.tfstate").exists(), "state: planned applied something"


def test_check_mode_plans_only_and_restores_config(tf):
    tf.render({"cinnabar": "cx53"})
    run_module("terraform", tf.args())
    tf.render({"cinnabar": "cx53", "galena": "g2"})
    before = (tf.project / "config.tf.json").read_text()
    result = run_module("terraform", tf.args(), check_mode=True, diff=True)
    assert result["changed"] is True and result["plan"]["creates"] == 1
    assert result["diff"]["after"] == "hcloud_server.galena: create\n"
    assert (tf.project / "config.tf.json").read_text() == before
    assert not any(c[1] == "apply" for c in tf.calls()[-4:])


def test_toggle_node_on_is_create_and_off_is_destroy(tf):
    tf.render({"cinnabar": "cx53"})
    run_module("terraform", tf.args())
    tf.render({"cinnabar": "cx53", "galena": "g2"})
    on = run_module("terraform", tf.args())
    assert on["plan"]["resources"] == [{"address": "hcloud_server.galena", "type": "hcloud_server",
                                        "name": "galena", "action": "create", "actions": ["create"]}]
    tf.render({"cinnabar": "cx53"})
    off = run_module("terraform", tf.args())
    assert off["changed"] and off["plan"]["deletes"] == 1
    assert off["plan"]["resources"][0]["address"] == "hcloud_server.galena"


def test_update_and_replace_are_classified(tf):
    tf.render({"cinnabar": "cx53"})
    run_module("terraform", tf.args())
    doc = terranix({"cinnabar": "cx63"})
    tf.config.write_text(json.dumps(doc))
    planned = run_module("terraform", tf.args(state="planned"))
    assert planned["plan"]["updates"] == 1 and planned["plan"]["resources"][0]["action"] == "update"
    doc["resource"]["hcloud_server"]["cinnabar"]["image"] = "debian-13"
    tf.config.write_text(json.dumps(doc))
    replaced = run_module("terraform", tf.args(state="planned"))
    assert replaced["plan"]["replaces"] == 1 and replaced["plan"]["resources"][0]["actions"] == ["delete", "create"]


def test_refuses_apply_without_state_encryption(tf):
    tf.render({"cinnabar": "cx53"}, encryption=False)
    result = run_module("terraform", tf.args())
    assert result["failed"]
    assert result["msg"].startswith("terraform: refusing to apply in %s because state encryption is not configured"
                                    % tf.project)
    assert "enforced = true" in result["msg"] and "require_state_encryption: false" in result["msg"]
    assert not (tf.project / ".terraform").exists(), "tofu ran although the module had to refuse"


def test_refuses_when_encryption_not_enforced(tf):
    doc = terranix({"cinnabar": "cx53"})
    doc["terraform"]["encryption"]["state"]["enforced"] = False
    tf.config.write_text(json.dumps(doc))
    result = run_module("terraform", tf.args())
    assert result["failed"] and "terraform.encryption.state.enforced is not true" in result["msg"]


def test_unencrypted_allowed_when_not_required_and_in_planned(tf):
    tf.render({"cinnabar": "cx53"}, encryption=False)
    planned = run_module("terraform", tf.args(state="planned"))
    assert not planned["failed"] and planned["encryption"].startswith("none: ")
    applied = run_module("terraform", tf.args(require_state_encryption=False))
    assert not applied["failed"] and applied["changed"]


def test_encrypted_backend_is_accepted(tf):
    doc = terranix({"cinnabar": "cx53"}, encryption=False)
    doc["terraform"] = {"backend": {"s3": {"bucket": "b", "key": "k", "encrypt": True}}}
    from ansible_collections.fleet.migration.plugins.module_utils.tofu_plan import encryption_status
    tf.project.mkdir()
    (tf.project / "main.tf.json").write_text(json.dumps(doc))
    assert encryption_status(str(tf.project), {}) == (True, "main.tf.json: encrypted s3 backend")
    doc["terraform"]["backend"]["s3"]["encrypt"] = False
    (tf.project / "main.tf.json").write_text(json.dumps(doc))
    assert encryption_status(str(tf.project), {})[0] is False
    hcl_env = {"TF_ENCRYPTION": 'state {\n  method = method.aes_gcm.x\n  enforced = true\n}'}
    assert encryption_status(str(tf.project), hcl_env)[0] is True


def test_refuses_destroying_protected_machine_unless_forced(tf):
    tf.render({"cinnabar": "cx53", "galena": "g2"})
    run_module("terraform", tf.args())
    tf.render({"galena": "g2"})
    refused = run_module("terraform", tf.args(protected_resources=["hcloud_server.cinnabar"]))
    assert refused["failed"]
    assert refused["msg"].startswith("terraform: refusing a plan that destroys protected resource(s) "
                                     "hcloud_server.cinnabar")
    assert "force_destroy_protected: true" in refused["msg"]
    assert refused["plan"]["deletes"] == 1
    assert not any(c[1] == "apply" for c in tf.calls()[-3:])
    forced = run_module("terraform", tf.args(protected_resources=["hcloud_server.cinnabar"],
                                             force_destroy_protected=True))
    assert not forced["failed"] and forced["changed"] and forced["plan"]["deletes"] == 1


def test_state_absent_destroys_and_protection_glob(tf):
    tf.render({"cinnabar": "cx53", "galena": "g2"})
    run_module("terraform", tf.args())
    refused = run_module("terraform", tf.args(state="absent", protected_resources=["hcloud_server.cin*"]))
    assert refused["failed"] and "hcloud_server.cinnabar" in refused["msg"]
    absent = run_module("terraform", tf.args(state="absent", targets=["hcloud_server.galena"]))
    assert absent["changed"] and absent["plan"]["deletes"] == 1
    plan = [c for c in tf.calls() if c[1] == "plan"][-1]
    assert "-destroy" in plan
    again = run_module("terraform", tf.args(state="absent", targets=["hcloud_server.galena"]))
    assert again["changed"] is False


def test_check_destroy_fails_on_any_delete(tf):
    tf.render({"cinnabar": "cx53", "galena": "g2"})
    run_module("terraform", tf.args())
    tf.render({"cinnabar": "cx53"})
    result = run_module("terraform", tf.args(check_destroy=True))
    assert result["failed"] and "check_destroy is set and the plan deletes or replaces hcloud_server.galena" in result["msg"]


def test_workspaces_are_created_and_selected(tf):
    tf.render({"cinnabar": "cx53"})
    tf.project.mkdir()
    check = run_module("terraform", tf.args(workspace="gcp"), check_mode=True)
    assert check["changed"] and check["workspace_created"] and check["plan"]["creates"] == 1
    assert not (tf.project / "terraform.tfstate.d").exists(), "check mode created a workspace in the project"
    first = run_module("terraform", tf.args(workspace="gcp"))
    assert first["changed"] and first["workspace"] == "gcp"
    assert (tf.project / "terraform.tfstate.d" / "gcp" / "terraform.tfstate").exists()
    assert ["tofu", "workspace", "new", "gcp"] in tf.calls()
    default = run_module("terraform", tf.args(workspace="default"))
    assert default["changed"] is True, "the default workspace has its own, empty state"
    assert ["tofu", "workspace", "select", "default"] in tf.calls()


def test_saved_plan_file_is_kept(tf, tmp_path):
    tf.render({"cinnabar": "cx53"})
    plan = tmp_path / "saved.tfplan"
    result = run_module("terraform", tf.args(state="planned", plan_file=str(plan)))
    assert result["plan_file"] == str(plan) and plan.exists()


def test_plan_error_names_command_and_stderr(tf):
    doc = terranix({"cinnabar": "cx53"})
    tf.config.write_text(json.dumps(doc))
    result = run_module("terraform", dict(tf.args(), environment={}))
    assert result["failed"] and result["rc"] == 1
    assert "`tofu plan -input=false" in result["msg"] and "failed with exit code 1" in result["msg"]
    assert 'No value for required variable' in result["msg"]
    assert "fix the configuration or variables" in result["msg"]


def test_missing_binary_and_bad_config(tf):
    tf.render({"cinnabar": "cx53"})
    missing = run_module("terraform", tf.args(binary="terraform-nope"))
    assert missing["failed"] and "'terraform-nope' was not found" in missing["msg"]
    tf.config.write_text("{not json")
    bad = run_module("terraform", tf.args())
    assert bad["failed"] and "is not JSON" in bad["msg"] and "nix eval --json" in bad["msg"]


def test_secrets_are_scrubbed_from_errors(tf):
    doc = terranix({"cinnabar": "cx53"})
    doc["resource"]["hcloud_server"]["cinnabar"]["count"] = "not-a-number-${var.state_passphrase}"
    tf.config.write_text(json.dumps(doc))
    result = run_module("terraform", tf.args())
    assert result["failed"]
    assert PASSPHRASE not in json.dumps(result)


def test_new_provider_triggers_one_init_and_retry(tf):
    tf.render({"cinnabar": "cx53"})
    run_module("terraform", tf.args())
    doc = terranix({"cinnabar": "cx53"})
    doc["resource"]["google_compute_instance"] = {"galena": {"name": "galena", "machine_type": "g2-standard-4"}}
    tf.config.write_text(json.dumps(doc))
    result = run_module("terraform", tf.args())
    assert not result["failed"], result.get("msg")
    assert result["plan"]["creates"] == 1
    inits = [c for c in tf.calls() if c[1] == "init"]
    assert len(inits) == 2, "expected the first init and one re-init after the plan asked for it"


def test_init_failure_is_not_retried_forever(tf):
    tf.render({"cinnabar": "cx53"})
    tf.project.mkdir()
    (tf.project / "broken.tf.json").write_text("{oops")
    result = run_module("terraform", tf.args(require_state_encryption=False))
    assert result["failed"] and "`tofu init -input=false -no-color` failed with exit code 1" in result["msg"]
    assert "Invalid JSON syntax" in result["msg"]
    assert ("What to do: fix the backend configuration or provider requirements so that `tofu init` succeeds in %s"
            % tf.project) in result["msg"]


def test_refuses_destroy_without_state_encryption(tf):
    tf.render({"cinnabar": "cx53"}, encryption=False)
    result = run_module("terraform", tf.args(state="absent"))
    assert result["failed"]
    assert result["msg"].startswith("terraform: refusing to destroy in %s because state encryption is not configured "
                                    "(found: local backend (plaintext terraform.tfstate))" % tf.project)


def test_missing_config_json_says_how_to_render_it(tf):
    result = run_module("terraform", tf.args())
    assert result["failed"]
    assert result["msg"] == ("terraform: config_json %s does not exist; render it first, e.g. `nix eval --json "
                             ".#terranix.<cloud> > %s`" % (tf.config, tf.config))


def test_prevent_destroy_of_previous_render_protects_dropped_resource(tf):
    doc = terranix({"cinnabar": "cx53", "electrum": "cx22"})
    doc["resource"]["hcloud_server"]["cinnabar"]["lifecycle"] = {"prevent_destroy": True}
    tf.config.write_text(json.dumps(doc))
    run_module("terraform", tf.args())
    tf.render({"electrum": "cx22"})  # a render that lost cinnabar, lifecycle block included
    result = run_module("terraform", tf.args())
    assert result["failed"] and result["protected_resources"] == ["hcloud_server.cinnabar"]
    assert "refusing a plan that destroys protected resource(s) hcloud_server.cinnabar" in result["msg"]


def test_tofu_refuses_prevent_destroy_still_in_config(tf):
    doc = terranix({"cinnabar": "cx53"})
    doc["resource"]["hcloud_server"]["cinnabar"]["lifecycle"] = {"prevent_destroy": True}
    tf.config.write_text(json.dumps(doc))
    run_module("terraform", tf.args())
    result = run_module("terraform", tf.args(state="absent", force_destroy_protected=True))
    assert result["failed"] and result["rc"] == 1
    assert "Instance cannot be destroyed" in result["msg"] and "lifecycle.prevent_destroy" in result["msg"]


def test_sensitive_variables_reach_tofu_as_tf_var_never_argv(tf):
    tf.render({"cinnabar": "cx53"})
    result = run_module("terraform", tf.args(environment={}, sensitive_variables={"state_passphrase": PASSPHRASE}))
    assert not result["failed"], result.get("msg")
    # The fake derives the state key from the passphrase it was given: an encrypted state proves tofu received it.
    assert "encrypted_data" in (tf.project / "terraform.tfstate").read_text()
    assert result["encryption"] == "config.tf.json: OpenTofu state encryption (enforced)"
    assert not any(PASSPHRASE in arg for call in tf.calls() for arg in call), "the secret was on a command line"
    assert PASSPHRASE not in json.dumps(result)


def test_plain_variables_go_on_the_command_line(tf):
    tf.render({"cinnabar": "cx53"})
    doc = json.loads(tf.config.read_text())
    doc["variable"]["labels"] = {"type": "map(string)", "default": {}}
    tf.config.write_text(json.dumps(doc))
    result = run_module("terraform", tf.args(state="planned", variables={"labels": {"fleet": "yes"}}))
    assert not result["failed"], result.get("msg")
    plan = [c for c in tf.calls() if c[1] == "plan"][-1]
    assert '-var=labels={"fleet": "yes"}' in plan


def test_apply_failure_says_state_keeps_what_was_created(tf, tmp_path):
    tf.render({"cinnabar": "cx53"})
    wrapper = tmp_path / "tofu-apply-fails"
    wrapper.write_text('#!/bin/sh\nif [ "$1" = apply ]; then echo "Error: creating server: rate limited" >&2; '
                       'exit 1; fi\nexec tofu "$@"\n')
    wrapper.chmod(0o755)
    result = run_module("terraform", tf.args(binary=str(wrapper)))
    assert result["failed"] and result["rc"] == 1
    assert "apply -input=false -no-color -auto-approve" in result["msg"] and "rate limited" in result["msg"]
    assert ("What to do: read the provider's error above; resources created before the failure are in the state, "
            "so rerun after fixing it") in result["msg"]


# --- issue 8: the guard fails closed -----------------------------------------
def snapshot(project):
    """Every file of the project (relative path -> bytes), to prove nothing was written."""
    return {str(p.relative_to(project)): p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}


def test_refused_plan_leaves_render_and_workspace_and_a_rerun_refuses_again(tf):
    tf.render({"cinnabar": "cx53", "galena": "g2"})
    run_module("terraform", tf.args(workspace="hetzner"))
    before = snapshot(tf.project)
    tf.render({"galena": "g2"})  # a render that would delete cinnabar
    for attempt in (1, 2):
        refused = run_module("terraform", tf.args(workspace="hetzner", protected_resources=["hcloud_server.cinnabar"]))
        assert refused["failed"], "attempt %d was not refused" % attempt
        assert refused["msg"].startswith("terraform: refusing a plan that destroys protected resource(s) "
                                         "hcloud_server.cinnabar in %s. Nothing was written: the project keeps its "
                                         "previous render and workspace." % tf.project)
        assert snapshot(tf.project) == before, "attempt %d wrote into the project" % attempt
    assert not any(c[1] == "apply" for c in tf.calls()[-6:])
    # A plain rerun (no protected_resources given) still sees the old render's servers in state: nothing lost.
    state = run_module("terraform", tf.args(workspace="hetzner", protected_resources=["hcloud_server.cinnabar"]),
                       check_mode=True)
    assert state["failed"] and "hcloud_server.cinnabar" in state["msg"]


def test_refused_plan_in_a_new_workspace_creates_no_workspace(tf):
    tf.render({"cinnabar": "cx53", "galena": "g2"})
    run_module("terraform", tf.args())
    tf.render({"galena": "g2"})
    before = snapshot(tf.project)
    refused = run_module("terraform", tf.args(check_destroy=True, workspace="default"))
    assert refused["failed"] and "check_destroy is set and the plan deletes or replaces hcloud_server.cinnabar" \
        in refused["msg"] and "nothing was written" in refused["msg"]
    assert snapshot(tf.project) == before


def test_protected_name_matching_no_resource_is_an_error_naming_it(tf):
    tf.render({"cinnabar": "cx53"})
    result = run_module("terraform", tf.args(protected_resources=["hcloud_server.cinnabar", "hcloud_server.cinabar"]))
    assert result["failed"]
    assert result["msg"] == (
        "terraform: protected_resources hcloud_server.cinabar match no resource of the configuration or the state in "
        "%s; expected each protected name to name a resource (known: hcloud_server.cinnabar), found none for "
        "hcloud_server.cinabar. Nothing was written. Fix the name (for example hcloud_server.cinnabar) or remove it"
        % tf.project)
    assert not tf.project.exists(), "the project was created although the module refused"


def test_check_mode_on_a_fresh_project_reports_and_writes_nothing(tf):
    tf.render({"cinnabar": "cx53", "electrum": "cx53"})
    result = run_module("terraform", tf.args(workspace="hetzner"), check_mode=True, diff=True)
    assert not result["failed"], result.get("msg")
    assert result["changed"] is True and result["plan"]["creates"] == 2 and result["workspace_created"] is True
    assert result["diff"]["after"] == "hcloud_server.cinnabar: create\nhcloud_server.electrum: create\n"
    assert result["running"] == [] and result["billable"] == {}
    assert not tf.project.exists(), "check mode created the project directory"
    assert not any(c[1] in ("apply", "destroy") for c in tf.calls())


def test_planned_state_writes_nothing_into_an_existing_project(tf):
    tf.render({"cinnabar": "cx53"})
    run_module("terraform", tf.args())
    before = snapshot(tf.project)
    tf.render({"cinnabar": "cx53", "electrum": "cx53"})
    planned = run_module("terraform", tf.args(state="planned"))
    assert planned["changed"] and planned["config_changed"] and planned["plan"]["creates"] == 1
    assert snapshot(tf.project) == before


def test_running_machines_and_billable_come_from_the_state(tf):
    tf.render({"cinnabar": "cx53", "electrum": "cx33"})
    applied = run_module("terraform", tf.args())
    assert applied["running"] == [
        {"node": "cinnabar", "address": "hcloud_server.cinnabar", "type": "hcloud_server", "machine_type": "cx53",
         "accelerators": []},
        {"node": "electrum", "address": "hcloud_server.electrum", "type": "hcloud_server", "machine_type": "cx33",
         "accelerators": []}]
    assert applied["billable"] == {"cinnabar": ["hcloud_server.cinnabar"], "electrum": ["hcloud_server.electrum"]}
    assert ["tofu", "show", "-json", "-no-color"] in tf.calls()
    assert not list(tf.project.rglob("*.tfplan")), "the scratch plan was left in the project"


def test_documentation_declares_attributes():
    import yaml
    from ansible_collections.fleet.migration.plugins.modules import terraform
    attributes = yaml.safe_load(terraform.DOCUMENTATION)["attributes"]
    assert attributes["check_mode"]["support"] == "full" and attributes["diff_mode"]["support"] == "full"
    assert attributes["platform"]["platforms"] == "posix"


# --- the contract fake over the real terranix render ---------------------------------------------------
REAL_VARS = {"state_passphrase": PASSPHRASE, "hcloud_token": "t" * 20, "admin_ssh_public_key": "ssh-ed25519 AAAA x"}


@pytest.fixture
def real(tmp_path, monkeypatch):
    """A project holding the real `.#terranix.hetzner` render, and a way to run the fake tofu in it."""
    import os
    import subprocess

    from support import nix as nixsupport
    if not nixsupport.have_nix():
        pytest.skip("nix is not on PATH: run scripts/setup")
    render = nixsupport.nix_eval("terranix.hetzner")
    project = tmp_path / "real"
    project.mkdir()
    (project / "config.tf.json").write_text(json.dumps(render))
    state = tmp_path / "state"
    bindir = install(tmp_path / "bin")

    def tofu(*argv, env=None):
        environ = dict(os.environ, PATH=path_with(bindir), FAKE_TOFU_STATE=str(state),
                       **{"TF_VAR_%s" % k: v for k, v in REAL_VARS.items()})
        environ.update(env or {})
        environ = {k: v for k, v in environ.items() if v is not None}
        return subprocess.run(["tofu", *argv], cwd=project, env=environ, capture_output=True, text=True, check=False)

    return dict(project=project, render=render, tofu=tofu, state=state)


@pytest.mark.nix
def test_fake_plan_exit_codes_follow_detailed_exitcode_on_the_real_render(real):
    tofu = real["tofu"]
    assert tofu("init", "-input=false").returncode == 0
    changes = tofu("plan", "-input=false", "-detailed-exitcode", "-out=p.tfplan")
    assert changes.returncode == 2, changes.stderr
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in changes.stdout  # firewall, ssh key, cinnabar, electrum
    assert tofu("plan", "-input=false", "-out=p2.tfplan").returncode == 0, "without -detailed-exitcode: 0"
    shown = json.loads(tofu("show", "-json", "p.tfplan").stdout)
    assert shown["format_version"] == "1.2"
    server = next(c for c in shown["resource_changes"] if c["address"] == "hcloud_server.electrum")
    assert server["change"]["actions"] == ["create"] and server["change"]["after_unknown"]["ssh_keys"] == [True]
    assert tofu("apply", "-input=false", "-auto-approve", "p.tfplan").returncode == 0
    none = tofu("plan", "-input=false", "-detailed-exitcode")
    assert none.returncode == 0 and "No changes." in none.stdout
    missing = tofu("plan", "-input=false", "-detailed-exitcode", env={"TF_VAR_hcloud_token": None})
    assert missing.returncode == 1 and 'input variable "hcloud_token" is not set' in missing.stderr


@pytest.mark.nix
def test_fake_applies_references_encrypts_state_and_plan_and_resolves_outputs(real):
    tofu = real["tofu"]
    tofu("init")
    assert tofu("plan", "-out=p.tfplan").returncode == 0
    assert "encrypted_data" in (real["project"] / "p.tfplan").read_text(), "plan.enforced: the plan is encrypted"
    assert tofu("apply", "-auto-approve", "p.tfplan").returncode == 0
    assert "encrypted_data" in (real["project"] / "terraform.tfstate").read_text()
    state = {r["address"]: r["values"] for r in
             json.loads(tofu("show", "-json").stdout)["values"]["root_module"]["resources"]}
    assert state["hcloud_server.electrum"]["firewall_ids"] == [state["hcloud_firewall.fleet-public"]["id"]]
    outputs = json.loads(tofu("output", "-json").stdout)
    assert outputs["electrum"]["value"]["ipv4"] == state["hcloud_server.electrum"]["ipv4_address"]
    wrong = tofu("plan", env={"TF_VAR_state_passphrase": "another-passphrase-of-length"})
    assert wrong.returncode == 1 and "decryption failed for all provided methods" in wrong.stderr


@pytest.mark.nix
def test_fake_refuses_what_real_tofu_refuses(real):
    tofu = real["tofu"]
    tofu("init")
    short = tofu("plan", env={"TF_VAR_state_passphrase": "short"})
    assert short.returncode == 1 and "passphrase is too short (minimum 16 characters)" in short.stderr
    (real["project"] / "terraform.tfstate").write_text(json.dumps(
        {"version": 4, "serial": 1, "lineage": "x", "resources": [], "outputs": {}}))
    plain = tofu("plan")
    assert plain.returncode == 1 and "encountered unencrypted payload without unencrypted method configured" \
        in plain.stderr
    (real["project"] / "terraform.tfstate").unlink()
    (real["project"] / ".terraform.tfstate.lock.info").write_text(json.dumps({"ID": "abc", "Operation": "OperationTypeApply"}))
    locked = tofu("plan")
    assert locked.returncode == 1 and "Error acquiring the state lock" in locked.stderr and "abc" in locked.stderr
    assert tofu("plan", "-lock=false").returncode == 0
    (real["project"] / ".terraform.tfstate.lock.info").unlink()
    assert tofu("apply", "-auto-approve").returncode == 0
    destroy = tofu("plan", "-destroy")
    assert destroy.returncode == 1 and "Resource hcloud_server.cinnabar has lifecycle.prevent_destroy set" \
        in destroy.stderr, "terranix renders prevent_destroy for the ZeroTier controller"


@pytest.mark.nix
def test_fake_apply_failure_keeps_what_was_created(real):
    tofu = real["tofu"]
    tofu("init")
    real["state"].mkdir(exist_ok=True)
    (real["state"] / "faults.json").write_text(json.dumps(
        {"apply_error": {"address": "hcloud_server.electrum", "message": "server type cx53 unavailable in fsn1"}}))
    failed = tofu("apply", "-auto-approve")
    assert failed.returncode == 1 and "creating hcloud_server.electrum" in failed.stderr
    assert "server type cx53 unavailable in fsn1" in failed.stderr
    (real["state"] / "faults.json").unlink()
    kept = {r["address"] for r in json.loads(tofu("show", "-json").stdout)["values"]["root_module"]["resources"]}
    assert "hcloud_firewall.fleet-public" in kept and "hcloud_server.electrum" not in kept
    again = tofu("plan", "-detailed-exitcode")
    assert again.returncode == 2 and "hcloud_server.electrum will be created" in again.stdout
