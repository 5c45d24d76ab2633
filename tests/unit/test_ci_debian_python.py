"""How .ci/debian_python.py chooses the Debian packages a Python needs (no download: a made-up index)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "debian_python.py"


@pytest.fixture(scope="module")
def debian_python():
    spec = importlib.util.spec_from_file_location("debian_python", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stanza(package: str, depends: str = "", pre_depends: str = "", provides: str = "") -> str:
    lines = [f"Package: {package}", "Version: 1", f"Filename: pool/main/{package}_1_amd64.deb", "SHA256: 00"]
    lines += [f"{name}: {value}" for name, value in (("Depends", depends), ("Pre-Depends", pre_depends)) if value]
    lines += [f"Provides: {provides}"] if provides else []
    return "\n".join(lines)


def _index(debian_python, monkeypatch, *stanzas: str) -> dict:
    text = "\n\n".join(stanzas) + "\n"

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            import lzma

            return lzma.compress(text.encode())

    monkeypatch.setattr(debian_python.urllib.request, "urlopen", lambda url, timeout: Response())
    return debian_python.package_index("forky", "amd64")


def test_the_closure_follows_depends_and_pre_depends_through_alternatives_and_virtual_packages(
    debian_python, monkeypatch
):
    index = _index(
        debian_python,
        monkeypatch,
        _stanza("python3.14", depends="python3.14-minimal (= 3.14.10-1), media-types | mailcap"),
        _stanza("python3.14-minimal", depends="zlib1g (>= 1:1.2.0)", pre_depends="libc6 (>= 2.38)"),
        _stanza("python3.14-venv", depends="python3.14, python3-pip-whl"),
        _stanza("python3-pip-whl"),
        _stanza("libc6", depends="libgcc-s1"),
        _stanza("libgcc-s1", depends="libc6 (>= 2.35)"),
        _stanza("zlib1g", pre_depends="libc6:any"),
        _stanza("mime-support-tables", provides="media-types"),
        _stanza("unrelated", depends="libc6"),
    )

    packages = [fields["Package"] for fields in debian_python.closure(index, ["python3.14", "python3.14-venv"])]

    assert packages == [
        "libc6",
        "libgcc-s1",
        "mime-support-tables",
        "python3-pip-whl",
        "python3.14",
        "python3.14-minimal",
        "python3.14-venv",
        "zlib1g",
    ]


def test_a_dependency_the_suite_lacks_is_named(debian_python, monkeypatch):
    index = _index(debian_python, monkeypatch, _stanza("python3.14", depends="libgone1 | libgone2"))

    with pytest.raises(SystemExit, match=r"python3\.14 needs libgone1 \| libgone2, which the suite does not have"):
        debian_python.closure(index, ["python3.14"])
