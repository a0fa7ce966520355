"""Check a built wheel before publishing: ``auditwheel show`` finds it compatible with a glibc no
newer than ``--max-glibc``, its file name carries that manylinux tag and ``abi3``, and it ships the
LICENSE.

Usage: ``python scripts/check_wheel.py --max-glibc 2.28 dist/atb_prediction-*.whl``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from pathlib import Path

_CONSISTENT = re.compile(r'consistent with the following platform tag:\s*"manylinux_2_(\d+)_')
_NAME_TAG = re.compile(r"-(?:cp\d+)-abi3-((?:manylinux_2_\d+_\w+\.?)+)\.whl$")


def check(wheel: Path, max_glibc_minor: int) -> list[str]:
    """The problems found with ``wheel``; empty when it may be published."""
    problems = []
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    print(shown.stdout.strip())
    text = " ".join(shown.stdout.split())
    match = _CONSISTENT.search(text)
    if shown.returncode != 0 or match is None:
        problems.append(f"auditwheel show found no manylinux tag:\n{shown.stdout}{shown.stderr}")
    elif int(match.group(1)) > max_glibc_minor:
        problems.append(f"needs glibc 2.{match.group(1)}, more than 2.{max_glibc_minor}")
    name = _NAME_TAG.search(wheel.name)
    if name is None:
        problems.append(f"{wheel.name} is not tagged abi3 + manylinux_2_N")
    else:
        minors = [int(m) for m in re.findall(r"manylinux_2_(\d+)_", name.group(1))]
        if min(minors) > max_glibc_minor:
            problems.append(f"{wheel.name} is tagged for glibc newer than 2.{max_glibc_minor}")
    with zipfile.ZipFile(wheel) as archive:
        if not any(n.endswith(".dist-info/licenses/LICENSE") for n in archive.namelist()):
            problems.append(f"{wheel.name} ships no LICENSE in its .dist-info")
    return problems


def main() -> int:
    """Check every wheel given; exit status 1 when any has a problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-glibc", default="2.28", help="newest glibc allowed, e.g. 2.28")
    parser.add_argument("wheels", nargs="+", type=Path)
    args = parser.parse_args()
    major, minor = (int(part) for part in args.max_glibc.split("."))
    if major != 2:
        parser.error("--max-glibc must be 2.N")
    failed = False
    for wheel in args.wheels:
        problems = check(wheel, minor)
        for problem in problems:
            print(f"{wheel}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        if not problems:
            print(f"{wheel.name}: ok (glibc <= 2.{minor}, abi3, LICENSE)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
