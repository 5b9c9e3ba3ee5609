"""Flash, RAM and stack of a linked firmware image, per component, from what the toolchain writes anyway.

- Flash and static RAM: the GNU ld map file (`-Wl,-Map`) lists every input section kept after
  `--gc-sections` with its size and object file; objects are grouped into components (front end, kernels,
  network, detector, engine, model, app + board glue, C library).
- Stack: gcc's `-fcallgraph-info=su` (.ci files beside the objects) gives each function's frame and its
  calls; the deepest path from a root function is the worst-case stack, as long as there is no recursion or
  call through a pointer (reported when found). Library functions without a .ci are listed as unmeasured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Object file stem -> component. Anything else from a library archive is the C runtime.
COMPONENTS = {
    "kws_frontend": "frontend",
    "kws_fft": "frontend",
    "kws_frontend_tables": "frontend",
    "kws_kernels": "kernels",
    "kws_network": "network",
    "kws_detector": "detector",
    "kws_engine": "engine",
    "kws_model": "model",
    "kws_app": "app",
    "app_glue": "app",
    "kws_test_util": "app",
    "startup": "board",
    "board": "board",
    "kws_listen": "listen",
    "kws_blocks": "listen",
    "listen_glue": "board",
    "nrf52_pdm": "board",
}
FLASH_SECTIONS = (".vectors", ".text", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss")

_OUTPUT = re.compile(r"^(\.[\w.]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")
_INPUT = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_INPUT_NAME_ONLY = re.compile(r"^ (\.\S+|COMMON)$")
_INPUT_REST = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_FILL = re.compile(r"^ \*fill\*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")


def component_of(obj: str) -> str:
    """'/x/libkws_engine.a(kws_model.o)' or '/x/app/kws_app.o' -> component name."""
    m = re.search(r"\(([^()]+)\)$", obj)
    name = Path(m.group(1) if m else obj).stem
    if name in COMPONENTS:
        return COMPONENTS[name]
    return "libc" if m or "lib" in obj else "other"


@dataclass
class Sizes:
    flash: int = 0
    ram: int = 0


def _map_items(map_path: Path) -> dict[str, tuple[int, int, list[tuple[int, int, str]]]]:
    """Output section -> (address, size, [(address, size, component)] of its input sections and fills)."""
    text = map_path.read_text().split("Linker script and memory map", 1)[-1]
    sections: dict[str, tuple[int, int, list[tuple[int, int, str]]]] = {}
    items: list[tuple[int, int, str]] | None = None
    pending = False
    for line in text.splitlines():
        if line and not line.startswith(" "):
            m = _OUTPUT.match(line)
            items = None
            if m and m.group(1) in FLASH_SECTIONS + RAM_SECTIONS:
                items = []
                sections[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), items)
            continue
        if items is None:
            continue
        if (m := _FILL.match(line)) is not None:
            items.append((int(m.group(1), 16), int(m.group(2), 16), "padding"))
        elif (m := _INPUT.match(line)) is not None and m.group(1).startswith((".", "COMMON")):
            items.append((int(m.group(2), 16), int(m.group(3), 16), component_of(m.group(4))))
        elif _INPUT_NAME_ONLY.match(line):
            pending = True
        elif pending and (m := _INPUT_REST.match(line)) is not None:
            items.append((int(m.group(1), 16), int(m.group(2), 16), component_of(m.group(3))))
            pending = False
    return sections


def map_sizes(map_path: Path) -> dict[str, Sizes]:
    """Bytes of flash and static RAM per component from a GNU ld map ("padding": alignment fill).

    Sizes come from addresses, not from the listed sizes: a mergeable string section is listed with its size
    before the linker merged it into an identical string elsewhere, and then occupies nothing."""
    sizes: dict[str, Sizes] = {}
    for name, (start, size, items) in _map_items(map_path).items():
        items = sorted(i for i in items if i[1] > 0)
        for k, (addr, n, component) in enumerate(items):
            nxt = items[k + 1][0] if k + 1 < len(items) else start + size
            used = max(0, min(n, nxt - addr))
            s = sizes.setdefault(component, Sizes())
            s.flash += used if name in FLASH_SECTIONS else 0
            s.ram += used if name in RAM_SECTIONS else 0
    return {k: v for k, v in sizes.items() if v.flash or v.ram}


# --- stack from -fcallgraph-info=su ----------------------------------------------------------------------------

_NODE = re.compile(r'^node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'^edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_BYTES = re.compile(r"\\n(\d+) bytes \(([\w,]+)\)")


@dataclass
class CallGraph:
    frames: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (file, fn) -> bytes, kind
    calls: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    defined_in: dict[str, list[str]] = field(default_factory=dict)  # fn -> files defining it

    def add_file(self, path: Path) -> None:
        file = path.name
        for line in path.read_text().splitlines():
            if (m := _NODE.match(line)) is not None:
                fn, label = m.groups()
                b = _BYTES.search(label)
                if b is not None:
                    self.frames[(file, fn)] = (int(b.group(1)), b.group(2))
                    self.defined_in.setdefault(fn, []).append(file)
            elif (m := _EDGE.match(line)) is not None:
                self.calls.setdefault((file, m.group(1)), []).append(m.group(2))

    def _resolve(self, file: str, fn: str) -> tuple[str, str] | None:
        # A static function is found in the caller's file first (two files may each have a static `advance`).
        if (file, fn) in self.frames:
            return (file, fn)
        files = self.defined_in.get(fn, [])
        return (files[0], fn) if len(files) == 1 else None

    def worst_path(self, root: str) -> tuple[int, list[str], set[str], list[str]]:
        """(bytes, call path, unmeasured callees, problems) of the deepest stack from `root`."""
        unmeasured: set[str] = set()
        problems: list[str] = []
        memo: dict[tuple[str, str], tuple[int, list[str]]] = {}

        def depth(node: tuple[str, str], active: set) -> tuple[int, list[str]]:
            if node in memo:
                return memo[node]
            if node in active:
                problems.append(f"recursion through {node[1]}")
                return 0, []
            own, kind = self.frames[node]
            if kind != "static":
                problems.append(f"{node[1]}: {kind} stack")
            best, best_path = 0, []
            for callee in self.calls.get(node, []):
                if callee.startswith("__indirect_call"):
                    problems.append(f"{node[1]}: call through a pointer (callee's stack not counted)")
                    continue
                target = self._resolve(node[0], callee)
                if target is None:
                    unmeasured.add(callee)
                    continue
                d, p = depth(target, active | {node})
                if d > best:
                    best, best_path = d, p
            memo[node] = (own + best, [node[1], *best_path])
            return memo[node]

        start = self._resolve("", root)
        if start is None:
            raise KeyError(f"{root}: no stack information (was it compiled with -fcallgraph-info=su?)")
        total, path = depth(start, set())
        return total, path, unmeasured, sorted(set(problems))


def call_graph(ci_files: list[Path]) -> CallGraph:
    g = CallGraph()
    for p in ci_files:
        g.add_file(p)
    return g
