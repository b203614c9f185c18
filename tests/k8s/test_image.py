"""The image and the ./govmail bootstrap install the same pinned dependency set, runtime only, as a non-root user."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from services.platform.lockfile import canonical, runtime_closure

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
BOOTSTRAP = (ROOT / "govmail").read_text(encoding="utf-8")


def pip_install_lines(text: str) -> list[str]:
    # Join continuation lines first so that a RUN spread over several lines reads as one command.
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line for line in joined.splitlines() if "pip install" in line and "--upgrade pip" not in line]


def constraint_files(line: str) -> set[str]:
    return {Path(name.strip('"')).name for name in re.findall(r"-c\s+(\S+)", line)}


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            found[canonical(name)] = version
    return found


def test_dockerfile_and_bootstrap_install_with_the_same_constraints_file():
    docker_installs = pip_install_lines(DOCKERFILE)
    bootstrap_installs = pip_install_lines(BOOTSTRAP)
    assert docker_installs and bootstrap_installs
    for line in docker_installs + bootstrap_installs:
        assert constraint_files(line) == {"constraints.txt"}, line
    assert re.search(r"^COPY constraints\.txt ", DOCKERFILE, re.M)


def test_image_installs_runtime_dependencies_only_without_cache():
    (install,) = pip_install_lines(DOCKERFILE)
    assert "--no-cache-dir" in install
    # The project itself, never its [test] extra or an editable checkout.
    assert re.search(r"\s\.\s*$", install) and "[test]" not in install and " -e " not in install
    assert "PYTHONDONTWRITEBYTECODE=1" in DOCKERFILE


def test_constraints_pin_every_runtime_dependency_and_no_test_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    direct = {canonical(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]) for dep in project["dependencies"]}
    test_only = {canonical(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]) for dep in project["optional-dependencies"]["test"]}
    pinned = pins()
    assert direct - set(pinned) == set(), "regenerate: python -m services.platform.lockfile > constraints.txt"
    assert (test_only - direct) & set(pinned) == set()


def test_constraints_match_the_runtime_set_installed_here():
    # The venv the tests run in was installed with these constraints, so the closure is the same set.
    assert pins() == runtime_closure()


def test_base_image_is_a_fixed_python_311_slim_tag_and_the_user_is_not_root():
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1))
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["govmail"\]$', DOCKERFILE, re.M)
