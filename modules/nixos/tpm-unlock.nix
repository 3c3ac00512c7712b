# Aspect `tpm-unlock`: the LUKS root unlocks itself at boot with the VM's TPM
# (GCE Shielded VM vTPM, switched on in modules/terranix/gcp.nix), so a GCE
# node that restarts after host maintenance (scheelite: GPUs cannot live-migrate,
# on_host_maintenance = TERMINATE + automatic_restart) comes back unattended.
# The initrd SSH unlock (remote-unlock) stays as the fallback when the TPM
# refuses (PCR 7 changed: Secure Boot state/keys).
#
# Enrolment happens once per install, with the passphrase from vars:
#   clan vars get <machine> luks-root/key | ssh root@<machine>.fleet \
#     systemd-cryptenroll --tpm2-device=auto --tpm2-pcrs=7 --unlock-key-file=/dev/stdin /dev/disk/by-partlabel/disk-main-luks
# (docs/VERIFICATION.md, "Servers that come back").
#
# Decided per host by tag: `gcp` nodes import this aspect; Hetzner Cloud has no
# vTPM, so cinnabar/electrum keep the SSH unlock (they restart only when we
# reboot them); testvm keeps it because it is the test of that path.
{
  flake.modules.nixos.tpm-unlock =
    { config, lib, ... }:
    let
      luksNames = lib.attrNames config.boot.initrd.luks.devices;
    in
    {
      # systemd-cryptsetup in the initrd reads tpm2-device= (needs the systemd initrd).
      boot.initrd.systemd.enable = true;
      boot.initrd.systemd.tpm2.enable = true;
      security.tpm2.enable = true;
      boot.initrd.availableKernelModules = [ "tpm_tis" "tpm_crb" ];
      boot.initrd.luks.devices = lib.genAttrs luksNames (_: {
        crypttabExtraOpts = [ "tpm2-device=auto" ];
      });
    };
}
