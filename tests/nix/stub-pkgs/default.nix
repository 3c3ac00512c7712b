# TEST-ONLY stand-in for nixpkgs' `pkgs`. Offline there is no nixpkgs package
# tree (only nixpkgs.lib), yet nix-darwin and home-manager modules need `pkgs`
# to compute option VALUES such as `home.packages`. Every package here is a
# named placeholder: a real `builtins.derivation` (so `outPath`, `drvPath` and
# string interpolation work) whose builder does not exist, so it can never be
# built or mistaken for the product. `pname` is the nixpkgs attribute path, which
# lets tests assert *which* package a module asked for.
#
# Used only from tests/nix (injected with `extendModules` + `nixpkgs.pkgs`).
{
  lib,
  system ? "aarch64-darwin",
  names ? import ./names.nix,
}:
let
  hostPlatform = lib.systems.elaborate system;

  # nixpkgs' own pname where a module checks it: mkTmuxPlugin names every plugin
  # "tmuxplugin-<name>" (pkgs/misc/tmux-plugins/default.nix), and home-manager's
  # tmux module asserts that prefix.
  pnameOf =
    attrPath:
    if lib.hasPrefix "tmuxPlugins." attrPath then
      "tmuxplugin-" + lib.removePrefix "tmuxPlugins." attrPath
    else
      attrPath;

  # A placeholder package. `attrPath` is the nixpkgs attribute path ("python3Packages.pip").
  mkPkg =
    attrPath:
    let
      drv = builtins.derivation {
        # Store names allow only [A-Za-z0-9+-._?=]; the attribute path keeps the rest.
        name = lib.strings.sanitizeDerivationName attrPath + "-stub";
        system = "stub-never-built";
        builder = "/stub/never-built";
      };
      self = drv // {
        inherit attrPath;
        pname = pnameOf attrPath;
        # Modules compare versions (home-manager's fzf asserts >= 0.48): the
        # packages they compare carry nixpkgs' version (names.nix `versions`).
        version = names.versions.${attrPath} or "0-stub";
        type = "derivation";
        meta = {
          mainProgram = lib.last (lib.splitString "." attrPath);
          platforms = lib.platforms.all;
          description = "test placeholder for pkgs.${attrPath}";
        };
        passthru = { };
        # Variants keep the attribute path and record the call, so tests can see them.
        override = _: mkPkg attrPath;
        overrideAttrs = _: mkPkg attrPath;
        withPackages = _: mkPkg "${attrPath}.withPackages";
        withExtraComponents = _: mkPkg "${attrPath}.withExtraComponents";
        withPlugins = _: mkPkg "${attrPath}.withPlugins";
        components = pkgSet "${attrPath}.components" [ ];
        # Some modules read these of a package (e.g. shells, terminfo).
        shellPath = "/bin/${lib.last (lib.splitString "." attrPath)}";
        src = drv;
        out = self;
        bin = self;
        man = self;
        outputs = [ "out" ];
        # Read by home-manager's neovim module off the wrapped neovim.
        luaRcContent = "";
        # tmux plugins: home-manager runs `run-shell <plugin.rtp>`.
        rtp = "${drv}/share/tmux-plugins/${lib.last (lib.splitString "." attrPath)}/plugin.tmux";
        packpathDirs = { };
        # Build helpers (wrapNeovimUnstable, ...) are placeholders too: calling one,
        # with any number of arguments, gives back a placeholder of the same name.
        __functor = self: _: self;
      };
    in
    self;

  # A package set (pkgs.vimPlugins, pkgs.tmuxPlugins, ...): any listed member is a
  # placeholder; the set itself also behaves like a package for `callPackage` users.
  pkgSet =
    prefix: members:
    lib.genAttrs members (n: mkPkg "${prefix}.${n}")
    // {
      recurseForDerivations = false;
      callPackage = _: _: mkPkg "${prefix}.callPackage";
    };

  namedBuilder = name: _: mkPkg name;

  formatStub = kind: _args: {
    type = lib.types.anything;
    generate = name: _value: mkPkg "formats.${kind}:${name}";
    lib = {
      types = {
        atom = lib.types.anything;
        luaInline = lib.types.anything;
      };
      mkLuaInline = expr: { _type = "lua-inline"; inherit expr; };
    };
  };

  pkgs =
    lib.genAttrs names.packages mkPkg
    // lib.mapAttrs pkgSet names.sets
    // {
      _type = "pkgs";
      inherit lib system hostPlatform;
      buildPlatform = hostPlatform;
      targetPlatform = hostPlatform;
      stdenv = {
        inherit hostPlatform;
        buildPlatform = hostPlatform;
        targetPlatform = hostPlatform;
        inherit (hostPlatform) isDarwin isLinux system;
        cc = mkPkg "stdenv.cc";
        shell = "/bin/sh";
        mkDerivation = a: mkPkg (a.pname or a.name or "mkDerivation");
      };
      stdenvNoCC = pkgs.stdenv;
      path = ./nixpkgs-path;
      config = { };
      overlays = [ ];
      buildPackages = pkgs;
      __splicedPackages = pkgs;
      pkgsHostTarget = pkgs;
      pkgsBuildBuild = pkgs;
      pkgsBuildHost = pkgs;
      appendOverlays = overlays: if overlays == [ ] then pkgs else throw "stub pkgs: overlays are not supported";
      extend = _: pkgs;
      # nix-darwin and sops-nix build their tools with callPackage and pick them by name.
      callPackage =
        f: _args:
        mkPkg "callPackage:${baseNameOf (toString f)}"
        // lib.genAttrs [
          "darwin-rebuild"
          "darwin-option"
          "darwin-version"
          "darwin-uninstaller"
          # sops-nix's darwin module: (pkgs.callPackage sops-nix { }).sops-install-secrets
          "sops-install-secrets"
        ] mkPkg;
      formats = lib.genAttrs [ "json" "yaml" "toml" "ini" "keyValue" "gitIni" "lua" "xml" "libconfig" "elixirConf" "hocon" "javaProperties" "pythonVars" "nixConf" "cdn" "plist" "yaml_1_1" "yaml_1_2" "iniWithGlobalSection" "luaWrapper" "php" "systemd" ] formatStub;
      writeText = namedBuilder "writeText";
      writeTextFile = a: mkPkg "writeTextFile:${a.name or "file"}";
      writeTextDir = namedBuilder "writeTextDir";
      writeScript = name: _: mkPkg "writeScript:${name}";
      writeScriptBin = name: _: mkPkg name;
      writeShellScript = name: _: mkPkg "writeShellScript:${name}";
      # Script builders are named like the real ones: by the script name.
      writeShellScriptBin = name: _: mkPkg name;
      writeShellApplication = a: mkPkg a.name;
      writers = {
        writeBash = name: _: mkPkg "writers.writeBash:${name}";
        writeBashBin = name: _: mkPkg "writers.writeBashBin:${name}";
        writeNu = name: _: mkPkg "writers.writeNu:${name}";
      };
      runCommand = name: _: _: mkPkg "runCommand:${name}";
      runCommandLocal = name: _: _: mkPkg "runCommandLocal:${name}";
      runCommandNoCC = name: _: _: mkPkg "runCommandNoCC:${name}";
      symlinkJoin = a: mkPkg "symlinkJoin:${a.name or "join"}";
      buildEnv = a: mkPkg "buildEnv:${a.name or "env"}";
      linkFarm = name: _: mkPkg "linkFarm:${name}";
      substituteAll = a: mkPkg "substituteAll";
      replaceVars = src: _: mkPkg "replaceVars";
      fetchurl = a: mkPkg "fetchurl";
      fetchFromGitHub = a: mkPkg "fetchFromGitHub:${a.repo or "repo"}";
      makeWrapper = mkPkg "makeWrapper";
      texlive = mkPkg "texlive" // {
        combine = _: mkPkg "texlive.combine";
        combined = pkgSet "texlive.combined" [ "scheme-small" ];
      };
    };
in
pkgs
