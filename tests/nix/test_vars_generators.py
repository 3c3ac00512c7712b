"""Runs every vars generator of `fleet.generators` for real, the way clan does.

clan-core runs a generator's script with `bash -c <finalScript>` inside
bubblewrap (pkgs/clan-cli/clan_lib/sandbox_exec/__init__.py `bubblewrap_cmd`:
--unshare-all, a tmpfs root, read-only /nix/store, --dev /dev, /proc, a tmpfs
/tmp, --chdir /, --uid/--gid 1000 and the generator's temp dir bound
read-write) with $in, $out and $prompts set by
pkgs/clan-cli/clan_lib/vars/generator.py `Generator.execute`; finalScript
(modules/clan/export-modules/generic-generator.nix) prepends
`set -euo pipefail`, the PATH of runtimeInputs and a minimal /etc.

Difference here, because nothing can be built offline: the tools come from
the host, so /usr is bound read-only (plus the merged-usr symlinks) instead
of runtimeInputs from /nix/store. Everything else matches.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # Deprecated (removed in 3.13) but the stdlib's only libxcrypt binding: verifies yescrypt.
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402

from support.nix import REPO, nix_eval  # noqa: E402

pytestmark = pytest.mark.nix

# Mirrors the prologue of clan-core's finalScript for Linux.
CLAN_PROLOGUE = """set -euo pipefail
if [[ ! -d /etc ]] || [[ ! -f /etc/passwd ]]; then
  mkdir -p /etc
  printf 'root:x:0:\\nnixbld:!:%s:\\nnogroup:x:65534:\\n' "$(id -g)" > /etc/group
  printf 'root:x:0:0:Nix build user:/build:/noshell\\n' > /etc/passwd
  printf 'nixbld:x:%s:%s:Nix build user:/build:/noshell\\n' "$(id -u)" "$(id -g)" >> /etc/passwd
  printf 'nobody:x:65534:65534:Nobody:/:/noshell\\n' >> /etc/passwd
