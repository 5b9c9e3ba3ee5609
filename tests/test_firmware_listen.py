"""The always-listening image (firmware/apps/listen): interrupt -> block ring -> kws_process -> WFI.

On mps2-an386 under QEMU a timer interrupt feeds a WAV at the audio rate: `tinykws firmware run --interrupts`
must print what `tinykws detect --engine python` prints, with no overrun; a core made too slow for the model
(QEMU -icount with a larger shift) must have its dropped blocks counted, never lost silently. The nRF52840
PDM driver is proven on the host against a register model (firmware/tests/test_pdm.c), and the Nano 33 BLE
Sense image is built for the shipped yes model within the flash and RAM targets of tinykws/config.py.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_all_passed, firmware_make

from tinykws import readme
from tinykws.cli import main
from tinykws.config import FIRMWARE, REPO_ROOT
from tinykws.data.wav import write_wav
from tinykws.firmware import board
from tinykws.train.evaluate import load_model

BLOCK = FIRMWARE.listen_block_samples


def _tools(board_name: str) -> None:
    missing = [t for t in board.TOOLS[board_name] if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make install`")


@pytest.fixture(scope="module")
def wake_stream(real_dir) -> np.ndarray:
    """Four real "yes" clips, each after another word (~8 s), cut to whole blocks."""
    return board.wake_word_stream(real_dir)


@pytest.fixture(scope="module")
def yes_listen():
    _tools("mps2-an386")
    model, path = load_model("yes", None)
    return model, board.build(model, "mps2-an386", str(path), ("listen",))


def test_interrupt_driven_loop_prints_the_python_detections(wake_stream, tmp_path, capsys):
    wav = tmp_path / "stream.wav"
    write_wav(wav, wake_stream)
    assert main(["detect", "--task", "yes", "--engine", "python", str(wav), "--jsonl"]) == 0
    want = capsys.readouterr().out.splitlines()
    _tools("mps2-an386")
    assert main(["firmware", "run", "--board", "mps2-an386", "--task", "yes", "--interrupts", str(wav), "--jsonl"]) == 0
    got = capsys.readouterr().out.splitlines()
    assert got[:-1] == want and len(want) >= 2, (got, want)  # several wake words, the same lines
    last = json.loads(got[-1])
    assert last["overruns"] == 0 and last["samples"] == len(wake_stream) and last["dropped_samples"] == 0
    assert last["blocks"] == len(wake_stream) // BLOCK
    # Awake for a few percent of a 64 MHz core: more than nothing, well under all of it.
    assert 0 < last["awake_instructions_per_second"] < FIRMWARE.board_cpu_hz / 4
    assert last["duty_cycle_at_64mhz"] == pytest.approx(last["awake_instructions_per_second"] / FIRMWARE.board_cpu_hz,
                                                        abs=1e-5)  # fmt: skip


def test_a_core_too_slow_for_the_model_counts_its_overruns(yes_listen, wake_stream):
    model, out = yes_listen
    fast = board.run_listen(out, wake_stream, len(model.labels))
    assert fast.overruns == 0 and fast.blocks == len(wake_stream) // BLOCK
    # Slow the emulated core (2^shift ns per instruction) until one block's work outlasts the block period.
    per_block = fast.awake_instructions / fast.blocks
    shift = math.ceil(math.log2(fast.block_period_instructions[1] / per_block))
    assert 1 <= shift <= 10, shift  # QEMU's largest shift is 10
    slow = board.run_listen(out, wake_stream, len(model.labels), icount_shift=shift)
    assert slow.overruns > 0, slow
    # Every sample read is either processed or in a counted, dropped whole block; nothing else goes missing.
    assert slow.source_samples == len(wake_stream) == slow.samples + slow.dropped_samples
    assert slow.dropped_samples == slow.overruns * BLOCK and slow.blocks + slow.overruns == fast.blocks
    assert slow.app.num_hops < fast.app.num_hops
    # Reported as they happen, not only in the totals: running counts, rising, none beyond the final one.
    assert slow.overrun_reports and slow.overrun_reports == sorted(set(slow.overrun_reports))
    assert 0 < slow.overrun_reports[-1] <= slow.overruns and not fast.overrun_reports


def test_bad_board_requests_are_one_line(wake_stream, tmp_path, capsys):
    wav = tmp_path / "in.wav"
    write_wav(wav, wake_stream[:BLOCK])
    for argv in (["firmware", "run", "--board", "nano33ble", "--task", "yes", str(wav)],
                 ["firmware", "run", "--board", "host", "--task", "yes", "--interrupts", str(wav)],
                 ["firmware", "run", "--task", "yes", "--interrupts", "--scores", str(wav)]):  # fmt: skip
        assert main(argv) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tinykws: "), (argv, err)


def test_pdm_driver_delivers_every_sample_once_in_order_across_swaps_and_overruns():
    """firmware/tests/test_pdm.c under AddressSanitizer + UBSan: the driver against a register model whose
    EasyDMA side the test plays (events and interrupts at random moments, a consumer that stalls)."""
    _tools("host")
    out = firmware_make("BOARD=host", "VARIANT=asan", "pdm-test", timeout=300)
    assert_all_passed(out)
    runs = re.findall(r"^pdm seed \d+: (\d+) blocks, (\d+) received, (\d+) overruns, (\d+) buffer swaps$", out, re.M)
    assert len(runs) >= 3, out[-2000:]
    for blocks, received, overruns, swaps in (map(int, r) for r in runs):
        assert received + overruns == blocks == swaps and overruns > 0


def test_nano33ble_image_for_the_shipped_yes_model_fits_its_targets(capsys):
    """Built for the Arduino bootloader (vector table at 0x10000), .elf / .bin / .hex, within FirmwareConfig's
    flash and RAM; the PDM interrupt wired to its vector; no allocator linked."""
    _tools("nano33ble")
    assert main(["firmware", "build", "--board", "nano33ble", "--task", "yes"]) == 0
    elf, binary, hexfile = (Path(p) for p in capsys.readouterr().out.split())
    assert (elf.suffix, binary.suffix, hexfile.suffix) == (".elf", ".bin", ".hex")
    assert main(["firmware", "size", "--board", "nano33ble", "--task", "yes", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["targets"] == {"flash_bytes": FIRMWARE.flash_target_bytes, "ram_bytes": FIRMWARE.ram_target_bytes}
    assert 0 < rep["flash_bytes"] <= FIRMWARE.flash_target_bytes and 0 < rep["ram_bytes"] <= FIRMWARE.ram_target_bytes
    assert sum(c["flash"] for c in rep["components"].values()) == rep["flash_bytes"]
    assert {"listen", "board", "model", "engine"} <= set(rep["components"])
    assert rep["stack_bytes"]["call_graph_main"] >= rep["stack_bytes"]["call_graph_kws_process"] > 0
    assert rep["state_bytes"]["ring"] > FIRMWARE.listen_blocks * BLOCK * 2 and rep["state_bytes"]["pdm"] > 0
    # The .bin starts at the application's origin: initial stack pointer = top of RAM, reset vector in flash
    # (Thumb bit set); interrupt 29 (PDM) points at the PDM handler. The .hex says where it goes: 0x10000.
    words = np.frombuffer(binary.read_bytes()[: 4 * (16 + 48)], "<u4")
    symbols = board.symbol_sizes(elf)
    origin = symbols["kws_vectors"][0]
    assert origin == 0x10000 and words[0] == 0x20000000 + 256 * 1024
    assert origin < words[1] < origin + rep["flash_bytes"] and words[1] & 1
    assert words[16 + 29] == symbols["kws_irq_pdm"][0] | 1
    assert hexfile.read_text().splitlines()[0] == ":020000021000EC"  # extended segment address 0x1000:0000
    assert not set(symbols) & {"malloc", "free", "calloc", "realloc", "_malloc_r", "_free_r"}


def test_the_readme_listen_block_is_what_its_script_renders_from_the_recorded_report():
    """Run `python bench/listen_figures.py --readme` after changing the image (it measures, records, writes)."""
    spec = importlib.util.spec_from_file_location("listen_figures", REPO_ROOT / "bench" / "listen_figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    rep = json.loads(figures.results_path("yes").read_text())
    assert readme.read_block(readme.README.read_text(), "listen") == figures.render(rep)
    lst, nano = rep["listen"], rep["nano33ble"]
    assert lst["overruns"] == 0 and rep["same_detections_as_python"] and lst["detections"] >= 2
    assert lst["duty_cycle_at_64mhz"] == pytest.approx(lst["awake_instructions_per_second"] / FIRMWARE.board_cpu_hz,
                                                       abs=1e-5)  # fmt: skip
    assert nano["flash_bytes"] <= nano["targets"]["flash_bytes"] and nano["ram_bytes"] <= nano["targets"]["ram_bytes"]
