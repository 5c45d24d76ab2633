#!/usr/bin/env python3
"""Makes a Python X.Y from Debian's own packages, for CI on a machine whose Debian release has none.

Debian 12 ships Python 3.11 only (this machine kind's pyenv adds 3.12 and 3.13). Python 3.14, which
Airflow 3.3 supports, is in Debian's testing and unstable suites, built against a newer C library than
Debian 12's.
This unpacks that interpreter and every library it needs, the C library included, under DEST, and points
the interpreter at them (its ELF interpreter and RPATH, set with patchelf), so it runs beside the
system's libraries without replacing any. Only Debian's package registry is needed.

    python3 .ci/debian_python.py 3.14 DEST     prints DEST/usr/bin/python3.14 once it runs

DEST is laid out as the interpreter's own prefix (DEST/usr), so that a venv made from it finds its
standard library; DEST/usr/bin keeps the interpreter alone, so that it can go on PATH without the
unpacked packages' other programs (openssl, ...) shadowing the system's.

A DEST whose interpreter already runs is kept. Standard library only: it runs on the system's python3.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The first suite that has the version: testing changes less often than unstable, and keeps a version
# for the life of its release.
SUITES = os.environ.get("DEBIAN_PYTHON_SUITES", "forky sid").split()
# The stdlib modules a venv and the test suite need, each backed by a library of the closure.
CHECK = "import ctypes, bz2, decimal, lzma, sqlite3, ssl, uuid, zlib, venv, ensurepip"


def runs(python: Path, version: str) -> bool:
    """Whether ``python`` starts and reports ``version``."""
    try:
        done = subprocess.run(
            [python, "-c", f"import sys; {CHECK}; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def package_index(suite: str, arch: str) -> dict[str, dict[str, str]]:
    """The suite's binary packages by name; a virtual package's name maps to a package providing it."""
    url = f"{MIRROR}/dists/{suite}/main/binary-{arch}/Packages.xz"
    with urllib.request.urlopen(url, timeout=120) as response:
        text = lzma.decompress(response.read()).decode()
    packages: dict[str, dict[str, str]] = {}
    providers: dict[str, dict[str, str]] = {}
    for stanza in text.split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.MULTILINE))
        if "Package" not in fields:
            continue
        packages.setdefault(fields["Package"], fields)
        for provided in fields.get("Provides", "").split(","):
            if provided.strip():
                providers.setdefault(provided.split("(")[0].strip(), fields)
    return {**providers, **packages}


def closure(index: dict[str, dict[str, str]], roots: list[str]) -> list[dict[str, str]]:
    """The packages ``roots`` need to run (Depends and Pre-Depends, the first alternative that exists)."""
    wanted: dict[str, dict[str, str]] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        fields = index[name]
        if fields["Package"] in wanted:
            continue
        wanted[fields["Package"]] = fields
        relations = ", ".join(filter(None, (fields.get("Pre-Depends"), fields.get("Depends"))))
        for relation in filter(None, (part.strip() for part in relations.split(","))):
            names = [re.split(r"[\s(:]", alternative.strip())[0] for alternative in relation.split("|")]
            found = next((alternative for alternative in names if alternative in index), None)
            if found is None:
                raise SystemExit(f"{fields['Package']} needs {relation}, which the suite does not have")
            pending.append(found)
    return sorted(wanted.values(), key=lambda fields: fields["Package"])


def unpack(packages: list[dict[str, str]], root: Path) -> None:
    """Downloads each package, checks its SHA-256 against the index, and unpacks it under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as downloads:
        for fields in packages:
            deb = Path(downloads) / Path(fields["Filename"]).name
            with urllib.request.urlopen(f"{MIRROR}/{fields['Filename']}", timeout=300) as response:
                deb.write_bytes(response.read())
            if hashlib.sha256(deb.read_bytes()).hexdigest() != fields["SHA256"]:
                raise SystemExit(f"{deb.name}: SHA-256 does not match the suite's index")
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)


def relocate(root: Path, version: str) -> Path:
    """Points the unpacked interpreter at the unpacked C library and libraries, and ensurepip at its wheels."""
    multiarch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True, text=True)
    triplet = multiarch.stdout.strip() or f"{os.uname().machine}-linux-gnu"
    libraries = root / "usr" / "lib" / triplet
    (loader,) = libraries.glob("ld-linux*.so.*")
    python = root / "usr" / "bin" / f"python{version}"
    # RPATH rather than RUNPATH: it also serves the libraries the standard library's extension modules load.
    subprocess.run(
        ["patchelf", "--set-interpreter", loader, "--force-rpath", "--set-rpath", libraries, python], check=True
    )
    # Debian's ensurepip takes pip's wheel from WHEEL_PKG_DIR (/usr/share/python-wheels), which is here.
    for data in (root / "usr" / "lib" / f"python{version}").glob("_sysconfigdata_*.py"):
        text = data.read_text()
        data.write_text(text.replace("'/usr/share/python-wheels/'", repr(f"{root}/usr/share/python-wheels/")))
    for program in python.parent.iterdir():
        if program != python:
            program.unlink()
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="X.Y, as Debian names the package pythonX.Y")
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    dest = args.dest.resolve()
    python = dest / "usr" / "bin" / f"python{args.version}"
    if not runs(python, args.version):
        for tool in ("dpkg-deb", "patchelf"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} is needed (apt-get install {'dpkg' if tool == 'dpkg-deb' else tool})")
        shutil.rmtree(dest, ignore_errors=True)
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True)
        wanted = f"python{args.version}"
        for suite in SUITES:
            index = package_index(suite, arch.stdout.strip())
            if wanted in index:
                break
        else:
            raise SystemExit(f"No Debian suite of {', '.join(SUITES)} has {wanted}")
        packages = closure(index, [wanted, f"{wanted}-venv"])
        print(f"Unpacking {len(packages)} packages of Debian {suite} into {dest}", file=sys.stderr)
        unpack(packages, dest)
        relocate(dest, args.version)
        if not runs(python, args.version):
            raise SystemExit(f"{python} was made but does not run: {CHECK}")
    print(python)


if __name__ == "__main__":
    main()
