# Per-user secrets with sops-nix: the SSH signing key (git, jj and radicle use it),
# LLM and MCP API keys, and the MCP server configs rendered from templates into
# ~/.mcp/<name>.json (mode 0400). Which secrets a user decrypts is its
# `sopsIdentifier` (runner shares the admin's).
{ inputs, ... }:
{
  flake.modules.homeManager.secrets =
    {
      config,
      lib,
      fleetUser,
      ...
    }:
    let
      home = config.home.homeDirectory;
      id = fleetUser.sopsIdentifier;
      # The encrypted files live in the repository's secrets/ directory (the sops
      # tier of the two-tier layout: secrets/README.md, which also says how the
      # owner restores them from the legacy tree).
      userSecrets = file: "${inputs.self}/secrets/users/${id}/${file}";
      # The files the secrets below are read from that are not in the repository
      # (relative to it). sops-nix checks them only when it installs them
      # (validateSopsFiles = false), so without this an activation would be the
      # first to notice; every build warns instead.
      missingFiles = lib.sort lib.lessThan (
        lib.unique (
          map (s: lib.removePrefix "${inputs.self}/" (toString s.sopsFile)) (
            lib.filter (s: !builtins.pathExists s.sopsFile) (lib.attrValues config.sops.secrets)
          )
        )
      );
      # MCP server definitions, one JSON file per server under ~/.mcp.
      mcpServers = {
        chrome = {
          mcpServers = {
            chrome-devtools = {
              args = [
                "chrome-devtools-mcp@latest"
              ];
              command = "npx";
            };
          };
        };
        cloudflare = {
          mcpServers = {
            cloudflare = {
              args = [
                "mcp-remote"
                "https://docs.mcp.cloudflare.com/sse"
              ];
              command = "npx";
            };
          };
        };
        context7 = {
          mcpServers = {
            context7 = {
              args = [
                "-y"
                "@upstash/context7-mcp"
                "--api-key"
                "${config.sops.placeholder.mcp-context7-api-key}"
              ];
              command = "npx";
              env = { };
              type = "stdio";
            };
          };
        };
        duckdb = {
          mcpServers = {
            mcp-server-motherduck = {
              args = [
                "mcp-server-motherduck"
                "--db-path"
                ":memory:"
              ];
              command = "uvx";
            };
          };
        };
        firecrawl = {
          mcpServers = {
            firecrawl = {
              args = [
                "-y"
                "firecrawl-mcp"
              ];
              command = "npx";
              env = {
                FIRECRAWL_API_KEY = "${config.sops.placeholder.mcp-firecrawl-api-key}";
              };
              type = "stdio";
            };
          };
        };
        gcloud = {
          mcpServers = {
            gcloud = {
              args = [
                "-y"
                "@google-cloud/gcloud-mcp"
              ];
              command = "npx";
            };
          };
        };
        gcs = {
          mcpServers = {
            storage = {
              args = [
                "-y"
                "@google-cloud/storage-mcp"
              ];
              command = "npx";
            };
          };
        };
        historian = {
          mcpServers = {
            claude-historian = {
              args = [
                "claude-historian"
              ];
              command = "npx";
              env = { };
              type = "stdio";
            };
          };
        };
        huggingface = {
          mcpServers = {
            hf-mcp-server = {
              args = [
                "mcp-remote"
                "https://huggingface.co/mcp"
                "--header"
                "Authorization: Bearer ${config.sops.placeholder.mcp-huggingface-token}"
              ];
              command = "npx";
            };
          };
        };
        mcp-prompt-server = {
          mcpServers = {
            mcp-prompt-server = {
              args = [
                "${home}/projects/planning-workspace/mcp-prompts-server/dist/server.js"
              ];
              command = "node";
            };
          };
        };
        nixos = {
          mcpServers = {
            nixos = {
              args = [
                "mcp-nixos"
              ];
              command = "uvx";
            };
          };
        };
        playwright = {
          mcpServers = {
            playwright = {
              args = [
                "@playwright/mcp@latest"
                "--extension"
              ];
              command = "npx";
              env = { };
              type = "stdio";
            };
          };
        };
        terraform = {
          mcpServers = {
            terraform = {
              args = [
                "run"
                "-i"
                "--rm"
                "hashicorp/terraform-mcp-server"
              ];
              command = "docker";
              env = { };
              type = "stdio";
            };
          };
        };
      };
    in
    {
      imports = [ inputs.sops-nix.homeManagerModules.sops ];

      warnings = lib.optional (missingFiles != [ ]) (
        "sops user secrets missing for ${config.home.username} (${id}): ${lib.concatStringsSep ", " missingFiles} "
        + "are not in the repository, so sops-nix cannot install these secrets; the owner restores them "
        + "from the legacy tree (secrets/README.md)"
      );

      sops = {
        age.keyFile = "${home}/.config/sops/age/keys.txt";
        defaultSopsFile = "${inputs.self}/secrets/shared.yaml";
        # sops-nix would fail the build on a missing file; the `warnings` above
        # name the missing ones instead, so a host builds before the owner has
        # restored them.
        validateSopsFiles = false;
        secrets = {
          "${id}/signing-key" = {
            sopsFile = userSecrets "signing-key.yaml";
            mode = "0400";
            path = "${home}/.radicle/keys/radicle";
          };
          glm-api-key = {
            sopsFile = userSecrets "llm-api-keys.yaml";
            key = "glm-api-key";
          };
          mcp-context7-api-key = {
            sopsFile = userSecrets "mcp-api-keys.yaml";
            key = "context7-api-key";
          };
          mcp-firecrawl-api-key = {
            sopsFile = userSecrets "mcp-api-keys.yaml";
            key = "firecrawl-api-key";
          };
          mcp-huggingface-token = {
            sopsFile = userSecrets "mcp-api-keys.yaml";
            key = "huggingface-token";
          };
        };
        templates = lib.mapAttrs' (
          name: content:
          lib.nameValuePair "mcp-${name}" {
            path = "${home}/.mcp/${name}.json";
            mode = "0400";
            content = builtins.toJSON content;
          }
        ) mcpServers;
      };
    };
}
