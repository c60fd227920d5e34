"""The throwaway cluster cleans up after itself, also when the code using it fails."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.postgres


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_cluster_is_local_and_gone_after_a_failure(pg_bindir):
    from tests.pg import throwaway_cluster

    with pytest.raises(RuntimeError, match="boom"), throwaway_cluster(pg_bindir) as c:
        root, port = c.root, c.port
        assert _listening(port)
        assert c.psql("SHOW listen_addresses") == "127.0.0.1"
        assert c.psql("SHOW unix_socket_directories") == str(c.socket_dir)
        raise RuntimeError("boom")
    assert not root.exists() and not _listening(port)
