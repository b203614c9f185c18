"""Every setting the manifests pass to the services is a real field of a settings class (a typo is silently ignored)."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from pydantic_settings import BaseSettings

from tests.k8s.conftest import ROOT, find, one

# Settings the manifests already use whose fields come from branches merged together with this one
# (delivery API and DKIM, webmail, lifecycle admin auth). The last test below fails once such a field
# exists, so that this list empties itself at the merge instead of hiding a typo later.
PREFIXES = ("GOVMAIL_", "INGRESS_", "SCANNER_", "DELIVERY_", "LIFECYCLE_", "ANALYTICS_", "WEBMAIL_")


def known_settings() -> set[str]:
    names = set()
    for path in sorted((ROOT / "services").glob("*/settings.py")):
        module = importlib.import_module(f"services.{path.parent.name}.settings")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseSettings) and cls is not BaseSettings and cls.__module__ == module.__name__:
                prefix = cls.model_config.get("env_prefix", "")
                names |= {(prefix + field).upper() for field in cls.model_fields}
    # Read by the scanner's Bayes check from the environment directly (services/scanner/classifier/training.py).
    names.add("SCANNER_BAYES_MODEL")
    return names


def passed_settings(rendered: list[dict[str, Any]]) -> set[str]:
    names = set(one(rendered, "ConfigMap", "govmail-config")["data"])
    for deployment in find(rendered, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            names |= {e["name"] for e in container.get("env", [])}
    return {name for name in names if name.startswith(PREFIXES)}


def test_every_setting_in_the_manifests_is_a_field_of_a_settings_class(rendered):
    unknown = passed_settings(rendered["province"]) - known_settings()
    assert unknown == set(), f"no settings field reads {sorted(unknown)}"


def test_the_ports_the_manifests_open_are_the_ports_the_settings_name(rendered):
    config = one(rendered["province"], "ConfigMap", "govmail-config")["data"]
    base = int(config["GOVMAIL_HEALTH_PORT_BASE"])
    expected = {
        "ingress": {"http": base + 2, "smtp": int(config["GOVMAIL_SMTP_PORT"]),
                    "submission": int(config["GOVMAIL_SUBMISSION_PORT"])},
        "scanner": {"http": base + 0},
        "delivery": {"http": int(config["GOVMAIL_DELIVERY_PORT"]), "health": base + 1},
        "lifecycle": {"http": int(config["GOVMAIL_ADMIN_PORT"])},
        "analytics": {"http": int(config["GOVMAIL_ANALYTICS_PORT"])},
        "webmail": {"http": int(config["GOVMAIL_WEBMAIL_PORT"])},
    }
    for name, ports in expected.items():
        container = one(rendered["province"], "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == ports, name
    # Unprivileged containers cannot bind below 1024: the Service maps 25 and 587 onto these.
    assert all(port > 1024 for ports in expected.values() for port in ports.values())
    assert re.fullmatch(r"0\.0\.0\.0|::", config["GOVMAIL_HOST"])
