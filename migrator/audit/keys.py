"""Ed25519 keys: load the signing key from MIGRATOR_SIGNING_KEY, load a verifier's public key, make a pair.

Messages never include the key material: a value that fails to parse may still be most of a secret.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from migrator.errors import UsageError
from migrator.variables import SIGNING_KEY_VARIABLE

_PEM_START = "-----BEGIN"
_KEYGEN_HINT = "make one with `migrator audit keygen`"


def generate_keypair() -> tuple[bytes, bytes]:
    """A new (private PEM in PKCS8, public PEM in SubjectPublicKeyInfo) pair, neither encrypted."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def load_signing_key(value: str) -> bytes:
    """The PEM of the Ed25519 private key that MIGRATOR_SIGNING_KEY holds, inline or as a file path."""
    text = value.strip()
    if text.startswith(_PEM_START):
        # CI secret stores often flatten newlines to a literal "\n"; PEM needs the real ones.
        if "\n" not in text:
            text = text.replace("\\n", "\n")
        pem = text.strip().encode() + b"\n"
    else:
        path = Path(text).expanduser()
        if not text or not path.is_file():
            raise UsageError(
                f"{SIGNING_KEY_VARIABLE} is neither a PEM private key nor the path of a key file; {_KEYGEN_HINT}"
            )
        try:
            pem = path.read_bytes()
        except OSError as error:
            raise UsageError(f"{SIGNING_KEY_VARIABLE}: cannot read {path}: {error.strerror}") from None
    signing_key(pem)  # refuse a key we could not sign with now, not at the end of the run
    return pem


def signing_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise UsageError(f"{SIGNING_KEY_VARIABLE}: the key is encrypted; give an unencrypted PKCS8 key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise UsageError(f"{SIGNING_KEY_VARIABLE}: not a readable PEM private key; {_KEYGEN_HINT}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{SIGNING_KEY_VARIABLE}: a {_kind(key)} key; receipts are signed with Ed25519")
    return key


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(source: Path | bytes) -> Ed25519PublicKey:
    """A verifier's Ed25519 public key: a PEM file, PEM bytes, or the 32 raw bytes."""
    data = _read_key_file(source) if isinstance(source, Path) else source
    if len(data) == 32 and not data.startswith(_PEM_START.encode()):
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise UsageError("the public key is not a readable PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"the public key is a {_kind(key)} key; receipts are signed with Ed25519")
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read the public key {path}: {error.strerror}") from None


def _kind(key: object) -> str:
    return type(key).__name__.removeprefix("_").removesuffix("PrivateKey").removesuffix("PublicKey")
