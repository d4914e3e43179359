"""Print pyproject.toml's runtime dependencies, one per line, for `pip install -r`.

The image installs exactly these (no dev extras), so it cannot drift from pyproject.toml;
tests/deploy/test_dockerfile.py checks that the Dockerfile installs through this script.
"""

import sys
import tomllib
from pathlib import Path


def runtime_requirements(pyproject: Path) -> list[str]:
    with pyproject.open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")
    print("\n".join(runtime_requirements(path)))
