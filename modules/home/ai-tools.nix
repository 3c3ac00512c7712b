# AI coding assistants: Claude Code (settings, status line, a GLM-backed second
# profile), and one shared instructions file written for every agent CLI.
{
  flake.modules.homeManager.ai-tools =
    {
      config,
      lib,
      pkgs,
      ...
    }:
    let
      home = config.home.homeDirectory;
      # ccstatusline is an npm tool that nixpkgs does not package (the legacy tree
      # built it locally); run the published release with bun (in home.packages).
      ccstatusline = pkgs.writeShellScriptBin "ccstatusline" ''
        exec ${pkgs.bun}/bin/bunx ccstatusline@latest "$@"
      '';
      # One text, five agent CLIs: each reads its own file name.
      agentsMd = ''
        # Development Guidelines

        If one of the following applies to a given task or topic, proactively read
        the corresponding document, without pausing to ask if you should, to ensure
        you are aware of our ideal guidelines and conventions:

        - style and conventions: @${home}/.claude/commands/preferences/style-and-conventions.md
        - git version control: @${home}/.claude/commands/preferences/git-version-control.md
        - git history cleanup: ${home}/.claude/commands/preferences/git-history-cleanup.md
        - jj version control: ${home}/.claude/commands/jj/jj-summary.md
        - jj workflow (full): ${home}/.claude/commands/jj/jj-workflow.md
        - documentation: ${home}/.claude/commands/preferences/documentation.md
        - change management: ${home}/.claude/commands/preferences/change-management.md
        - architectural patterns: ${home}/.claude/commands/preferences/architectural-patterns.md
        - functional domain modeling (DDD, types, aggregates): ${home}/.claude/commands/preferences/domain-modeling.md
        - theoretical foundations (category theory, type theory): ${home}/.claude/commands/preferences/theoretical-foundations.md
        - smart constructors and validation patterns: see domain-modeling.md
        - error handling with Result types: see railway-oriented-programming.md
        - data modeling (database schemas, normalization, ER diagrams): ${home}/.claude/commands/preferences/data-modeling.md
        - schema versioning: ${home}/.claude/commands/preferences/schema-versioning.md
        - web application deployment: ${home}/.claude/commands/preferences/web-application-deployment.md
        - cloudflare wrangler configuration: ${home}/.claude/commands/preferences/cloudflare-wrangler-reference.md
        - secrets management: ${home}/.claude/commands/preferences/secrets.md
        - nix development: ${home}/.claude/commands/preferences/nix-development.md
        - python development: ${home}/.claude/commands/preferences/python-development.md
        - rust development: ${home}/.claude/commands/preferences/rust-development.md
        - haskell development: ${home}/.claude/commands/preferences/haskell-development.md
        - typescript/node.js development: ${home}/.claude/commands/preferences/typescript-nodejs-development.md
        - react/ui development: ${home}/.claude/commands/preferences/react-tanstack-ui-development.md

        Always remember to fallback to using practical features and architectural
        patterns that emphasize algebraic data types, type-safety, and functional
        programming as is feasible within a given programming language or
        framework's ecosystem (possibly with the addition of relevant libraries,
        e.g. basedpyright, beartype, and dbrattli/Expression in python) without
        losing sight of the fact that, in the ideal case, the integration of all
        of our codebases, regardless of language or framework, would correspond to
        an indexed monad transformer stack in the category of effects. Succinctly,
        side effects should be explicit in type signatures and isolated at
        boundaries to preserve compositionality.
      '';
        agentsMdTargets = [
          ".claude/CLAUDE.md"
          ".codex/AGENTS.md"
          ".gemini/GEMINI.md"
          ".config/crush/CRUSH.md"
          ".config/opencode/AGENTS.md"
        ];
        glmConfigDir = "${home}/.config/claude-glm";
        # `claude-glm`: Claude Code against Z.ai's Anthropic-compatible API, with its
        # own config dir that shares settings, commands and agents with ~/.claude.
        claudeGlm = pkgs.writeShellScriptBin "claude-glm" ''
          export CLAUDE_CONFIG_DIR="${glmConfigDir}"
          export ANTHROPIC_BASE_URL="https://api.z.ai/api/anthropic"
          ANTHROPIC_AUTH_TOKEN="$(cat ${config.sops.secrets.glm-api-key.path})"
          export ANTHROPIC_AUTH_TOKEN
          export ANTHROPIC_DEFAULT_OPUS_MODEL="glm-4.6"
          export ANTHROPIC_DEFAULT_SONNET_MODEL="glm-4.6"
          export ANTHROPIC_DEFAULT_HAIKU_MODEL="glm-4.5-air"
          exec ${config.programs.claude-code.finalPackage or config.programs.claude-code.package}/bin/claude "$@"
      '';
    in
    {
      programs.claude-code = {
        enable = true;
        package = pkgs.claude-code;
        settings = {
          alwaysThinkingEnabled = true;
          autoCompactEnabled = false;
          cleanupPeriodDays = 1100;
          enableAllProjectMcpServers = false;
          includeCoAuthoredBy = false;
          permissions = {
            allow = [
              "Bash(cat:*)"
              "Bash(echo:*)"
              "Bash(find:*)"
              "Bash(grep:*)"
              "Bash(head:*)"
              "Bash(ls:*)"
              "Bash(mkdir:*)"
              "Bash(pwd)"
              "Bash(tail:*)"
              "Bash(which:*)"
              "Bash(git add:*)"
              "Bash(git branch:*)"
              "Bash(git checkout:*)"
              "Bash(git commit:*)"
              "Bash(git config:*)"
              "Bash(git diff:*)"
              "Bash(git log:*)"
              "Bash(git push)"
              "Bash(git reset:*)"
              "Bash(git rev-parse:*)"
              "Bash(git show:*)"
              "Bash(git stash:*)"
              "Bash(git status:*)"
              "Bash(git tag:*)"
              "Bash(gh:*)"
              "Bash(nix build:*)"
              "Bash(nix develop:*)"
              "Bash(nix flake:*)"
              "Bash(nix run:*)"
              "Bash(jq:*)"
              "Bash(test:*)"
              "mcp__*"
            ];
            ask = [ ];
            defaultMode = "acceptEdits";
            deny = [
              "Bash(sudo:*)"
              "Bash(rm -rf:*)"
            ];
          };
          spinnerTipsEnabled = false;
          statusLine = {
            type = "command";
            command = "${ccstatusline}/bin/ccstatusline";
            padding = 0;
          };
          theme = "dark";
        };
      };

      home.packages = [
        ccstatusline
        claudeGlm
      ];

      home.file =
        lib.genAttrs agentsMdTargets (_: {
          text = agentsMd;
        })
        // {
          ".config/ccstatusline/settings.json".text = builtins.toJSON {
          colorLevel = 3;
          compactThreshold = 60;
          defaultPadding = " ";
          flexMode = "full-minus-40";
          globalBold = false;
          inheritSeparatorColors = false;
          lines = [
            [
              {
                backgroundColor = "bgBrightCyan";
                id = "b0956de0-40eb-46f5-a94d-92f3d4045e61";
                metadata = {
                  segments = "2";
                };
                type = "current-working-dir";
              }
              {
                color = "cyan";
                id = "1";
                type = "model";
              }
              {
                id = "623e7826-c7a2-4ab5-949a-85959bd2c0cf";
                type = "git-worktree";
              }
              {
                color = "magenta";
                id = "5";
                type = "git-branch";
              }
              {
                color = "yellow";
                id = "7";
                type = "git-changes";
              }
            ]
            [
              {
                backgroundColor = "bgRed";
                id = "63749d7b-cbdc-4f4a-873b-2c5f3901b45f";
                type = "session-clock";
              }
              {
                backgroundColor = "bgGreen";
                id = "639ae281-0919-4c49-9e52-6f24d534f2bd";
                type = "tokens-cached";
              }
              {
                backgroundColor = "bgCyan";
                id = "a19ecd03-5bbe-4545-97ba-3e624442ec7e";
                type = "tokens-total";
              }
              {
                backgroundColor = "bgBrightRed";
                commandPath = "jq -r '.session_id // \"no-session\"'";
                id = "fe0ecc3f-aeff-4fa9-8fa2-4012a2494cb6";
                type = "custom-command";
              }
            ]
            [
              {
                backgroundColor = "bgGreen";
                id = "83061005-9f10-4a53-9a70-0efd60b55355";
                type = "context-percentage";
              }
              {
                backgroundColor = "bgMagenta";
                id = "f8c7b0c2-d3c9-4487-ad32-056f04736c80";
                type = "context-length";
              }
              {
                backgroundColor = "bgBrightWhite";
                id = "bdd354ab-ff50-4a0e-aa17-3aa7069053bc";
                type = "tokens-input";
              }
              {
                backgroundColor = "bgBrightGreen";
                id = "30ae856f-684a-48c0-b924-bdc425c426cd";
                type = "tokens-output";
              }
              {
                backgroundColor = "bgWhite";
                id = "6030a238-40a2-401d-9267-e14a18defa62";
                type = "block-timer";
              }
              {
                backgroundColor = "bgBrightYellow";
                id = "ba421936-e8b7-4184-9574-32b4cddfcea8";
                type = "session-cost";
              }
            ]
          ];
          powerline = {
            autoAlign = false;
            enabled = true;
            endCaps = [
              ""
            ];
            separatorInvertBackground = [
              false
            ];
            separators = [
              ""
            ];
            startCaps = [
              ""
            ];
            theme = "minimal";
          };
          version = 3;
        };
          ".config/claude-glm/settings.json".source =
            config.lib.file.mkOutOfStoreSymlink "${home}/.claude/settings.json";
          ".config/claude-glm/commands".source = config.lib.file.mkOutOfStoreSymlink "${home}/.claude/commands";
          ".config/claude-glm/agents".source = config.lib.file.mkOutOfStoreSymlink "${home}/.claude/agents";
          # Where the MCP server configs (sops templates) are rendered.
          ".mcp/.keep".text = "";
        };
    };
}
