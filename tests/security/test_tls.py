"""Optional HTTPS with the operator's certificate, and the key file's permissions."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx

from ..conftest import DaemonFactory
from ..helpers import wait_for
from .admin import ADMIN_PASSWORD, set_secret

_LISTENING = re.compile(r"listening on (https?)://[\d.]+:(\d+)")
OPENSSL_REQ = (
    *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
    *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
)


def self_signed(where: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    # Never a skip: the fake System API needs it too, and CI installs it.
    assert openssl is not None, "openssl is needed to make a test certificate"
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, *OPENSSL_REQ, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key.chmod(0o600)
    return cert, key


def test_a_key_file_others_can_read_is_reported(make_daemon: DaemonFactory, tmp_path: Path) -> None:
    key = tmp_path / "ssapi.key"
    key.write_text("not really a key\n")
    key.chmod(0o644)
    d = make_daemon("--ssapi-key-file", str(key))
    wait_for(lambda: "can be read by other users" in d.log, 5, "the warning")
    assert "not really a key" not in d.log


async def test_https_with_the_configured_certificate(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    d = make_daemon("--tls-cert-file", str(cert), "--tls-key-file", str(key), wait=False)

    def listening() -> re.Match[str] | None:
        return next((m for line in d.lines if (m := _LISTENING.search(line))), None)

    found = wait_for(listening, 20, "the daemon to listen")
    assert found is not None
    await set_secret(d.state_dir)
    context = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{found.group(2)}"
    async with httpx.AsyncClient(base_url=url, verify=context, timeout=10) as c:
        r = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert (await c.get("/")).headers["x-frame-options"] == "DENY"
