# Every vars generator this flake declares itself, as plain data:
# `nix eval .#fleet.generators` shows them without building anything, the
# tests run each script for real (tests/nix/test_vars_generators.py) and the
# Nix side turns an entry into `clan.core.vars.generators.<name>` with
# `fleet.lib.toClanGenerator` (modules/vars/lib.nix).
#
# Fields: description; files.<f> = { secret; deploy; owner; mode; neededFor };
# prompts.<p> = { description; type; persist }; script (repo-relative path of
# the script under vars/generators/); runtimeInputs (nixpkgs attribute names
# the script calls); env (variables the Nix side exports before the script,
# with what they mean); share; dependencies; appliesTo (how a machine gets the
# generator: `tags` of the inventory for the fleet-vars aspect, or the clan
# service that declares it).
#
# Generators that clan-core's own services declare on NixOS (sshd's openssh*,
# zerotier's zerotier-*) are repeated here only for the darwin side, with the
# same names, files and commands, so a shared generator means one thing
# everywhere.
let
  secretFile = extra: {
    secret = true;
    deploy = true;
    owner = "root";
    mode = "0400";
    neededFor = "services";
  } // extra;
  publicFile = extra: {
    secret = false;
    deploy = true;
    owner = "root";
    mode = "0444";
    neededFor = "services";
  } // extra;
  # A shared generator whose one file is what the operator enters at clan's
  # prompt (vars/generators/prompted-value.sh); admin-side only, never deployed.
  prompted =
    {
      description,
      file,
      prompt,
      type,
      secret ? true,
      tags,
    }:
    {
      inherit description;
      files.${file} = (if secret then secretFile else publicFile) { deploy = false; };
      prompts.${file} = {
        description = prompt;
        inherit type;
        persist = false;
      };
      script = "vars/generators/prompted-value.sh";
      runtimeInputs = [ "coreutils" ];
      env = { };
      share = true;
      dependencies = [ ];
      appliesTo.tags = tags;
    };
