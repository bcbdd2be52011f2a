"""Encryption of backup files: AES-256-GCM with a key from a file or an environment variable.

An encrypted file is ``MAGIC``, a 12-byte nonce, then the ciphertext with its tag. A key is
32 bytes, given raw or as 64 hexadecimal digits.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.backup.tools import BackupError

__all__ = ["KEY_VARIABLE", "decrypt_file", "encrypt_file", "load_key"]

KEY_VARIABLE = "CODEANT_BACKUP_KEY"
MAGIC = b"CODEANT-BACKUP-AESGCM-1\n"
_NONCE = 12


def _parse(raw: bytes, source: str) -> bytes:
    text = raw.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(raw) == 32:
        return raw
    raise BackupError(f"{source}: a backup key must be 32 bytes or 64 hexadecimal digits")


def load_key(key_file: Path | None) -> bytes | None:
    """The key from ``key_file``, else from ``$CODEANT_BACKUP_KEY``, else None."""
    if key_file is not None:
        try:
            return _parse(Path(key_file).read_bytes(), str(key_file))
        except OSError as exc:
            raise BackupError(f"cannot read the key file {key_file}: {exc.strerror}") from exc
    value = os.environ.get(KEY_VARIABLE, "")
    return _parse(value.encode(), KEY_VARIABLE) if value else None


def encrypt_file(source: Path, target: Path, key: bytes) -> None:
    """Write ``source`` encrypted with ``key`` to ``target``."""
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, source.read_bytes(), MAGIC)
    with target.open("wb") as out:
        out.write(MAGIC + nonce + sealed)


def decrypt_file(source: Path, target: Path, key: bytes) -> None:
    """Write ``source`` decrypted with ``key`` to ``target``; BackupError if the key is
    wrong or the file was altered."""
    data = source.read_bytes()
    if not data.startswith(MAGIC):
        raise BackupError(f"{source.name} is not an encrypted backup")
    body = data[len(MAGIC) :]
    try:
        plain = AESGCM(key).decrypt(body[:_NONCE], body[_NONCE:], MAGIC)
    except InvalidTag as exc:
        raise BackupError(f"cannot decrypt {source.name}: wrong key or altered file") from exc
    target.write_bytes(plain)
