"""Loaded into the app under test (PYTHONPATH): records every connection or name lookup it attempts
that is not to this machine's loopback, in the file named by NETGUARD_LOG."""

import os
import socket

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")


def _note(what, target):
    host = target[0] if isinstance(target, tuple) else target
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if _LOG and isinstance(host, str) and not host.startswith(_LOCAL) and host not in ("", "::"):
        with open(_LOG, "a") as f:
            f.write(f"{what} {target!r}\n")


if _LOG:
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _note("connect", address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _note("connect", address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        _note("lookup", host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
