"""A throwaway local certificate authority and server certificate for the HTTPS Dropbox API surface."""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

# Names every local client may use to reach a server bound on this machine.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


@dataclass
class LocalTLS:
    """A CA made at start-up and a certificate it signed, as PEM files in a private temporary folder.

    Clients trust `ca_file`; the server loads `cert_file` and `key_file`. `close()` deletes the
    folder; it also runs at interpreter exit, so an abrupt stop leaves nothing behind. A `ca_file`
    given to `create` (`serve --dropbox-ca-file`) is where the CA is written instead, so that
    clients keep one path across restarts: it holds only the CA's public certificate, and is left
    in place at the end, to be replaced at the next start.
    """

    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, host: str = "127.0.0.1", ca_file: Path | None = None) -> LocalTLS:
        """Raises OSError when `ca_file` cannot be written (before anything else is made)."""
        pinned = ca_file.absolute() if ca_file is not None else None
        ca = trustme.CA(organization_name="hub-emulator local test CA")
        if pinned is not None:
            write_replacing(pinned, ca.cert_pem.bytes())
        cert = ca.issue_cert(*certificate_names(host), common_name="hub-emulator Dropbox API")
        directory = Path(tempfile.mkdtemp(prefix="hub-emulator-tls-"))
        tls = cls(directory, pinned or directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
        if pinned is None:
            ca.cert_pem.write_to_path(tls.ca_file)
        cert.private_key_pem.write_to_path(tls.key_file)
        for index, blob in enumerate(cert.cert_chain_pems):
            blob.write_to_path(tls.cert_file, append=index > 0)
        atexit.register(tls.close)
        return tls

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        atexit.unregister(self.close)


def write_replacing(path: Path, data: bytes) -> None:
    """Write the whole file, then rename it over `path`: a client never reads half a certificate."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def certificate_names(host: str) -> list[str]:
    """The local names, plus the bound host when it is one specific name or address."""
    names = list(LOCAL_NAMES)
    bare = host.strip("[]")
    if bare not in WILDCARD_HOSTS and bare not in names:
        names.append(bare)
    return names


def client_host(host: str, port: int) -> str:
    """`host:port` as a local client should dial it: a wildcard bind is reached through the loopback."""
    bare = host.strip("[]")
    if bare in ("", "0.0.0.0"):
        bare = "127.0.0.1"
    elif bare == "::":
        bare = "::1"
    try:
        is_v6 = ipaddress.ip_address(bare).version == 6
    except ValueError:
        is_v6 = False
    return f"[{bare}]:{port}" if is_v6 else f"{bare}:{port}"
