"""The repository itself: what the README's deploy steps rely on, and no committed secrets."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def tracked_files() -> list[str]:
    """`git ls-files`, which must answer: an empty list would make the checks below vacuous."""
    listing = git("ls-files")
    assert listing.returncode == 0, listing.stderr
    names = listing.stdout.splitlines()
    assert "streamlit_app.py" in names and "README.md" in names, names[:20]
    return names


def deploy_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Deploy on Streamlit Community Cloud", 1)[1].split("\n## ", 1)[0]


def test_the_deploy_steps_name_files_that_exist() -> None:
    steps = deploy_section()
    for name in ("streamlit_app.py", "requirements.txt", ".streamlit/secrets.toml"):
        assert name in steps
    assert (ROOT / "streamlit_app.py").is_file()
    assert (ROOT / "requirements.txt").is_file()  # what Community Cloud installs
    assert (ROOT / ".streamlit" / "secrets.toml.example").is_file()
    assert re.search(r"Python \*\*3\.11\*\* or \*\*3\.12\*\*", steps)


def test_runtime_requirements_are_pinned() -> None:
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text()
             .splitlines()]
    packages = [line for line in lines if line]
    assert packages
    for line in packages:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.]*", line), line


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_secrets_file_is_ignored_and_never_tracked() -> None:
    assert git("check-ignore", "-q", ".streamlit/secrets.toml").returncode == 0
    tracked = tracked_files()
    assert ".streamlit/secrets.toml" not in tracked
    assert ".streamlit/secrets.toml.example" in tracked


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_credentials_are_committed() -> None:
    patterns = {
        "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
        "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        "assigned Tavus key": re.compile(r"TAVUS_API_KEY\s*=\s*['\"][0-9a-f]{24,}['\"]"),
    }
    for name in tracked_files():
        path = ROOT / name
        if path.suffix in {".png", ".jpg"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for what, pattern in patterns.items():
            assert not pattern.search(text), f"{what} in {name}"
