"""Renders every overlay of k8s/ once per session for the manifest tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.registry import ALL_TOPICS
from tests.k8s.kustomize import render

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "province", "province-hpa")

# Names the registry uses for producers/consumers that are not Deployments of their own:
# the spool reconciler runs inside ingress; "operators" are people reading the DLQs.
REGISTRY_ROLE_TO_DEPLOYMENT = {"spool-reconciler": "ingress", "operators": None}


def deployment_of(role: str) -> str | None:
    return REGISTRY_ROLE_TO_DEPLOYMENT.get(role, role)


def platform_services() -> set[str]:
    """Every long-running service, as the topic registry knows them (producers and consumers)."""
    roles = {role for spec in ALL_TOPICS.values() for role in (*spec.producers, *spec.consumers)}
    return {name for name in map(deployment_of, roles) if name}


def find(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]


def one(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(resources, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(ROOT / "k8s" / "overlays" / overlay) for overlay in OVERLAYS}
