"""Helpers for the framework integration tests: nothing is downloaded."""

from __future__ import annotations

import pytest

OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The Hugging Face libraries never reach a hub, here and in the `provenance` processes started."""
    for name in OFFLINE:
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
