"""Run Python code in a fresh process: for what must not depend on the process."""

import subprocess
import sys


def python_output(code, *args, env=None, timeout=600):
    """Standard output of ``python -c code *args`` (the test fails if the process does)."""
    run = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout
