"""Shared fixtures. The loopback Hub logic lives in `signclip_hf.testing.hub_server`; this file only wires it."""

import pytest

from signclip_hf.testing import HubServer, hub_environment


@pytest.fixture(scope="session")
def loopback_hub():
    """The `HubServer` (on 127.0.0.1, ephemeral port) shared by the whole test session."""
    with HubServer() as server:
        yield server


@pytest.fixture(scope="session")
def hub_server(loopback_hub):
    """The loopback Hub's endpoint URL, e.g. ``http://127.0.0.1:41234``."""
    return loopback_hub.url


@pytest.fixture
def hub_env(loopback_hub, tmp_path):
    """Point huggingface_hub/transformers/datasets at the loopback Hub (fresh caches under ``tmp_path``).

    Yields a `HubSession` (``.url``, ``.token``, ``.cache_dir``, ``.new_repo_id(name)``). Fails the test if
    the client tried to resolve a non-loopback host or hit a server bug (HTTP 500).
    """
    n_errors = len(loopback_hub.errors)
    with hub_environment(loopback_hub.url, cache_dir=tmp_path / "hf-cache") as session:
        yield session
    assert not session.blocked_hosts, f"client tried to reach non-loopback hosts: {session.blocked_hosts}"
    assert loopback_hub.errors[n_errors:] == [], "\n".join(loopback_hub.errors[n_errors:])
