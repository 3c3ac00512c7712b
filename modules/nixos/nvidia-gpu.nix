# Aspect `nvidia-gpu`: NVIDIA driver and CUDA runtime for a headless GPU node
# (scheelite: an NVIDIA T4, Turing, attached by terranix from the `gpu` tag).
# Options as declared in nixpkgs: hardware.nvidia.* (nixos/modules/hardware/
# video/nvidia.nix; the module is active when "nvidia" is in
# services.xserver.videoDrivers, also without X), hardware.graphics.enable
# (nixos/modules/hardware/graphics.nix), nixpkgs.config.cudaSupport.
{
  flake.modules.nixos.nvidia-gpu =
    { config, pkgs, ... }:
    {
      nixpkgs.config = {
        allowUnfree = true; # the NVIDIA driver and CUDA are unfree
        cudaSupport = true;
      };
      services.xserver.videoDrivers = [ "nvidia" ];
      hardware.graphics.enable = true;
      hardware.nvidia = {
        # Turing and newer run NVIDIA's open kernel modules (required from driver 560 on).
        open = true;
        package = config.boot.kernelPackages.nvidiaPackages.stable;
        # Headless: keep the driver initialised between CUDA jobs.
        nvidiaPersistenced = true;
        modesetting.enable = true;
        # No display: nixpkgs' default (true) would add the nvidia-settings GUI.
        nvidiaSettings = false;
      };
      # The CUDA runtime and nvidia-smi (from the driver package) on PATH.
      environment.systemPackages = [
        pkgs.cudaPackages.cuda_cudart
        config.hardware.nvidia.package.bin
      ];
    };
}
