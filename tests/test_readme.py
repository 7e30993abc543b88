"""The README's Python example runs as written, with the real embedded model and data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parent.parent


def readme_python_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_round_on_wildjailbreak_seed(shared_data: Path, tmp_path: Path) -> None:
    block = next(b for b in readme_python_blocks() if "AdvGameEnv(" in b)
    assert "../shared/data" in block
    script = tmp_path / "round.py"
    script.write_text(block.replace("../shared/data", shared_data.as_posix()), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The rendered round names the seed class and masks the harmful text.
    assert "harmful" in done.stdout
    assert "attacker_0" in done.stdout
    assert "characters hidden" in done.stdout
    # The defender played: its per-response outcomes are a list, not None.
    assert done.stdout.strip().splitlines()[-1].startswith("[[")
