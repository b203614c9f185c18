"""A small Kustomize renderer for k8s/: resources, components, JSON 6902 patches with targets, namespace, images.

The real `kustomize` binary is not on PyPI; this renderer implements exactly the subset our
kustomizations use and refuses any other field, so an overlay cannot silently mean something else
here than in `kubectl apply -k`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN_FIELDS = {"apiVersion", "kind", "resources", "components", "patches", "namespace", "images"}
CLUSTER_SCOPED = {"Namespace"}


class KustomizeError(Exception):
    """The kustomization uses something this renderer does not implement, or a patch does not apply."""


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_operation(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """One RFC 6902 operation (add, remove, replace); the parent path must exist, as the RFC says."""
    op, path = operation["op"], operation["path"]
    tokens = [unescape(t) for t in path.split("/")[1:]]
    parent: Any = document
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, copy.deepcopy(operation["value"]))
        elif op == "replace":
            parent[index] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del parent[index]
        else:
            raise KustomizeError(f"unsupported op {op!r}")
        return
    if op in ("replace", "remove") and last not in parent:
        raise KustomizeError(f"{op} {path}: no such member")
    if op in ("add", "replace"):
        parent[last] = copy.deepcopy(operation["value"])
    elif op == "remove":
        del parent[last]
    else:
        raise KustomizeError(f"unsupported op {op!r}")


def matches(resource: dict[str, Any], target: dict[str, str]) -> bool:
    unknown = set(target) - {"kind", "name"}
    if unknown:
        raise KustomizeError(f"patch target fields {sorted(unknown)} are not supported")
    return resource["kind"] == target["kind"] and ("name" not in target or resource["metadata"]["name"] == target["name"])


def apply_patches(resources: list[dict[str, Any]], patches: list[dict[str, Any]], where: Path) -> None:
    for patch in patches:
        if set(patch) != {"target", "patch"}:
            raise KustomizeError(f"{where}: only inline JSON 6902 patches with a target are supported")
        targets = [r for r in resources if matches(r, patch["target"])]
        if not targets:
            raise KustomizeError(f"{where}: patch target {patch['target']} matches nothing")
        for resource in targets:
            for operation in yaml.safe_load(patch["patch"]):
                try:
                    apply_operation(resource, operation)
                except (KeyError, IndexError, ValueError) as exc:
                    raise KustomizeError(f"{where}: {operation['op']} {operation['path']} on "
                                         f"{resource['kind']}/{resource['metadata']['name']}: {exc!r}") from exc


def set_images(node: Any, images: list[dict[str, str]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    for image in images:
                        name = container.get("image", "").split("@")[0].rsplit(":", 1)[0]
                        if name == image["name"]:
                            container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
            set_images(value, images)
    elif isinstance(node, list):
        for item in node:
            set_images(item, images)


def render(folder: Path, component: bool = False) -> list[dict[str, Any]]:
    """The resources a kustomization folder produces, in order."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{folder}: fields {sorted(unknown)} are not supported by this renderer")
    expected_kind = "Component" if component else "Kustomization"
    if kustomization.get("kind") != expected_kind:
        raise KustomizeError(f"{folder}: expected kind {expected_kind}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        resources += render(path) if path.is_dir() else load_yaml_documents(path)
    for entry in kustomization.get("components", []):
        component_folder = (folder / entry).resolve()
        component_resources = render_component(component_folder, resources)
        resources += component_resources
    apply_patches(resources, kustomization.get("patches", []), folder)
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    set_images(resources, kustomization.get("images", []))
    return resources


def render_component(folder: Path, accumulated: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Component adds its resources and patches what was accumulated so far (its own resources included)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    if kustomization.get("kind") != "Component" or set(kustomization) - {"apiVersion", "kind", "resources", "patches"}:
        raise KustomizeError(f"{folder}: a Component here may only have resources and patches")
    added: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        added += load_yaml_documents((folder / entry).resolve())
    apply_patches(accumulated + added, kustomization.get("patches", []), folder)
    return added
