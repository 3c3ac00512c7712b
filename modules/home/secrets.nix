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
      # The encrypted files live in the repository's secrets/ directory; see
      # docs/baseline-decisions.yml (sops-user-secrets) for their migration.
      userSecrets = file: "${inputs.self}/secrets/users/${id}/${file}";
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

      sops = {
        age.keyFile = "${home}/.config/sops/age/keys.txt";
        defaultSopsFile = "${inputs.self}/secrets/shared.yaml";
        # The files are checked when the secrets are installed, not at evaluation.
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
