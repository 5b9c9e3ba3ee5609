"""bench/speed.py: the quick mode runs every benchmark and prints every row with a positive number (no timing
is asserted: the numbers are whatever this machine gives); the README block is replaced between its markers."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinykws.errors import TinyKwsError

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("speed", ROOT / "bench" / "speed.py")
speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(speed)

ROWS = [
    ("front end", "integer batch"),
    ("front end", "float32 torch MFCC"),
    ("front end", "pymicro-features"),
    ("inference, x86-64", "C engine, streaming network"),
    ("inference, x86-64", "C engine, whole-window network"),
    ("inference, x86-64", "C engine, whole engine streaming"),
    ("inference, x86-64", "TFLM interpreter (tflite-micro"),
    ("inference, x86-64", "TFLM interpreter, one invoke per second"),
    ("inference, Cortex-M4", "C engine, streaming network"),
    ("inference, Cortex-M4", "C engine, whole-window network"),
    ("inference, Cortex-M4", "C engine, whole engine streaming"),
    ("training", "float epochs, torch 1 thread"),
    ("training", "QAT epochs, torch 1 thread"),
    ("training", "float epochs of the shipped run"),
    ("training", "QAT epochs of the shipped run"),
]


def _cells(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ")]


def _find(rows: list[list[str]], section: str, name: str) -> list[str]:
    hits = [r for r in rows if r[0].startswith(section) and name in r[1]]
    assert len(hits) == 1, f"{section} / {name}: {len(hits)} rows"
    return hits[0]


def test_quick_run_prints_every_row():
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "speed.py"), "--quick", "--make-run-seconds", "1500"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"^Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC .* \d+ cores", r.stdout, re.MULTILINE), r.stdout
    assert re.search(r"^Load average \(1/5/15 min\) at start [\d.]+ [\d.]+ [\d.]+, at end", r.stdout, re.MULTILINE)
    rows = _cells(r.stdout)
    assert rows[0] == ["benchmark", "implementation", "result", "how"]
    for section, name in ROWS:
        result = _find(rows, section, name)[2]
        number = re.match(r"([\d,]+(?:\.\d+)?) ", result)
        assert number and float(number.group(1).replace(",", "")) > 0, f"{section} / {name}: {result}"
    tflm_m4 = _find(rows, "inference, Cortex-M4", "TFLM interpreter")
    assert tflm_m4[2] == "n/a" and "no Cortex-M build" in tflm_m4[3]
    make_run = _find(rows, "make run", "full `make run`")
    assert make_run[2] == "1,500 s wall" and make_run[3].startswith("25.0 min")


def test_readme_block_is_replaced_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{speed.MARK_START}\nold table\n{speed.MARK_END}\nafter\n")
    speed.write_readme("| a | b |", readme)
    assert readme.read_text() == f"# x\n\nbefore\n{speed.MARK_START}\n| a | b |\n{speed.MARK_END}\nafter\n"
    speed.write_readme("new", readme)
    assert readme.read_text().count("new") == 1 and "| a | b |" not in readme.read_text()
    readme.write_text("no markers\n")
    with pytest.raises(TinyKwsError, match="bench:start"):
        speed.write_readme("x", readme)
    assert readme.read_text() == "no markers\n"


def test_the_repository_readme_has_the_markers():
    text = (ROOT / "README.md").read_text()
    assert text.count(speed.MARK_START) == 1 and text.count(speed.MARK_END) == 1
    assert text.index(speed.MARK_START) < text.index(speed.MARK_END)


def test_a_missing_report_file_is_one_line_not_a_traceback(tmp_path):
    script = Path(__file__).resolve().parent.parent / "bench" / "firmware_size.py"
    out = subprocess.run(
        [sys.executable, str(script), "--from-json", str(tmp_path / "nope.json")], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"tinykws: {tmp_path / 'nope.json'}: No such file or directory"
