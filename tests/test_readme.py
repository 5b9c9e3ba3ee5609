"""What the README and the Makefile state about each other and about the build: one package list, in the
Makefile, that holds every program the build calls."""

import re
from pathlib import Path

from tinykws.firmware import board

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()

# Program the build runs -> the Debian package of APT_PACKAGES that brings it (None: needed to run make at all).
PROVIDED_BY = {
    "make": None,
    "gcc": "gcc",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "gcc-arm-none-eabi",  # binutils-arm-none-eabi, a dependency
    "qemu-system-arm": "qemu-system-arm",
    "clang": "clang",
    "valgrind": "valgrind",
    "sox": "sox",
    "venv": "python3-venv",  # $(PYTHON) -m venv
}


def apt_packages() -> list[str]:
    m = re.search(r"^APT_PACKAGES := ((?:.*\\\n)*.*)$", MAKEFILE, re.MULTILINE)
    assert m, "Makefile has no APT_PACKAGES"
    return m.group(1).replace("\\\n", " ").split()


def programs_called() -> set[str]:
    fw = (ROOT / "firmware" / "Makefile").read_text()
    progs = set(re.findall(r"^(?:CC|QEMU) [:?]= (\S+)", fw, re.MULTILINE))
    progs |= {p for tools in board.TOOLS.values() for p in tools}
    progs |= set(re.findall(r"-m (venv)\b", MAKEFILE))
    progs |= {"valgrind", "sox"}  # bench/speed.py and board.bench(); data/synth.py
    return progs


def test_apt_packages_bring_every_program_the_build_calls():
    packages = set(apt_packages())
    progs = programs_called()
    assert {"gcc", "arm-none-eabi-gcc", "qemu-system-arm", "clang", "venv"} <= progs, progs
    unknown = progs - PROVIDED_BY.keys()
    assert not unknown, f"add the package of {sorted(unknown)} to APT_PACKAGES and to PROVIDED_BY"
    missing = {p: PROVIDED_BY[p] for p in progs if PROVIDED_BY[p] and PROVIDED_BY[p] not in packages}
    assert not missing, f"APT_PACKAGES lacks {missing}"
    # --no-install-recommends: gcc only recommends the C library's headers, which the host build includes.
    assert "libc6-dev" in packages


def test_the_readme_points_at_the_makefile_list_instead_of_repeating_it():
    assert "`APT_PACKAGES`" in README
    packages = set(apt_packages())
    # A list to paste into apt-get is a code span of several package names (prose may name the TTS engines).
    prose = re.sub(r"^```.*?^```", "", README, flags=re.MULTILINE | re.DOTALL)
    for span in re.findall(r"`([^`]+)`", prose):
        named = [w for w in span.split() if w in packages or w == "festvox-*"]
        assert len(named) < 2, f"README repeats packages `{span}`: name the Makefile's APT_PACKAGES instead"
