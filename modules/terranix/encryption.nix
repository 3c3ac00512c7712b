# Aspect `flake.modules.terranix.encryption`: OpenTofu state and plan
# encryption, enforced. The key is derived (PBKDF2) from a passphrase that comes
# from clan vars through TF_VAR_state_passphrase; with enforced = true tofu
# refuses to write an unencrypted state or plan, so a missing passphrase fails
# closed. Needs OpenTofu >= 1.8 (variables in the encryption block); HashiCorp
# Terraform rejects the `encryption` block, which is also a safe failure.
#
# JSON syntax: references are written as "${...}" templates, the form OpenTofu
# accepts in .tf.json encryption blocks.
{
  flake.modules.terranix.encryption =
    { config, lib, ... }:
    let
      # Names are recorded inside the encrypted state: renaming them later needs
      # a `fallback` block (see OpenTofu's key and method rollover docs).
      keyProvider = "fleet";
      method = "fleet";
      target = {
        method = "\${method.aes_gcm.${method}}";
        enforced = true;
      };
    in
    {
      fleet.terranix.credentials.state_passphrase = {
        generator = "terraform-state";
        file = "passphrase";
        description = "Passphrase (at least 16 characters) from which the state and plan encryption key is derived.";
      };

      terraform = {
        required_version = ">= 1.8.0";
        encryption = {
          key_provider.pbkdf2.${keyProvider}.passphrase = "\${var.state_passphrase}";
          method.aes_gcm.${method}.keys = "\${key_provider.pbkdf2.${keyProvider}}";
          state = target;
          plan = target;
        };
      };
    };
}
