"""Probe: is there an EW-DX speaking SSCv2 at this address, which model, may we use it?

For discovery and for adding by address (`HOST:443`): one short HTTPS conversation, nothing
recorded. `GET /api/ssc/version` without credentials says whether the box speaks SSCv2;
`GET /api/device/identity` (public too) gives the product, so the model and channel count;
then whether we hold a password for it. The probe never sends the password: anybody on the
LAN can announce `_ssc._udp` and answer like an EW-DX, so the password goes only to a
receiver the crew added or approved, whose session proves it ("refused the SSCv2 password"
is the session's error). Each way the probe can fail is an error whose message is ours,
never the peer's words, fit for the rejected list: "SSCv2 needs a password", "speaks SSC v1
(Legacy Mode)". The certificate is not pinned here: the session that follows pins the first
one it sees.
"""

from __future__ import annotations

from collections.abc import Callable

from micboardd.sennheiser.errors import NotSscv2, PasswordMissing
from micboardd.sennheiser.sscv2 import HTTPS_PORT
from micboardd.sennheiser.sscv2_client import CONNECT_TIMEOUT_S, Sscv2Client, host_port
from micboardd.sennheiser.sscv2_machine import IDENTITY_PATH, Sscv2Identity, identity_from
from micboardd.sennheiser.sscv2_trust import Password
from micboardd.tls.pinning import make_context

PasswordFor = Callable[[str, int], Password | None]


async def probe_sscv2(
    host: str,
    port: int = HTTPS_PORT,
    *,
    password_for: PasswordFor,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> Sscv2Identity:
    """What answers SSCv2 at host:port; raises `Sscv2Unavailable` (or `ConnectionFailed`)."""
    where = host_port(host, port)
    context = make_context(ca_file=None, pin=None)
    async with Sscv2Client(host, port, context, connect_timeout=connect_timeout) as client:
        version = await client.version()
        if not version.speaks_sscv2:
            raise NotSscv2(
                f"{where} answers HTTPS but does not speak SSCv2 (Legacy Mode on?): "
                "monitor it on port 45"
            )
        identity = identity_from(version, await client.get(IDENTITY_PATH, auth=False))
        if password_for(host, port) is None:
            raise PasswordMissing(
                f"{identity.model} at {where}: SSCv2 needs a password: set the receiver's "
                "third-party password (Edit > Settings, or sscv2_password_file)"
            )
        return identity
