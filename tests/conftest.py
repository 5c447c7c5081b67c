"""Shared fixtures. The loopback Hub logic lives in `fixtures.hub` (tests/fixtures/hub); this file only wires it."""

from pathlib import Path

import pytest

from fixtures.hub import HubServer, hub_environment


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


@pytest.fixture(scope="session")
def gloss_model(tmp_path_factory):
    """A tiny cosine-score SignCLIP briefly trained (seconds) on the bundled gesture clips numbered 000-014 of each signer and
    gloss, saved with its processor. Yields (model directory, held-out rows: clips 015-019, as metadata dicts)."""
    import csv

    from signclip_hf.sample_data import GESTURES_DIR

    from fixtures.tiny import tiny_model, tiny_processor, train_on_glosses

    rows = list(csv.DictReader((GESTURES_DIR / "metadata.csv").open()))
    number = {row["file"]: int(Path(row["file"]).stem) for row in rows}
    train = [row for row in rows if number[row["file"]] < 15]
    held_out = [row for row in rows if 15 <= number[row["file"]] < 20]
    model, processor = tiny_model(seed=0, score_type="cosine", projection_dim=32), tiny_processor()
    train_on_glosses(model, processor, [str(GESTURES_DIR / row["file"]) for row in train], [row["label"] for row in train])
    directory = tmp_path_factory.mktemp("gloss_model")
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory, held_out


@pytest.fixture(scope="session")
def plain_dir(tmp_path_factory):
    """A tiny model saved the standard way, `model.save_pretrained(d)` + `processor.save_pretrained(d)`: no
    `custom_pipelines`, no pipeline code (shared by the app and endpoint tests; never modified by them)."""
    from fixtures.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("plain") / "model", seed=3)
