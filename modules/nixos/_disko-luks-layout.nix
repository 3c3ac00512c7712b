# The server disk layout as a pure function (lib-free data): GPT with a BIOS
# boot partition (Hetzner Cloud boots legacy BIOS), an unencrypted ESP/boot
# partition for GRUB, and the rest as LUKS holding an ext4 root.
# Called by modules/nixos/disko-luks.nix, which also publishes the result per
# machine as `fleet.disko.<machine>` so tests read it without building.
{ device, passwordFile, luksName ? "crypted" }:
{
  disk.main = {
    type = "disk";
    inherit device;
    content = {
      type = "gpt";
      partitions = {
        bios = {
          size = "1M";
          type = "EF02";
          priority = 1;
        };
        esp = {
          size = "512M";
          type = "EF00";
          priority = 2;
          content = {
            type = "filesystem";
            format = "vfat";
            mountpoint = "/boot";
            mountOptions = [ "umask=0077" ];
          };
        };
        root = {
          size = "100%";
          content = {
            type = "luks";
            name = luksName;
            # Only read while formatting; at boot the passphrase is typed over
            # initrd SSH (modules/nixos/remote-unlock.nix).
            inherit passwordFile;
            settings.allowDiscards = true;
            content = {
              type = "filesystem";
              format = "ext4";
              mountpoint = "/";
            };
          };
        };
      };
    };
  };
}
