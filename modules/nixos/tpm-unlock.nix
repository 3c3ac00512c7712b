# Aspect `tpm-unlock`: the LUKS root unlocks itself at boot with the VM's TPM
# (GCE Shielded VM vTPM, switched on in modules/terranix/gcp.nix), so a GCE
# node that restarts after host maintenance (scheelite: GPUs cannot live-migrate,
# on_host_maintenance = TERMINATE + automatic_restart) comes back unattended.
# The initrd SSH unlock (remote-unlock) stays as the fallback when the TPM
# refuses (PCR 7 changed: Secure Boot state/keys).
#
# Enrolment happens once per install, with the passphrase from vars:
#   clan vars get <machine> luks-root/key | ssh root@<machine>.fleet \
#     systemd-cryptenroll --tpm2-device=auto --tpm2-pcrs=7 --unlock-key-file=/dev/stdin \
#     "$(nix eval --raw .#fleetChecks.disko.<machine>.luksDevices.crypted.device)"
# (the LUKS partition disko derives from the layout: /dev/disk/by-partlabel/disk-main-root)
# (docs/VERIFICATION.md, "Servers that come back").
#
# Decided by hardware: every GCE node has a vTPM (terranix turns it on for each
# one), so the `hardware-gcp` aspect imports this one; Hetzner Cloud has no
# vTPM, so cinnabar/electrum keep the SSH unlock (they restart only when we
# reboot them); testvm keeps it because it is the test of that path.
{
  flake.modules.nixos.tpm-unlock =
    { lib, ... }:
    {
      # Every LUKS device of the initrd (disko derives them from the layout) is
      # opened with the TPM. nixpkgs declares boot.initrd.luks.devices as
      # attrsOf (submodule ...) (nixos/modules/system/boot/luksroot.nix); a second
      # declaration of the same type adds a definition to each device's
      # submodule, whatever its name. (Reading the device names from config to
      # define devices by them is an infinite recursion at the first build:
      # tests/nix/test_nixos_data.py::test_tpm_unlock_*.)
      options.boot.initrd.luks.devices = lib.mkOption {
        type = lib.types.attrsOf (
          lib.types.submodule {
            config.crypttabExtraOpts = [ "tpm2-device=auto" ];
          }
        );
      };

      config = {
        # systemd-cryptsetup in the initrd reads tpm2-device= (needs the systemd initrd).
        boot.initrd.systemd.enable = true;
        boot.initrd.systemd.tpm2.enable = true;
        security.tpm2.enable = true;
        boot.initrd.availableKernelModules = [
          "tpm_tis"
          "tpm_crb"
        ];
      };
    };
}
