"""Print pyproject.toml's runtime dependencies, one per line.

The image installs requirements.lock (`make lock` compiles it from these, with hashes);
tests/deploy/test_dockerfile.py checks that the lock pins every one of them and no dev one.
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
