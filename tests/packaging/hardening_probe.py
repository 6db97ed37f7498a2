"""Run by selftest.sh under a copy of micboardd.service (same hardening, Type=oneshot).

Exercises what MemoryDenyWriteExecute=, SystemCallFilter= and RestrictAddressFamilies= could
break in the daemon's libraries: libffi closures (ctypes), uvloop, msgspec, httptools,
interface listing over netlink (ifaddr) and a zeroconf instance on loopback (the container
has a private network, so nothing leaves it).
"""

import sys

sys.path.insert(0, "/usr/lib/micboardd/site-packages")

import ctypes
import mmap
import os

import httptools  # noqa: F401
import ifaddr
import msgspec
import uvloop
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf


async def _zeroconf() -> None:
    zc = AsyncZeroconf(ip_version=IPVersion.V4Only, interfaces=["127.0.0.1"])
    await zc.async_close()


def _wx_is_refused() -> bool:
    """Proof that the probe really runs under MemoryDenyWriteExecute=yes."""
    prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
    try:
        mmap.mmap(-1, mmap.PAGESIZE, prot=prot).close()
    except PermissionError:
        return True
    return False


def main() -> None:
    assert os.getuid() != 0, "probe runs as root: not under the unit's DynamicUser="
    assert _wx_is_refused(), "writable+executable memory allowed: hardening not applied"
    callback = ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)
    assert callback() == 7
    assert msgspec.json.decode(msgspec.json.encode({"a": 1})) == {"a": 1}
    adapters = list(ifaddr.get_adapters())
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials:  # LoadCredential= hands root-only files to the dynamic user
        with open(os.path.join(credentials, "probe.key"), encoding="ascii") as fh:
            assert fh.read().strip() == "probe-secret"
    uvloop.run(_zeroconf())
    print(
        f"hardening probe ok: ctypes, msgspec, uvloop, zeroconf, credential {bool(credentials)};"
        f" {len(adapters)} interfaces"
    )


main()
