"""``new-method`` writes a package that installs and passes ``validate`` untouched, and refuses
bad names and occupied folders without writing anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import REPO_ROOT
from llmrec_benchmark.submission.scaffold import scaffold


def test_a_scaffolded_plugin_installs_and_passes_validate(tmp_path):
    plugin, target = tmp_path / "my-rec", tmp_path / "site"
    made = subprocess.run([sys.executable, "-m", "benchmark", "new-method", "my-rec", "--plugin", str(plugin)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert "next: pip install -e" in made.stdout
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(plugin)], check=True, capture_output=True, text=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "benchmark", "validate", "my-rec"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "OK: 5/5 checks passed" in done.stdout
    assert "PASS  ablation -recency_weighting" in done.stdout


def test_built_in_layout_and_what_to_register(tmp_path):
    files, next_step = scaffold("my-rec", tmp_path / "methods")
    assert files == [tmp_path / "methods" / "my_rec" / "__init__.py"]
    assert "class MyRec(Method)" in files[0].read_text()
    assert '"my-rec": "llmrec_methods.my_rec:MyRec"' in next_step and "BUILTIN_METHODS" in next_step


@pytest.mark.parametrize("name", ["My_rec", "1rec", "rec!", ""])
def test_a_bad_name_is_refused(tmp_path, name):
    with pytest.raises(BenchmarkError, match="is not a method name"):
        scaffold(name, tmp_path / "methods")
    assert not (tmp_path / "methods").exists()


def test_an_occupied_folder_is_refused_and_left_alone(tmp_path):
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "notes.txt").write_text("mine")
    with pytest.raises(BenchmarkError, match="is not empty"):
        scaffold("my-rec", tmp_path / "methods", tmp_path / "plugin")
    assert [p.name for p in (tmp_path / "plugin").iterdir()] == ["notes.txt"]
    scaffold("my-rec", tmp_path / "methods")
    with pytest.raises(BenchmarkError, match="already exists"):
        scaffold("my-rec", tmp_path / "methods")
