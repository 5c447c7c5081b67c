"""Test helpers shipped with the package (a loopback Hub server for push/load round trips)."""

from .hub_server import DUMMY_TOKEN, DUMMY_USER, HubServer, HubSession, hub_environment

__all__ = ["DUMMY_TOKEN", "DUMMY_USER", "HubServer", "HubSession", "hub_environment"]
