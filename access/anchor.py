"""Anchoring the audit trail outside the database, so that whoever can write the database still
cannot rewrite or shorten the trail unnoticed.

The hash chain (access.audit) shows an entry was changed only to someone who recomputes the
chain; with every later hash recomputed, or the last entries deleted and the head moved back,
it verifies again. Two things the database does not hold close that:

- **A MAC per entry.** HMAC-SHA256 (the `cryptography` library) over the entry's sequence number
  and chain hash, with a key read from a key file (`CHILDINDEX_AUDIT_KEY_FILE`), never from
  the database. An edited entry needs a new MAC, which needs the key. Each entry stores the id
  of the key that signed it, so rotation (`childindex audit new-key`) keeps old entries
  verifiable: the key file holds every key, the newest first, and only the newest signs.
- **Checkpoints of the head.** (sequence number, hash, first anchored entry), MACed, each in a
  file of its own in a directory outside the database (`CHILDINDEX_AUDIT_CHECKPOINT_DIR`),
  created under its own name only if that name is free (link(2)) and never rewritten;
  optionally also sent to syslog. Entries removed from the end leave the trail behind a
  checkpoint; a checkpointed entry rewritten (even with a valid MAC, by someone who had the
  key) no longer matches it.

Entries written before the trail was anchored have no MAC and verify by the chain alone; the
verification says how many. Once the trail is anchored (`audit_head.anchored_from`) an entry
cannot be appended without the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import secrets
import stat
import syslog
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from pydantic_settings import BaseSettings, SettingsConfigDict

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
KEY_BYTES = 32
CHECKPOINT_SUFFIX = ".checkpoint"


class AnchorError(ValueError):
    """A key file, checkpoint or checkpoint directory that cannot be used as it is."""


class AuditSettings(BaseSettings):
    """The audit trail's anchor, from CHILDINDEX_AUDIT_* variables."""

    model_config = SettingsConfigDict(env_prefix="CHILDINDEX_AUDIT_", extra="ignore")

    # The HMAC keys, one `<id> <base64 key>` a line, newest (signing) first. Readable by the
    # service's user only; not in the database, not in its backups.
    key_file: Path | None = None
    # Where checkpoints go: a directory the database's writers cannot rewrite.
    checkpoint_dir: Path | None = None
    # Also send each checkpoint to syslog (facility AUTHPRIV), e.g. to a central log host.
    checkpoint_syslog: bool = False
    # The service writes a checkpoint this often (0: only the nightly run and the command).
    checkpoint_minutes: int = 10


@dataclass(frozen=True)
class AuditKeys:
    """The key ring: (id, key) pairs, the signing key first."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise AnchorError("an audit key ring needs at least one key")

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def sign(self, message: bytes) -> tuple[str, str]:
        """(key id, hex MAC) of `message` under the signing key."""
        key_id, key = self.keys[0]
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(message)
        return key_id, mac.finalize().hex()

    def check(self, key_id: str, message: bytes, mac_hex: str) -> bool | None:
        """True if the MAC is right, False if not, None if the key id is not in the ring."""
        key = dict(self.keys).get(key_id)
        if key is None:
            return None
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(message)
        try:
            mac.verify(bytes.fromhex(mac_hex))  # constant time
        except (InvalidSignature, ValueError):
            return False
        return True


def entry_message(seq: int, entry_hash: str) -> bytes:
    # The chain hash covers the entry's content and, through prev_hash, everything before it.
    return f"childindex-audit-entry\n{seq}\n{entry_hash}".encode()


# -- key files --------------------------------------------------------------------------------------


def read_keys(path: Path) -> AuditKeys:
    """The key ring in `path`; AnchorError (naming the line, never a key) if it is not usable."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"audit key file {path} cannot be read ({type(exc).__name__})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AnchorError(f"audit key file {path} is open to other users: chmod 600 it")
    keys: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key_id, _, encoded = line.partition(" ")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            key = b""
        if not KEY_ID.match(key_id) or len(key) != KEY_BYTES:
            raise AnchorError(f"audit key file {path}, line {number}: expected '<id> <base64 of "
                              f"{KEY_BYTES} bytes>' with an id of 1 to 16 letters, digits, '-' or '_'")
        if key_id in dict(keys):
            raise AnchorError(f"audit key file {path}, line {number}: key id {key_id!r} used twice")
        keys.append((key_id, key))
    if not keys:
        raise AnchorError(f"audit key file {path} holds no key")
    return AuditKeys(tuple(keys))


