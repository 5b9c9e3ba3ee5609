"""The code base is ruff clean (rules in pyproject.toml), and the tests hold checks ruff does not make."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = sorted((ROOT / "tests").glob("*.py"))
PYTHON = [p for p in ROOT.rglob("*.py") if not {".venv", "build"} & set(p.relative_to(ROOT).parts)]


def test_ruff_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _asserts(path: Path) -> list[ast.Assert]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Assert)]


def asserts_that_cannot_fail(path: Path) -> list[str]:
    """`assert f(x) is not None` of a check that returns a bool, and `assert e == e`: they pass whatever the code
    does (both were once in this suite)."""
    found = []
    for a in _asserts(path):
        t = a.test
        if not isinstance(t, ast.Compare) or len(t.ops) != 1:
            continue
        left, op, right = t.left, t.ops[0], t.comparators[0]
        none = isinstance(right, ast.Constant) and right.value is None and isinstance(op, ast.IsNot | ast.Is)
        if none and isinstance(left, ast.Call) and isinstance(left.func, ast.Attribute | ast.Name):
            name = left.func.attr if isinstance(left.func, ast.Attribute) else left.func.id
            if re.match(r"(all|any|allclose|isclose|array_equal|array_equiv|equal|is_\w+|has_\w+)$", name):
                found.append(f"{path.name}:{a.lineno}: {name}(...) is compared with None")
        if isinstance(op, ast.Eq | ast.Is) and ast.dump(left) == ast.dump(right):
            found.append(f"{path.name}:{a.lineno}: both sides are {ast.unparse(left)}")
    return found


def test_no_assert_that_cannot_fail():
    found = [f for path in TESTS for f in asserts_that_cannot_fail(path)]
    assert not found, "\n".join(found)


def test_the_assert_check_catches_what_it_says(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("assert np.allclose(a, b) is not None\nassert split_of(x) == split_of(x)\nassert f(x) is not None\n")
    assert asserts_that_cannot_fail(bad) == [
        "test_bad.py:1: allclose(...) is compared with None",
        "test_bad.py:2: both sides are split_of(x)",
    ]


def test_only_the_config_knows_where_the_shared_data_is():
    """Every reader of ../shared/data goes through config.SHARED_DATA_DIR, so TINYKWS_SHARED_DATA moves them
    all (tests/test_listen.py once built its own path and ignored it). Messages may name the folder."""
    found = []
    for path in PYTHON:
        if path in (ROOT / "tinykws" / "config.py", Path(__file__).resolve()):  # the one place, and this check
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value == "shared" or node.value.startswith("../shared"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)


def _imported_modules() -> set[str]:
    names = set()
    for path in PYTHON:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_and_marker_is_used():
    """A dependency nobody imports (soundfile was one) costs every install; a marker no test carries (slow
    was one) makes `-m 'not slow'` look like it leaves something out."""
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dists = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in project["project"]["dependencies"]}
    imported = {dist.lower() for mod in _imported_modules() for dist in packages_distributions().get(mod, [])}
    assert dists <= imported, f"declared but imported nowhere: {sorted(dists - imported)}"
    markers = [m.split(":")[0] for m in project["tool"]["pytest"]["ini_options"].get("markers", [])]
    used = {m for path in TESTS for m in re.findall(r"pytest\.mark\.(\w+)", path.read_text())}
    assert set(markers) <= used, f"markers no test uses: {sorted(set(markers) - used)}"


STAGES = ("data", "features", "train", "deploy", "firmware")  # the order data flows in


def _stage_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every tinykws stage a file imports, lazily imported ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        found += [(node.lineno, n) for n in names if n.split(".")[:1] == ["tinykws"] and n.count(".") >= 1]
    return found


def test_data_flows_one_way():
    """A stage may import an earlier one, never a later one (train/stream_eval.py once imported the firmware's
    C engine; the command that needs it now lives in firmware/)."""
    found = []
    for k, stage in enumerate(STAGES):
        for path in sorted((ROOT / stage).rglob("*.py")):
            for line, module in _stage_imports(path):
                other = module.split(".")[1]
                if other in STAGES and STAGES.index(other) > k:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {stage}/ imports {module}")
    assert not found, "\n".join(found)


def test_no_config_constant_is_written_in_the_pipeline():
    """The config is the only place a sample rate, window, hop, FFT size or frame count is written (a
    `np.zeros((0, 49, 10))` and a `16000` were once written in train/)."""
    from tinykws.config import CONFIG

    fc = CONFIG.features
    values = {CONFIG.audio.sample_rate, CONFIG.audio.clip_samples, fc.window_samples, fc.hop_samples, fc.fft_size,
              fc.fft_size // 2 + 1, fc.frames_for(CONFIG.audio.clip_samples)}  # fmt: skip
    found = []
    for stage in (*STAGES, "tinykws"):
        for path in sorted((ROOT / stage).rglob("*.py")):
            if path == ROOT / "tinykws" / "config.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and type(node.value) is int and node.value in values:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert not found, "\n".join(found)


def test_no_function_is_written_twice():
    """One helper for each repeated piece: the same function body (docstring aside) in two files is a copy
    waiting to drift (`_c_str` was in three, `_f32`, `_make`, `first_mismatch` and others in two)."""
    seen: dict[str, list[str]] = {}
    for path in PYTHON:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if body:
                key = ast.dump(node.args) + "".join(ast.dump(b) for b in body)
                seen.setdefault(key, []).append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    copies = [where for where in seen.values() if len({w.split(":")[0] for w in where}) > 1]
    assert not copies, "\n".join(", ".join(w) for w in copies)
