# sudo accepts Touch ID (pam_tid through /etc/pam.d/sudo_local, which survives macOS updates).
{
  flake.modules.darwin.security = {
    security.pam.services.sudo_local.touchIdAuth = true;
  };
}