def add_key(path: Path, *, now: dt.datetime | None = None) -> str:
    """A new signing key at the top of `path` (created, mode 600, if missing); its id. Older
    keys stay below it so that the entries they signed still verify."""
    old = read_keys(path).keys if path.exists() else ()
    base = (now or dt.datetime.now(dt.UTC)).strftime("k%Y%m%d")
    key_id = next(f"{base}{suffix}" for suffix in ("", *(f"-{n}" for n in range(2, 1000)))
                  if f"{base}{suffix}" not in dict(old))
    lines = [f"{key_id} {base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"]
    lines += [f"{i} {base64.b64encode(k).decode()}" for i, k in old]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write("# childindex audit keys: newest (signing) first; keep every old key\n")
        out.write("\n".join(lines) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    return key_id


# -- the keys this process signs with ----------------------------------------------------------------

_UNSET = object()
_active: AuditKeys | object | None = _UNSET


def use_keys(keys: AuditKeys | None) -> None:
    """Sign this process's appends with `keys` (None: no MAC), instead of the key file named by
    the environment (the demo and tests)."""
    global _active
    _active = keys


def active_keys() -> AuditKeys | None:
    """The keys set by `use_keys`, else those in CHILDINDEX_AUDIT_KEY_FILE (read once), else None."""
    global _active
    if _active is _UNSET:
        path = AuditSettings().key_file
        _active = read_keys(path) if path else None
    return _active  # type: ignore[return-value]


# -- checkpoints --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    entry_hash: str
    anchored_from: int | None  # the first entry with a MAC, when the checkpoint was written
    at: str  # when it was written, ISO 8601 UTC
    key_id: str
    mac: str

    def message(self) -> bytes:
        return (f"childindex-audit-checkpoint\n{self.seq}\n{self.entry_hash}\n"
                f"{self.anchored_from or 0}\n{self.at}").encode()

    @property
    def name(self) -> str:
        return f"{self.seq:012d}{CHECKPOINT_SUFFIX}"


def make_checkpoint(keys: AuditKeys, seq: int, entry_hash: str, anchored_from: int | None,
                    now: dt.datetime) -> Checkpoint:
    unsigned = Checkpoint(seq, entry_hash, anchored_from, now.astimezone(dt.UTC).isoformat(), "", "")
    key_id, mac = keys.sign(unsigned.message())
    return Checkpoint(seq, entry_hash, anchored_from, unsigned.at, key_id, mac)


def write_checkpoint(directory: Path, checkpoint: Checkpoint, *, to_syslog: bool = False) -> bool:
    """Create the checkpoint's file (never overwriting one); False if that entry was already
    checkpointed with the same hash. AnchorError if it was checkpointed with another."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / checkpoint.name
    # Written whole under a temporary name, then linked to its own: link() fails if the name
    # exists, so a checkpoint is never overwritten and never seen half-written (several
    # workers may checkpoint the same head at once).
    partial = directory / f".{checkpoint.name}.{secrets.token_hex(8)}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(json.dumps(asdict(checkpoint), sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(partial, path)
    except FileExistsError:
        existing = _parse(path)
        if existing.seq == checkpoint.seq and existing.entry_hash == checkpoint.entry_hash:
            return False
        raise AnchorError(f"checkpoint {path.name} already records entry {checkpoint.seq} with "
                          "another hash: the trail has been rewritten") from None
    finally:
        partial.unlink(missing_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the new name survives a crash too
    finally:
        os.close(dir_fd)
    if to_syslog:
        syslog.openlog("childindex-audit", 0, syslog.LOG_AUTHPRIV)
        syslog.syslog(syslog.LOG_NOTICE, "checkpoint " + json.dumps(asdict(checkpoint), sort_keys=True))
    return True


def _parse(path: Path) -> Checkpoint:
    try:
        data = json.loads(path.read_text(encoding="ascii"))
        return Checkpoint(seq=int(data["seq"]), entry_hash=str(data["entry_hash"]),
                          anchored_from=int(data["anchored_from"]) if data["anchored_from"] else None,
                          at=str(data["at"]), key_id=str(data["key_id"]), mac=str(data["mac"]))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise AnchorError(f"checkpoint {path.name} cannot be read ({type(exc).__name__})") from None


def read_checkpoints(directory: Path, keys: AuditKeys | None) -> list[Checkpoint]:
    """Every checkpoint in `directory`, oldest first, each MAC checked; AnchorError naming the
    first that is unreadable, misnamed or forged."""
    if not directory.is_dir():
        raise AnchorError(f"checkpoint directory {directory} does not exist")
    return read_checkpoints_named(sorted(directory.glob(f"*{CHECKPOINT_SUFFIX}")), keys)


def read_checkpoints_named(paths: Sequence[Path], keys: AuditKeys | None) -> list[Checkpoint]:
    if keys is None:
        raise AnchorError("checkpoints cannot be checked without the audit key file "
                          "(CHILDINDEX_AUDIT_KEY_FILE)")
    found: list[Checkpoint] = []
    for path in paths:
        checkpoint = _parse(path)
        if path.name != checkpoint.name:
            raise AnchorError(f"checkpoint {path.name} records entry {checkpoint.seq}: renamed")
        verdict = keys.check(checkpoint.key_id, checkpoint.message(), checkpoint.mac)
        if verdict is None:
            raise AnchorError(f"checkpoint {path.name} was signed by key {checkpoint.key_id!r}, "
                              "which the key file does not hold")
        if not verdict:
            raise AnchorError(f"checkpoint {path.name}: its MAC does not match (forged or altered)")
        found.append(checkpoint)
    return found


def latest(checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: c.seq, default=None)