in
{
  flake.fleet.generators = {
    luks-root = {
      description = "LUKS passphrase of the root disk; uploaded before disko formats, typed over initrd SSH at boot.";
      files.key = secretFile { neededFor = "partitioning"; };
      prompts = { };
      script = "vars/generators/luks-key.sh";
      runtimeInputs = [ "openssl" "coreutils" ];
      env = { };
      share = false;
      dependencies = [ ];
      appliesTo.tags = [ "server" ];
    };

    initrd-ssh = {
      description = "Host key of the initrd SSH daemon that unlocks LUKS remotely.";
      files.id_ed25519 = secretFile { neededFor = "activation"; };
      files."id_ed25519.pub" = publicFile { };
      prompts = { };
      script = "vars/generators/initrd-ssh-host-key.sh";
      runtimeInputs = [ "openssh" ];
      env = { };
      share = false;
      dependencies = [ ];
      appliesTo.tags = [ "server" ];
    };

    hetzner-api-token = prompted {
      description = "Hetzner Cloud API token for terranix/OpenTofu (admin side only).";
      file = "token";
      prompt = "Hetzner Cloud API token (Console > Security > API tokens, read/write)";
      type = "hidden";
      tags = [ "hetzner" ];
    };

    gcp-api-token = prompted {
      description = "GCP service-account key (JSON) for terranix/OpenTofu (admin side only).";
      file = "token";
      prompt = "GCP service-account key JSON (IAM > Service accounts > Keys)";
      type = "multiline-hidden";
      tags = [ "gcp" ];
    };

    terraform-state = {
      description = "Passphrase of OpenTofu's state and plan encryption (admin side only).";
      files.passphrase = secretFile { deploy = false; };
      prompts = { };
      script = "vars/generators/state-passphrase.sh";
      runtimeInputs = [ "openssl" "coreutils" ];
      env = { };
      share = true;
      dependencies = [ ];
      appliesTo.tags = [ "cloud" ];
    };

    gcp-project = prompted {
      description = "The GCP project the gcp workspace creates its resources in.";
      file = "id";
      prompt = "GCP project id (IAM & Admin > Settings)";
      type = "line";
      secret = false;
      tags = [ "gcp" ];
    };

    terraform-bootstrap-ssh = prompted {
      description = "Operator's OpenSSH public key that freshly created cloud servers accept, for clan machines install.";
      file = "id_ed25519.pub";
      prompt = "OpenSSH public key of the operator (contents of ~/.ssh/id_ed25519.pub)";
      type = "line";
      secret = false;
      tags = [ "cloud" ];
    };

    user-password = {
      description = "Password of a declared user; declared as user-password-<user> by the @fleet/users service.";
      files.user-password = secretFile { deploy = false; };
      files.user-password-hash = secretFile { neededFor = "users"; };
      prompts.user-password = {
        description = "Password for the user (leave empty to generate one)";
        type = "hidden";
        persist = true;
      };
      script = "vars/generators/user-password.sh";
      runtimeInputs = [ "openssl" "mkpasswd" "coreutils" ];
      env = { };
      share = false;
      dependencies = [ ];
      appliesTo.service = "@fleet/users";
      nameTemplate = "user-password-<user>";
    };

    openssh-ca = {
      description = "The fleet SSH certificate authority (shared; private half never deployed).";
      files.id_ed25519 = secretFile { deploy = false; };
      files."id_ed25519.pub" = publicFile { deploy = false; };
      prompts = { };
      script = "vars/generators/openssh-ca.sh";
      runtimeInputs = [ "openssh" ];
      env = { };
      share = true;
      dependencies = [ ];
      appliesTo.service = "@fleet/sshd (darwin; clan-core sshd declares the same on NixOS)";
    };

    openssh = {
      description = "The machine's persistent ed25519 SSH host key.";
      files."ssh.id_ed25519" = secretFile { };
      files."ssh.id_ed25519.pub" = publicFile { };
      prompts = { };
      script = "vars/generators/openssh-host-key.sh";
      runtimeInputs = [ "openssh" ];
      env = { };
      share = false;
      dependencies = [ ];
      appliesTo.service = "@fleet/sshd (darwin; clan-core sshd declares the same on NixOS)";
    };

    openssh-cert = {
      description = "The machine's host certificate, signed by openssh-ca for <machine>.<domain>.";
      files."ssh.id_ed25519-cert.pub" = publicFile { };
      prompts = { };
      script = "vars/generators/openssh-cert.sh";
      runtimeInputs = [ "openssh" "coreutils" ];
      env = {
        MACHINE = "certificate identity: the machine name";
        PRINCIPALS = "comma-separated <machine>.<domain> host names";
      };
      share = false;
      dependencies = [ "openssh" "openssh-ca" ];
      appliesTo.service = "@fleet/sshd (darwin; clan-core sshd declares the same on NixOS)";
    };

    zerotier-identity = {
      description = "ZeroTier identity keypair; declared as zerotier-identity-<machine>.";
      files.identity-secret = secretFile { };
      prompts = { };
      script = "vars/generators/zerotier-identity.sh";
      runtimeInputs = [ "zerotier-tools" "zerotierone" ];
      env = { };
      share = true;
      dependencies = [ ];
      appliesTo.service = "@fleet/zerotier (darwin; clan-core zerotier declares the same on NixOS)";
      nameTemplate = "zerotier-identity-<machine>";
    };

    zerotier-network = {
      description = "ZeroTier network id, derived from the controller's identity; declared as zerotier-network-<instance>.";
      files.network-id = publicFile { deploy = false; };
      prompts = { };
      script = "vars/generators/zerotier-network-id.sh";
      runtimeInputs = [ "zerotier-tools" ];
      env.CONTROLLER_GENERATOR = "zerotier-identity-<controller>";
      share = true;
      dependencies = [ "zerotier-identity-<controller>" ];
      appliesTo.service = "@fleet/zerotier (darwin; clan-core zerotier declares the same on NixOS)";
      nameTemplate = "zerotier-network-<instance>";
    };

    zerotier-ip = {
      description = "The machine's ZeroTier address; the controller admits members whose address is in the vars.";
      files.ip = publicFile { deploy = false; };
      prompts = { };
      script = "vars/generators/zerotier-ip.sh";
      runtimeInputs = [ "zerotier-tools" ];
      env = {
        IDENTITY_GENERATOR = "zerotier-identity-<machine>";
        NETWORK_GENERATOR = "zerotier-network-<instance>";
      };
      share = true;
      dependencies = [ "zerotier-identity-<machine>" "zerotier-network-<instance>" ];
      appliesTo.service = "@fleet/zerotier (darwin; clan-core zerotier declares the same on NixOS)";
      nameTemplate = "zerotier-ip-<machine>-<instance>";
    };
  };
}