fi
"""

HOST_TOOLS = {"openssh": "ssh-keygen", "mkpasswd": "mkpasswd", "openssl": "openssl", "coreutils": "cat"}
NEEDED_FOR = {"partitioning", "activation", "users", "services"}


@pytest.fixture(scope="module")
def generators() -> dict:
    return nix_eval("fleet.generators")


def missing_tools(gen: dict) -> list[str]:
    """runtimeInputs whose host equivalent is not installed (e.g. zerotier-tools)."""
    return [name for name in gen["runtimeInputs"] if not shutil.which(HOST_TOOLS.get(name, name))]


def run_generator(
    gen: dict,
    tmp_path: Path,
    *,
    prompts: dict[str, str] | None = None,
    inputs: dict[str, dict[str, bytes]] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess, Path]:
    """Run one generator script in bubblewrap; returns the process and $out."""
    work = tmp_path / "vars-gen"
    (work / "in").mkdir(parents=True)
    (work / "out").mkdir()
    run_env = {"PATH": "/usr/bin:/bin", "in": str(work / "in"), "out": str(work / "out")}
    # Like clan_lib/vars/generator.py `materialize_virtual_fs`: dirs 0700, files 0600
    # (ssh-keygen refuses a CA key that others can read).
    for dep, files in (inputs or {}).items():
        (work / "in" / dep).mkdir(mode=0o700)
        for name, content in files.items():
            (work / "in" / dep / name).touch(mode=0o600)
            (work / "in" / dep / name).write_bytes(content)
    if gen["prompts"]:
        (work / "prompts").mkdir()
        run_env["prompts"] = str(work / "prompts")
        for name in gen["prompts"]:
            (work / "prompts" / name).write_text((prompts or {}).get(name, ""))
    exports = "".join(f"export {k}={subprocess.list2cmdline([v]) if v else chr(39) * 2}\n" for k, v in (env or {}).items())
    script = CLAN_PROLOGUE + exports + (REPO / gen["script"]).read_text()
    cmd = [
        "bwrap", "--unshare-all", "--tmpfs", "/",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        *(["--ro-bind", "/nix/store", "/nix/store"] if Path("/nix/store").is_dir() else []),
        "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--chdir", "/",
        "--uid", "1000", "--gid", "1000",
        "--bind", str(work), str(work),
        "--", "bash", "-c", script,
    ]
    proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=120, check=False)
    return proc, work / "out"


def produced(out: Path) -> set[str]:
    return {p.name for p in out.iterdir()}


def assert_ran(proc: subprocess.CompletedProcess, gen_name: str) -> None:
    assert proc.returncode == 0, f"generator {gen_name} failed (rc={proc.returncode}): {proc.stderr}"


@pytest.fixture(scope="module", autouse=True)
def _bwrap_available():
    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed: apt-get install bubblewrap")


# --- declarations -------------------------------------------------------------------------------


def test_every_declared_script_exists_and_passes_shellcheck(generators):
    scripts = sorted({gen["script"] for gen in generators.values()})
    for script in scripts:
        assert (REPO / script).is_file(), f"fleet.generators names {script}, which does not exist"
    if shutil.which("shellcheck"):
        res = subprocess.run(["shellcheck", *scripts], cwd=REPO, capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stdout


def test_file_metadata_is_well_formed(generators):
    for name, gen in generators.items():
        assert gen["files"], f"generator {name} declares no files"
        for fname, f in gen["files"].items():
            where = f"fleet.generators.{name}.files.{fname}"
            assert len(f["mode"]) == 4 and set(f["mode"]) <= set("01234567"), f"{where}: mode {f['mode']} is not 4 octal digits"
            assert f["neededFor"] in NEEDED_FOR, f"{where}: neededFor {f['neededFor']}"
            if f["secret"]:
                assert int(f["mode"], 8) & 0o077 == 0, f"{where}: secret readable by group/others (mode {f['mode']})"
            if f["neededFor"] in ("users", "partitioning"):
                # clan deploys these before users exist: owner must be root.
                assert f["owner"] == "root", f"{where}: neededFor {f['neededFor']} requires owner root"
                assert f["secret"], f"{where}: neededFor {f['neededFor']} only applies to secrets"


def test_luks_key_is_deployed_for_partitioning(generators):
    assert generators["luks-root"]["files"]["key"]["neededFor"] == "partitioning"
    assert "server" in generators["luks-root"]["appliesTo"]["tags"]


def test_api_tokens_are_prompted_never_deployed(generators):
    for name in ("hetzner-api-token", "gcp-api-token"):
        gen = generators[name]
        assert "token" in gen["prompts"], f"{name} must prompt for the token"
        assert gen["prompts"]["token"]["persist"] is False
        assert gen["files"]["token"]["secret"] and not gen["files"]["token"]["deploy"]


# --- real runs ----------------------------------------------------------------------------------


def runnable(generators: dict, name: str) -> dict:
    gen = generators[name]
    missing = missing_tools(gen)
    if missing:
        pytest.skip(f"{name}: host lacks {missing} (built from nixpkgs by clan; not installable offline)")
    return gen


@pytest.mark.parametrize("name", ["openssh-ca", "openssh", "initrd-ssh"])
def test_ssh_key_generators_produce_declared_keypairs(generators, tmp_path, name):
    gen = runnable(generators, name)
    proc, out = run_generator(gen, tmp_path)
    assert_ran(proc, name)
    assert produced(out) == set(gen["files"]), f"{name}: produced {produced(out)}, declared {set(gen['files'])}"
    (priv,) = [f for f in gen["files"] if not f.endswith(".pub")]
    # Header assembled from pieces: tests/test_no_plaintext_secrets.py scans this file too.
    assert (out / priv).read_text().startswith("-----" + "BEGIN OPENSSH " + "PRIVATE KEY" + "-----")
    fp = subprocess.run(["ssh-keygen", "-l", "-f", str(out / f"{priv}.pub")], capture_output=True, text=True, check=True)
    assert "ED25519" in fp.stdout


def test_openssh_cert_signs_host_key_for_principals(generators, tmp_path):
    gen = runnable(generators, "openssh-cert")
    ca_proc, ca_out = run_generator(generators["openssh-ca"], tmp_path / "ca")
    host_proc, host_out = run_generator(generators["openssh"], tmp_path / "host")
    assert_ran(ca_proc, "openssh-ca")
    assert_ran(host_proc, "openssh")
    inputs = {
        "openssh-ca": {f: (ca_out / f).read_bytes() for f in generators["openssh-ca"]["files"]},
        "openssh": {f: (host_out / f).read_bytes() for f in generators["openssh"]["files"]},
    }
    assert set(gen["dependencies"]) == set(inputs)
    proc, out = run_generator(
        gen, tmp_path / "cert", inputs=inputs, env={"MACHINE": "cinnabar", "PRINCIPALS": "cinnabar.fleet"}
    )
    assert_ran(proc, "openssh-cert")
    assert produced(out) == set(gen["files"])
    listing = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(out / "ssh.id_ed25519-cert.pub")], capture_output=True, text=True, check=True
    ).stdout
    assert "host certificate" in listing
    assert "cinnabar.fleet" in listing
    ca_fp = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(ca_out / "id_ed25519.pub")], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert ca_fp in listing, "certificate is not signed by the fleet CA"


def test_openssh_cert_without_principals_fails_with_message(generators, tmp_path):
    gen = runnable(generators, "openssh-cert")
    proc, _out = run_generator(gen, tmp_path, env={"MACHINE": "cinnabar"})
    assert proc.returncode != 0
    assert "PRINCIPALS (comma-separated host names) must be set by the Nix wrapper" in proc.stderr


def test_luks_key_is_64_printable_chars(generators, tmp_path):
    gen = runnable(generators, "luks-root")
    proc, out = run_generator(gen, tmp_path)
    assert_ran(proc, "luks-root")
    assert produced(out) == set(gen["files"])
    key = (out / "key").read_bytes()
    assert len(key) == 64 and key.isascii() and b"\n" not in key


@pytest.mark.parametrize("prompted", ["correct horse battery staple", ""])
def test_user_password_hash_verifies(generators, tmp_path, prompted):
    gen = runnable(generators, "user-password")
    proc, out = run_generator(gen, tmp_path, prompts={"user-password": prompted})
    assert_ran(proc, "user-password")
    assert produced(out) == set(gen["files"])
    password = (out / "user-password").read_text()
    if prompted:
        assert password == prompted
    else:
        assert len(password) >= 24, "an empty prompt must generate a password"
    hashed = (out / "user-password-hash").read_text()
    assert hashed.startswith("$y$"), f"expected a yescrypt hash, got {hashed[:4]}"
    assert crypt.crypt(password, hashed) == hashed, "hash does not verify against the password"


@pytest.mark.parametrize("name", ["hetzner-api-token", "gcp-api-token"])
def test_api_token_is_copied_from_prompt(generators, tmp_path, name):
    gen = runnable(generators, name)
    proc, out = run_generator(gen, tmp_path, prompts={"token": "tok-123"})
    assert_ran(proc, name)
    assert (out / "token").read_text() == "tok-123"


@pytest.mark.parametrize("name", ["gcp-project", "terraform-bootstrap-ssh"])
def test_prompted_values_are_copied_to_their_file(generators, tmp_path, name):
    gen = runnable(generators, name)
    (prompt,) = gen["prompts"]
    proc, out = run_generator(gen, tmp_path, prompts={prompt: "value-from-operator"})
    assert_ran(proc, name)
    assert produced(out) == set(gen["files"]) == {prompt}
    assert (out / prompt).read_text() == "value-from-operator"


def test_terraform_state_passphrase_is_long_enough_for_opentofu(generators, tmp_path):
    gen = runnable(generators, "terraform-state")
    proc, out = run_generator(gen, tmp_path)
    assert_ran(proc, "terraform-state")
    passphrase = (out / "passphrase").read_text()
    # OpenTofu's pbkdf2 key provider rejects passphrases shorter than 16 characters.
    assert len(passphrase) >= 16 and "\n" not in passphrase
    assert gen["files"]["passphrase"]["secret"] and not gen["files"]["passphrase"]["deploy"]


def test_every_terranix_credential_has_a_declared_generator(generators):
    creds = nix_eval("terranixWorkspaces", apply="ws: builtins.mapAttrs (_: w: w.credentials) ws")
    undeclared = {
        f"{cloud}/{var}": c["var_id"] for cloud, cs in creds.items() for var, c in cs.items() if not c["declared"]
    }
    assert not undeclared, f"terranix reads these clan vars but no generator declares them: {undeclared}"


def test_api_token_empty_prompt_fails_with_message(generators, tmp_path):
    gen = runnable(generators, "hetzner-api-token")
    proc, out = run_generator(gen, tmp_path, prompts={"token": ""})
    assert proc.returncode != 0
    assert "the prompt 'token' is empty" in proc.stderr
    assert not (out / "token").exists()


@pytest.mark.parametrize("name", ["zerotier-identity", "zerotier-network", "zerotier-ip"])
def test_zerotier_generators(generators, tmp_path, name):
    # Needs zerotier-generate/zerotier-idtool (clan-core's zerotier-tools): skipped offline.
    gen = runnable(generators, name)
    proc, out = run_generator(gen, tmp_path)
    assert_ran(proc, name)
    assert produced(out) == set(gen["files"])


def test_outputs_are_not_left_world_readable_by_umask_assumptions(generators, tmp_path):
    """clan re-encrypts/copies outputs and applies `mode` on deploy; the script must not
    rely on a wider mode either: private keys written by ssh-keygen are 0600."""
    gen = runnable(generators, "openssh")
    proc, out = run_generator(gen, tmp_path)
    assert_ran(proc, "openssh")
    mode = stat.S_IMODE(os.stat(out / "ssh.id_ed25519").st_mode)
    assert mode & 0o077 == 0, oct(mode)


def test_generator_missing_env_fails_evaluation_with_names(generators):
    """toClanGenerator refuses to build a generator whose script would miss a variable."""
    with pytest.raises(subprocess.CalledProcessError) as err:
        nix_eval(
            "fleetLib",
            apply='l: (l.toClanGenerator { gen = l.data.generators.openssh-cert; pkgs = { }; env.MACHINE = "x"; }).share',
        )
    assert (
        "fleet generator script vars/generators/openssh-cert.sh needs PRINCIPALS (see fleet.generators.*.env); "
        "pass them as `env` to toClanGenerator"
    ) in err.value.stderr


def test_declared_env_matches_what_scripts_require(generators):
    """Every `${VAR:?...}` a script insists on is declared in `env`, and vice versa."""
    for name, gen in generators.items():
        text = (REPO / gen["script"]).read_text()
        required = set(re.findall(r'\$\{([A-Z][A-Z0-9_]*):\?', text))
        assert required == set(gen["env"]), f"{name}: script requires {sorted(required)}, env declares {sorted(gen['env'])}"
