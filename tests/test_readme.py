"""What the README and the Makefile state about each other and about the build: one package list, in the
Makefile, that holds every program the build calls; figure blocks that are what their scripts generate."""

import importlib.util
import json
import re
from pathlib import Path

from tinykws import readme
from tinykws.config import CONFIG
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
    "arm-none-eabi-objcopy": "gcc-arm-none-eabi",  # the same; the nano33ble .bin / .hex
    "qemu-system-arm": "qemu-system-arm",
    "clang": "clang",
    "wasm-ld": "lld",
    "chromium": "chromium",
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
    progs |= {"chromium"}  # tests/test_web.py, headless
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


# --- generated figure blocks ------------------------------------------------------------------------------------

_spec = importlib.util.spec_from_file_location("firmware_size", ROOT / "bench" / "firmware_size.py")
firmware_size = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(firmware_size)


def _number(s: str) -> int:
    return int(s.replace(",", ""))


def _recorded(task: str = "kws12") -> dict:
    return json.loads(firmware_size.results_path(task).read_text())


def test_the_firmware_block_is_what_its_script_renders_from_the_recorded_report():
    """Edited by hand, or left behind when the report was measured again, the block differs: run
    `python bench/firmware_size.py --readme` (it measures, records and writes)."""
    assert readme.read_block(README, "firmware") == firmware_size.render(_recorded())


def test_the_firmware_block_adds_up():
    """The sums the old hand-typed table got wrong (31,155 + 30,450 + 451 is not 62,128)."""
    block = readme.read_block(README, "firmware")
    m = re.search(r"front end ([\d,]+) \+ network ([\d,]+) \+ detector ([\d,]+) \+ engine glue ([\d,]+) = ([\d,]+)",
                  block)  # fmt: skip
    assert m, block
    *parts, total = map(_number, m.groups())
    assert sum(parts) == total
    rep = _recorded()
    assert total == rep["instructions"]["mps2-an386"]["instructions_per_hop"]["engine"]
    flash = re.search(r"\| flash, whole image \| ([\d,]+) B \(([^)]*)\)", block)
    assert flash, block
    assert sum(_number(n) for n in re.findall(r" ([\d,]+)(?:;|$)", flash.group(2))) == _number(flash.group(1))
    ram = re.search(r"\| RAM, whole image \| ([\d,]+) B \(([\d,]+) static.* \+ ([\d,]+) B stack\)", block)
    assert ram and _number(ram.group(2)) + _number(ram.group(3)) == _number(ram.group(1)), block


def test_the_benchmark_table_gives_the_firmware_blocks_cortex_m4_counts():
    """bench/speed.py and bench/firmware_size.py measure the same engine: their per-hop counts must be equal,
    or one of the two blocks is stale."""
    m4 = _recorded()["instructions"]["mps2-an386"]["instructions_per_hop"]
    rows = [r for r in readme.read_block(README, "bench").splitlines() if r.startswith("| inference, Cortex-M4")]
    text = "\n".join(rows)
    assert f"{m4['network']:,} per hop x 50 hops/s" in text, text
    assert f"{m4['window']:,} per window, one window per hop" in text, text
    assert f"front end {m4['frontend']:,} + network + detector = {m4['engine']:,}" in text, text


def test_the_benchmark_rows_per_second_are_their_per_hop_counts():
    """Every instruction row of the bench block states a per-hop (or per-invoke) count and a rate: they agree."""
    hops = CONFIG.audio.sample_rate / CONFIG.features.hop_samples
    checked = 0
    for row in readme.read_block(README, "bench").splitlines():
        rate = r"\| inference[^|]*\|[^|]*\| ([\d.]+) M instr/s of audio \| "
        m = re.match(rate + r"(?:kws_process per hop:.*= )?([\d,]+)(?: per|\D*$)", row)
        if m and "one invoke per second" not in row:
            assert abs(float(m.group(1)) - _number(m.group(2)) * hops / 1e6) <= 0.005, row
            checked += 1
    assert checked >= 7


_web_spec = importlib.util.spec_from_file_location("web_speed", ROOT / "bench" / "web_speed.py")
web_speed = importlib.util.module_from_spec(_web_spec)
_web_spec.loader.exec_module(web_speed)


def test_the_web_block_is_what_its_script_renders_from_the_recorded_report():
    """Run `python bench/web_speed.py --readme` (it measures in headless Chromium, records and writes)."""
    rep = json.loads(web_speed.results_path("yes").read_text())
    assert readme.read_block(README, "web") == web_speed.render(rep)


def test_make_run_trains_each_task_as_its_shipped_card_says():
    """`make run` must rebuild the shipped models: its train flags are the ones in each model card's command."""
    variables = dict(re.findall(r"^([A-Z0-9_]+) := (.*)$", MAKEFILE, re.MULTILINE))
    for task in ("kws12", "yes"):
        m = re.search(rf'^\s*train {task} "([^"]*)"', MAKEFILE, re.MULTILINE)
        assert m, f"Makefile: no `train {task} \"...\"` line in make run"
        flags = re.sub(r"\$\((\w+)\)", lambda v: variables[v.group(1)], m.group(1))
        card = json.loads((ROOT / "models" / task / "model.json").read_text())
        command = card["reproduce"].split("  (then")[0].split()
        assert command[:4] == ["tinykws", "train", "--task", task]
        assert set(flags.split()) - {"--no-progress"} == set(command[4:]), task
