"""Sennheiser wireless receivers: the pure codecs of their three protocols.

* `ssc1` - Sound Control Protocol v1, JSON over UDP 45 (EW-DX EM 2 / EM 2 Dante / EM 4 Dante,
  firmware < 4 or 4.x in Legacy Mode);
* `sscv2` - SSCv2, HTTPS with Server-Sent Events (EW-DX firmware >= 4.0);
* `mcp` - Media Control Protocol, text over UDP 53212 (ew G3 >= 1.7, G4, 2000);
* `values` - the units and readings the EW-DX codecs share; `errors` - their error types;
* `sscv2_client`, `sscv2_machine`, `sscv2_probe`, `sscv2_trust` - an SSCv2 receiver kept
  subscribed (HTTPS, pinned certificate, Basic auth, event stream) feeding a `ReadingSink`,
  the probe that tells what answers, and where pins and passwords are kept.

The sessions: `session` (what both datagram protocols share, on `sources/session.py`),
`ssc1_machine`, `mcp_machine`, over `link` (UDP sockets; the shared one on port 53212).
`sources/protocols.py` says which machine speaks to which address. Units, mappings and every
[U] reading: docs/protocol.md "Sennheiser".
"""
