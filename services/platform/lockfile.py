"""`python -m services.platform.lockfile > constraints.txt`: pin govmail's runtime dependencies as installed here."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys

from packaging.requirements import Requirement

HEADER = """\
# Exact versions of govmail's runtime dependencies (test tools are not here), used by both the
# ./govmail bootstrap and the Dockerfile (`pip install -c constraints.txt …`), so both install the
# same set. Regenerate after changing dependencies in pyproject.toml, from an up-to-date venv:
#   .venv/bin/python -m services.platform.lockfile > constraints.txt
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = "govmail") -> dict[str, str]:
    """Every installed distribution `root` needs at run time (extras it asks for included), with its version."""
    pinned: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while todo:
        name, extras = todo.pop()
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            # A requirement behind `extra == "test"` is only wanted when that extra was asked for.
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in (extras or ("",))
            )
            key = canonical(requirement.name)
            if not wanted or key in pinned:
                continue
            try:
                pinned[key] = metadata.distribution(requirement.name).version
            except metadata.PackageNotFoundError:
                continue  # a marker for another platform or Python: not needed here
            todo.append((requirement.name, tuple(requirement.extras)))
    return pinned


def main() -> int:
    sys.stdout.write(HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(runtime_closure().items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
