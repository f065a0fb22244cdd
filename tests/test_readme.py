"""Every Python block of README.md runs as written, in order, in one
session (as a reader pastes them), with a fresh $IQA_JAX_HOME."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
  return re.findall(r"^```python\n(.*?)^```", README.read_text(),
                    flags=re.S | re.M)


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
  blocks = _blocks()
  assert len(blocks) >= 4
  monkeypatch.setenv("IQA_JAX_HOME", str(tmp_path / "home"))
  monkeypatch.chdir(tmp_path)
  namespace = {"__name__": "__readme__"}
  for i, code in enumerate(blocks):
    try:
      exec(compile(code, f"README.md python block {i + 1}", "exec"),  # pylint: disable=exec-used
           namespace)
    except Exception as e:
      raise AssertionError(f"README python block {i + 1} failed:\n{code}") \
          from e
  out = capsys.readouterr().out
  assert "residual" in out and "lat" in out
