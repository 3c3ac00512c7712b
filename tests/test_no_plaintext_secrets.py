"""No plaintext secret may be committed: private key blocks or age identities.

Scans every file git tracks or would track (tracked + untracked-not-ignored),
so a secret is caught before the lead's commit, not after. Encrypted vars
(sops/age) never contain these markers in the clear.

Precision over noise: a private key block counts when its body is long
enough to hold a key, an age identity when its bech32 checksum is valid. So
scrubber test fixtures (short bodies, placeholder keys) pass, and anything
ssh-keygen or age-keygen really emits is caught (tested below with real keys).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Built from pieces so this file does not match itself.
_BEGIN = "-----" + "BEGIN "
_END = "-----" + "END "
# A PEM/OpenSSH/PGP private key block with a body long enough to be a key
# (the smallest real one, an ed25519 PKCS#8 PEM, has 64 base64 chars; OpenSSH
# format ~400; scrubber fixtures such as "b3BlbnNzaA" are far below 40).
PRIVATE_BLOCK = re.compile(
    re.escape(_BEGIN.encode())
    + rb"(?P<kind>(OPENSSH |RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY|PGP PRIVATE KEY BLOCK)-----"
    + rb"(?P<body>[A-Za-z0-9+/=:,\s-]*?)"
    + re.escape(_END.encode())
)
MIN_KEY_BODY = 40
# age identities are bech32 with the HRP "age-secret-key-"; only a valid
# checksum makes it a real key (placeholders like ...1QQQQ fail it).
AGE_KEY = re.compile(rb"AGE-" + rb"SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}")
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_valid(text: str) -> bool:
    """BIP-173 checksum check (age uses plain bech32)."""
    text = text.lower()
    hrp, _sep, data = text.rpartition("1")
    if not hrp or any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.index(c) for c in data]
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk == 1


def secrets_in(data: bytes) -> list[str]:
    """Kinds of plaintext secrets found in `data`."""
    kinds = []
    for m in PRIVATE_BLOCK.finditer(data):
        if len(re.sub(rb"\s", b"", m.group("body"))) >= MIN_KEY_BODY:
            kinds.append(m.group("kind").decode().strip().lower() + " block")
    kinds += ["age secret key" for m in AGE_KEY.finditer(data) if _bech32_valid(m.group().decode())]
    return kinds


def candidate_files(repo: Path) -> list[Path]:
    """Tracked files plus untracked files that .gitignore does not exclude."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    return [repo / p.decode() for p in out.split(b"\0") if p]


def find_secrets(paths: list[Path]) -> list[str]:
    """`<path>: <kind>` for every file containing a plaintext secret marker."""
    hits = []
    for path in paths:
        if not path.is_file():
            continue  # deleted in the work tree, or intent-to-add placeholder
        hits += [f"{path}: {kind}" for kind in secrets_in(path.read_bytes())]
    return hits


def test_repository_has_no_plaintext_secrets():
    hits = find_secrets(candidate_files(REPO))
    assert not hits, (
        "plaintext secrets found; remove them and keep secrets in clan vars (encrypted) instead:\n"
        + "\n".join(hits)
    )


@pytest.mark.parametrize("kind", ["openssh", "age"])
def test_scanner_detects_real_secrets(tmp_path, kind):
    """The scanner must catch what ssh-keygen and age-keygen really emit."""
    if kind == "openssh":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
        secret = tmp_path / "k"
    else:
        if subprocess.run(["which", "age-keygen"], capture_output=True, check=False).returncode:
            pytest.skip("age-keygen not installed")
        secret = tmp_path / "age.txt"
        subprocess.run(["age-keygen", "-o", str(secret)], capture_output=True, check=True)
    assert find_secrets([secret]), f"scanner missed a real {kind} secret"
    public = tmp_path / "public.txt"
    public.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI public key only\n")
    assert not find_secrets([public])


def test_scanner_ignores_placeholders_but_not_tampered_real_keys(tmp_path):
    """Scrubber fixtures (short bodies, bad checksums) are not secrets; a real age key
    with one character changed fails its checksum and is not reported either, while
    the original is."""
    fixture = tmp_path / "fixture.py"
    fixture.write_text(
        "AGE-" + "SECRET-KEY-1" + "Q" * 58 + "\n" + _BEGIN + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n" + _END + "OPENSSH PRIVATE KEY-----\n"
    )
    assert not find_secrets([fixture])
    if subprocess.run(["which", "age-keygen"], capture_output=True, check=False).returncode:
        pytest.skip("age-keygen not installed")
    key = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True).stdout
    (line,) = [l for l in key.splitlines() if l.startswith("AGE-")]
    real = tmp_path / "real.txt"
    real.write_text(line)
    assert find_secrets([real]) == [f"{real}: age secret key"]
    tampered = tmp_path / "tampered.txt"
    tampered.write_text(line[:-1] + ("Q" if line[-1] != "Q" else "P"))
    assert not find_secrets([tampered])
