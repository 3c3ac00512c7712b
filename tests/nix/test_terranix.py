"""The Terraform JSON that terranix renders (modules/terranix/), evaluated offline.

Every expectation about machines, tags and ports is read from the flake itself
(`clan.inventory.machines`, `fleet`); only the sizes the fleet's spec names
(cinnabar and electrum are CX53, orb-nixos is an e2-micro) are written here,
because they are the requirement being checked.
"""
from __future__ import annotations

import functools
import json
import re
import subprocess

import pytest

from support import nix as nixsupport

pytestmark = pytest.mark.nix

CLOUDS = ("hetzner", "gcp")
# The resource types that make a machine exist (compute, disk, address).
COMPUTE_TYPES = {
    "hetzner": ("hcloud_server",),
    "gcp": ("google_compute_instance", "google_compute_address", "google_compute_disk"),
}
PRIMARY_TYPE = {"hetzner": "hcloud_server", "gcp": "google_compute_instance"}


def _nix_string(value: object) -> str:
    """A Nix expression for a JSON-able value (via builtins.fromJSON)."""
    return "(builtins.fromJSON " + json.dumps(json.dumps(value)) + ")"


@functools.lru_cache(maxsize=None)
def _workspace_json(cloud: str, enabled_json: str) -> dict:
    return nixsupport.nix_eval(
        "lib.terranix",
        apply=f'f: f {{ cloud = "{cloud}"; enabled = {_nix_string(json.loads(enabled_json))}; }}',
    )


def workspace(cloud: str, enabled: dict[str, bool] | None = None) -> dict:
    """`.#lib.terranix { cloud; enabled; }`: the config.tf.json of one workspace."""
    return _workspace_json(cloud, json.dumps(enabled or {}, sort_keys=True))


def lib_terranix_error(args_nix: str) -> str:
    with pytest.raises(subprocess.CalledProcessError) as err:
        nixsupport.nix_eval("lib.terranix", apply=f"f: f {args_nix}")
    return " ".join(err.value.stderr.split())


@pytest.fixture(scope="module")
def machines() -> dict:
    return nixsupport.inventory()


@pytest.fixture(scope="module")
def fleet() -> dict:
    return nixsupport.nix_eval("fleet")


def cloud_of(tags: list[str]) -> str | None:
    found = [c for c in CLOUDS if c in tags]
    assert len(found) <= 1, f"a machine is tagged with more than one cloud: {tags}"
    return found[0] if "cloud" in tags and found else None


@pytest.fixture(scope="module")
def cloud_machines(machines) -> dict[str, str]:
    """{machine: cloud} for every inventory machine tagged `cloud`."""
    result = {name: cloud_of(m["tags"]) for name, m in machines.items() if "cloud" in m["tags"]}
    assert result, "the inventory has no machine tagged `cloud`: nothing to provision"
    assert None not in result.values(), f"cloud machines without a hetzner/gcp tag: {result}"
    return result


def all_on(cloud_machines: dict[str, str]) -> dict[str, bool]:
    return {name: True for name in cloud_machines}


