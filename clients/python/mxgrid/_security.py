"""How the client's channels authenticate: plaintext, TLS, mutual TLS and bearer tokens, as
the servers' --tls_cert/--tls_key/--tls_ca/--auth_token_file set them up
(services/common/security.h).

Settings come from ``mxgrid.connect(..., security=Security(...))`` or the environment:

- ``MXGRID_TLS_CA``: PEM CA certificates that signed the servers' certificates; TLS is on
  when it (or ``MXGRID_TLS_CERT``) is set.
- ``MXGRID_TLS_CERT`` and ``MXGRID_TLS_KEY``: this client's certificate and key, for servers
  that require client certificates (mutual TLS).
- ``MXGRID_TOKEN_FILE`` (re-read when it changes, so tokens rotate) or ``MXGRID_TOKEN``: the
  bearer token sent as ``authorization: Bearer <token>``. Needs TLS.
- ``MXGRID_TLS_SERVER_NAME``: the name to verify in the servers' certificates when it differs
  from the host the client dials (e.g. dialing an IP).

Files are read when a channel is made; a channel made later (e.g. after a server restart)
reads them again, so rotated certificates are picked up.
"""
import os
import threading

import grpc

from .base import MXNetError


def _read(path):
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise MXNetError("cannot read %s: %s" % (path, err.strerror)) from None


class _TokenPlugin(grpc.AuthMetadataPlugin):
    """Sends the token, re-reading its file when the file changes."""

    def __init__(self, token, token_file):
        self._token = token
        self._file = token_file
        self._stamp = None
        self._lock = threading.Lock()

    def _current(self):
        if not self._file:
            return self._token
        with self._lock:
            try:
                st = os.stat(self._file)
                stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                if stamp != self._stamp:
                    lines = [ln.strip() for ln in _read(self._file).decode().splitlines()]
                    tokens = [ln for ln in lines if ln and not ln.startswith("#")]
                    if tokens:
                        self._token, self._stamp = tokens[0], stamp
            except (OSError, MXNetError):
                pass  # keep the token read before: a half-written update must not break calls
            return self._token

    def __call__(self, context, callback):
        token = self._current()
        if token is None:
            callback((), MXNetError("no bearer token in %s" % self._file))
        else:
            callback((("authorization", "Bearer " + token),), None)


class Security:
    """TLS material and token for the client's channels; all optional (plaintext)."""

    def __init__(self, ca=None, cert=None, key=None, token=None, token_file=None,
                 server_name=None):
        if bool(cert) != bool(key):
            raise MXNetError("a client certificate needs its key: set both cert and key "
                             "(MXGRID_TLS_CERT, MXGRID_TLS_KEY) or neither")
        self.ca, self.cert, self.key = ca, cert, key
        self.token, self.token_file, self.server_name = token, token_file, server_name
        if (token or token_file) and not self.tls:
            raise MXNetError("a bearer token needs TLS (set MXGRID_TLS_CA): gRPC sends no "
                             "token over plaintext")
        # One plugin for every channel: it re-reads the token file only when it changes.
        self._tokens = _TokenPlugin(token, token_file) if (token or token_file) else None
        if token_file and self._tokens._current() is None:
            raise MXNetError("token file %s holds no token" % token_file)

    @classmethod
    def from_env(cls):
        env = os.environ.get
        return cls(ca=env("MXGRID_TLS_CA") or None, cert=env("MXGRID_TLS_CERT") or None,
                   key=env("MXGRID_TLS_KEY") or None, token=env("MXGRID_TOKEN") or None,
                   token_file=env("MXGRID_TOKEN_FILE") or None,
                   server_name=env("MXGRID_TLS_SERVER_NAME") or None)

    @property
    def tls(self):
        return bool(self.ca or self.cert)

    def channel(self, address, options):
        """A channel to ``address`` with these settings and the given gRPC options."""
        if not self.tls:
            return grpc.insecure_channel(address, options=options)
        credentials = grpc.ssl_channel_credentials(root_certificates=_read(self.ca),
                                                   private_key=_read(self.key),
                                                   certificate_chain=_read(self.cert))
        if self._tokens is not None:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.metadata_call_credentials(self._tokens))
        options = list(options)
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return grpc.secure_channel(address, credentials, options=options)