def mentions(doc: dict, name: str) -> bool:
    """Whether `name` occurs as a whole word anywhere in the JSON (keys, values, references)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", json.dumps(doc)) is not None


def resource_keys(doc: dict) -> set[tuple[str, str]]:
    return {(rtype, key) for rtype, items in doc.get("resource", {}).items() for key in items}


def test_default_workspaces_are_the_published_outputs():
    # `.#terranix.<cloud>` is what the docs tell operators to write to config.tf.json.
    for cloud in CLOUDS:
        assert nixsupport.nix_eval(f"terranix.{cloud}") == workspace(cloud), cloud


def test_every_cloud_machine_has_a_resource_and_no_other_machine_does(machines, cloud_machines):
    docs = {cloud: workspace(cloud, all_on(cloud_machines)) for cloud in CLOUDS}
    for name, cloud in cloud_machines.items():
        servers = docs[cloud]["resource"].get(PRIMARY_TYPE[cloud], {})
        assert name in servers, f"{name} is a {cloud} machine of the inventory but has no {PRIMARY_TYPE[cloud]}"
        assert servers[name]["name"] == name
        other = next(c for c in CLOUDS if c != cloud)
        assert not mentions(docs[other], name), f"{name} ({cloud}) leaks into the {other} workspace"
    for name, machine in machines.items():
        if name in cloud_machines:
            continue
        for cloud, doc in docs.items():
            assert not mentions(doc, name), f"{name} (tags {machine['tags']}) is not a cloud machine but appears in {cloud}"
    # And nothing else: every compute resource belongs to a cloud machine.
    for cloud, doc in docs.items():
        for rtype in COMPUTE_TYPES[cloud]:
            for key in doc.get("resource", {}).get(rtype, {}):
                assert cloud_machines.get(key) == cloud, f"{rtype}.{key} is not a {cloud} machine of the inventory"


def test_toggleable_nodes_are_off_by_default_and_others_on(machines, cloud_machines):
    nodes = {cloud: nixsupport.nix_eval(f"terranixWorkspaces.{cloud}.nodes") for cloud in CLOUDS}
    toggleable = {n for n in cloud_machines if "toggleable" in machines[n]["tags"]}
    assert toggleable, "no machine is tagged toggleable: the on/off switch is untested"
    for name, cloud in cloud_machines.items():
        expected = name not in toggleable
        assert nodes[cloud][name]["enabled"] is expected, name
        present = name in workspace(cloud)["resource"].get(PRIMARY_TYPE[cloud], {})
        assert present is expected, f"{name}: enabled={expected} by default, resource present={present}"


@pytest.mark.parametrize("switch", ["on", "off"])
def test_toggling_a_node_adds_or_removes_all_its_compute_resources(cloud_machines, switch):
    for name, cloud in cloud_machines.items():
        on = workspace(cloud, {name: True})
        off = workspace(cloud, {name: False})
        doc = on if switch == "on" else off
        if switch == "on":
            assert (PRIMARY_TYPE[cloud], name) in resource_keys(doc), f"{name} switched on has no {PRIMARY_TYPE[cloud]}"
            if cloud == "gcp":
                assert ("google_compute_address", name) in resource_keys(doc), f"{name} switched on has no address"
        else:
            assert not any(key == name for _kind, key in resource_keys(doc)), f"{name} switched off still has resources"
            assert not mentions(doc, name), f"{name} switched off is still referenced"
        # The switch touches only that node.
        others_on = {k for k in resource_keys(on) if k[1] != name}
        others_off = {k for k in resource_keys(off) if k[1] != name}
        assert others_on == others_off, f"toggling {name} changed other resources"


def test_gpu_nodes_have_an_accelerator_and_cpu_nodes_none(machines, cloud_machines):
    gcp = [n for n, c in cloud_machines.items() if c == "gcp"]
    gpu = {n for n in gcp if "gpu" in machines[n]["tags"]}
    assert gpu, "no GCP machine is tagged gpu"
    instances = workspace("gcp", all_on(cloud_machines))["resource"]["google_compute_instance"]
    for name in gcp:
        accelerators = instances[name].get("guest_accelerator", [])
        if name in gpu:
            assert accelerators and all(a["count"] >= 1 and a["type"] for a in accelerators), name
            # GCE refuses to live-migrate GPU instances: maintenance must stop them.
            assert instances[name]["scheduling"]["on_host_maintenance"] == "TERMINATE", name
        else:
            assert not accelerators, f"{name} is not tagged gpu but has {accelerators}"


def test_sizes(cloud_machines):
    docs = {cloud: workspace(cloud, all_on(cloud_machines)) for cloud in CLOUDS}
    servers = docs["hetzner"]["resource"]["hcloud_server"]
    for name in ("cinnabar", "electrum"):
        assert servers[name]["server_type"] == "cx53", name
    assert docs["gcp"]["resource"]["google_compute_instance"]["orb-nixos"]["machine_type"] == "e2-micro"


def _expected_public(fleet: dict) -> set[tuple[str, int]]:
    expected = {(proto, fleet["ports"][svc]) for proto, svcs in fleet["publicSurface"].items() for svc in svcs}
    assert expected, "fleet.publicSurface is empty"
    return expected


def test_hetzner_firewall_opens_exactly_the_public_surface(fleet, cloud_machines):
    doc = workspace("hetzner", all_on(cloud_machines))
    firewalls = doc["resource"]["hcloud_firewall"]
    opened = {
        (rule["protocol"], int(rule["port"]))
        for fw in firewalls.values()
        for rule in fw["rule"]
        if rule["direction"] == "in"
    }
    assert opened == _expected_public(fleet)
    for fw in firewalls.values():
        for rule in fw["rule"]:
            assert "-" not in str(rule.get("port", "")), f"port range in {rule}"
    for name, server in doc["resource"]["hcloud_server"].items():
        refs = set(server.get("firewall_ids", []))
        assert refs and refs <= {f"${{hcloud_firewall.{fw}.id}}" for fw in firewalls}, (
            f"{name} is not behind the fleet firewall: {refs}"
        )


def test_gcp_firewall_opens_exactly_the_public_surface(fleet, cloud_machines):
    doc = workspace("gcp", all_on(cloud_machines))
    res = doc["resource"]
    rules = [r for r in res["google_compute_firewall"].values() if r.get("direction", "INGRESS") == "INGRESS"]
    opened = set()
    for rule in rules:
        assert "deny" not in rule or "allow" not in rule
        for allow in rule.get("allow", []):
            assert allow.get("ports"), f"{rule['name']} opens every port of {allow['protocol']}"
            opened |= {(allow["protocol"], int(p)) for p in allow["ports"]}
    assert opened == _expected_public(fleet)
    # Instances sit in the fleet's own network (GCP's `default` network opens
    # ssh/rdp/icmp to the world) and carry the tag the rules target.
    networks = {f"${{google_compute_network.{n}.name}}" for n in res["google_compute_network"]}
    targets = {t for r in rules for t in r["target_tags"]}
    for r in rules:
        assert r["network"] in networks, r["name"]
    for name, inst in res["google_compute_instance"].items():
        assert all(nic["network"] in networks for nic in inst["network_interface"]), name
        assert targets <= set(inst["tags"]), f"{name} lacks the firewall target tags {targets}"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_state_and_plan_encryption_is_enforced(cloud):
    doc = workspace(cloud)
    enc = doc["terraform"]["encryption"]
    methods = {f"${{method.{t}.{n}}}" for t, ns in enc["method"].items() for n in ns}
    providers = {f"${{key_provider.{t}.{n}}}" for t, ns in enc["key_provider"].items() for n in ns}
    for target in ("state", "plan"):
        assert enc[target]["enforced"] is True, f"{cloud}: {target} encryption is not enforced"
        assert enc[target]["method"] in methods, f"{cloud}: {target} uses an undefined method"
        assert enc[target]["method"].startswith("${method.aes_gcm."), enc[target]
        assert "fallback" not in enc[target], f"{cloud}: {target} may fall back (to unencrypted?)"
    for method in enc["method"]["aes_gcm"].values():
        assert method["keys"] in providers
    for kp in enc["key_provider"]["pbkdf2"].values():
        match = re.fullmatch(r"\$\{var\.(\w+)\}", kp["passphrase"])
        assert match, f"{cloud}: the passphrase is not read from a variable: {kp['passphrase']!r}"
        variable = doc["variable"][match.group(1)]
        assert variable["sensitive"] is True and "default" not in variable


@pytest.mark.parametrize("cloud", CLOUDS)
def test_credentials_come_from_clan_vars_at_run_time(cloud):
    doc = workspace(cloud)
    meta = nixsupport.nix_eval(f"terranixWorkspaces.{cloud}")
    assert meta["attr"] == f"terranix.{cloud}"
    # Every variable is filled by the wrapper from clan vars; none has a default.
    assert set(doc["variable"]) == set(meta["credentials"])
    for name, variable in doc["variable"].items():
        assert "default" not in variable, f"{cloud}: variable {name} has a default"
        cred = meta["credentials"][name]
        assert cred["env"] == f"TF_VAR_{name}"
        assert cred["var_id"] == f"{cred['generator']}/{cred['file']}"
        assert cred["sensitive"] == variable["sensitive"]
        assert cred["machine"] in nixsupport.inventory(), cred
    # Provider settings are references only: no token or key lives in the JSON.
    for provider in doc["provider"].values():
        for key, value in provider.items():
            if key in ("token", "credentials", "project"):
                assert re.fullmatch(r"\$\{var\.\w+\}", value), f"{cloud}: provider {key} is not a variable"


def test_declared_flag_matches_fleet_generators(fleet):
    generators = fleet.get("generators", {})
    for cloud in CLOUDS:
        creds = nixsupport.nix_eval(f"terranixWorkspaces.{cloud}.credentials")
        for name, cred in creds.items():
            declared = cred["file"] in generators.get(cred["generator"], {}).get("files", {})
            assert cred["declared"] is declared, f"{cloud}/{name}: {cred}"


def test_unknown_node_toggle_is_an_error_naming_it(cloud_machines):
    msg = lib_terranix_error('{ cloud = "gcp"; enabled = { no-such-node = true; }; }')
    assert "node(s) no-such-node are set in fleet.terranix.nodes but are not machines tagged `cloud`" in msg
    assert "add the machine to modules/clan/inventory/machines.nix" in msg
    for name in cloud_machines:
        assert name in msg


def test_cloud_machine_without_provider_tag_is_an_error_naming_it():
    msg = lib_terranix_error(
        '{ cloud = "gcp"; modules = [ { fleet.terranix.machines.bogus = { tags = [ "cloud" ]; }; } ]; }'
    )
    assert (
        "machine bogus is tagged `cloud`, so it needs exactly one of the tags hetzner, gcp, but it has none; "
        "fix its tags in modules/clan/inventory/machines.nix"
    ) in msg
    msg = lib_terranix_error(
        '{ cloud = "gcp"; modules = [ { fleet.terranix.machines.bogus = { tags = [ "cloud" "gcp" "hetzner" ]; }; } ]; }'
    )
    assert "machine bogus is tagged `cloud`, so it needs exactly one of the tags hetzner, gcp, but it has hetzner and gcp" in msg


def test_public_service_without_port_is_an_error_naming_it():
    msg = lib_terranix_error(
        '{ cloud = "hetzner"; modules = [ ({ lib, ... }: { fleet.terranix.facts = lib.mkForce '
        '{ ports = { }; publicSurface = { tcp = [ "ssh" ]; }; }; }) ]; }'
    )
    assert (
        "fleet.publicSurface lists the service ssh, but fleet.ports has no port for it (known: ); "
        "add it to modules/fleet/ports.nix"
    ) in msg


@pytest.mark.parametrize(
    ("deploy", "found"),
    [("", "unset"), ('deploy.targetHost = "bogus.fleet";', '"bogus.fleet"')],
)
def test_gcp_node_without_ssh_user_is_an_error_naming_it(deploy, found):
    msg = lib_terranix_error(
        '{ cloud = "gcp"; enabled = { bogus = true; }; modules = [ { fleet.terranix.machines.bogus = '
        f'{{ tags = [ "cloud" "gcp" ]; {deploy} }}; }} ]; }}'
    )
    assert (
        'machine bogus needs deploy.targetHost = "<user>@<host>" in the clan inventory '
        f"(the GCP bootstrap key is installed for that user), but it is {found}; "
        "set it in modules/clan/inventory/machines.nix"
    ) in msg


def test_gce_bootstrap_lets_the_installer_in_as_root_with_the_key(machines, cloud_machines):
    """Stock GCE images refuse root logins; clan machines install connects as root."""
    instances = workspace("gcp", all_on(cloud_machines))["resource"]["google_compute_instance"]
    for name, inst in instances.items():
        script = inst["metadata"]["startup-script"]
        user = machines[name]["deploy"]["targetHost"].split("@")[0]
        assert inst["metadata"]["ssh-keys"] == f"{user}:${{var.admin_ssh_public_key}}", name
        if user == "root":
            assert "PermitRootLogin prohibit-password" in script, name
            assert 'printf \'%s\\n\' "${var.admin_ssh_public_key}" > /root/.ssh/authorized_keys' in script, name


def test_gce_nodes_have_a_vtpm_for_the_unattended_unlock(cloud_machines):
    instances = workspace("gcp", all_on(cloud_machines))["resource"]["google_compute_instance"]
    for name, inst in instances.items():
        assert inst["shielded_instance_config"]["enable_vtpm"] is True, name


def test_e2_micro_installs_as_e2_small_and_returns_to_e2_micro():
    """1 GB is too little for the kexec installer: `installing` resizes the node for the install."""
    def instance(modules: str) -> dict:
        doc = nixsupport.nix_eval("lib.terranix", apply=f'f: f {{ cloud = "gcp"; modules = {modules}; }}')
        return doc["resource"]["google_compute_instance"]["orb-nixos"]
    assert instance("[ ]")["machine_type"] == "e2-micro"
    installing = instance("[ { fleet.terranix.nodes.orb-nixos.gcp.installing = true; } ]")
    assert installing["machine_type"] == "e2-small"
    assert installing["allow_stopping_for_update"] is True
