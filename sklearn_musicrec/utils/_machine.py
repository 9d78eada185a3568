"""The machine and software of a run: CPU, cores, memory, versions, peak memory.

One home for the description that the benchmark command
(:mod:`sklearn_musicrec.benchmark`) writes into ``results.json`` and that the
side-by-side scripts of ``benchmarks/`` write into their result files.
Private module with public-within-the-package names.
"""

import os
import platform
import resource
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = [
    "git_commit",
    "machine_description",
    "machine_line",
    "package_version",
    "peak_rss_gb",
    "reset_peak_rss",
    "rss_gb",
]

_BASE_PACKAGES = ("numpy", "scipy", "scikit-learn", "numba", "threadpoolctl")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def git_commit(folder):
    """HEAD of the checkout holding ``folder`` (``-dirty`` with tracked changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def package_version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_description(*packages):
    """The machine and software of this run, as a JSON-ready dict.

    Parameters
    ----------
    *packages : str
        Distribution names whose versions to record besides numpy, scipy,
        scikit-learn, numba, threadpoolctl and sklearn-musicrec (peers such
        as ``"implicit"``; ``None`` when not installed).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    import sklearn_musicrec

    versions = {name: package_version(name) for name in (*_BASE_PACKAGES, *packages)}
    versions["sklearn-musicrec"] = sklearn_musicrec.__version__
    package_dir = Path(sklearn_musicrec.__file__).resolve().parent
    memory = _memory_gb()
    return {
        "cpu": _cpu_model(),
        "cores_visible": cores,
        "cpu_count": os.cpu_count(),
        "memory_gb": None if memory is None else round(memory, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "git_commit": git_commit(package_dir),
        "package_dir": str(package_dir),
    }


def machine_line(machine):
    """One markdown sentence describing ``machine`` (from :func:`machine_description`)."""
    load = ", ".join(f"{x:.2f}" for x in machine["load_average_at_start"])
    memory = "" if machine["memory_gb"] is None else f", {machine['memory_gb']:.0f} GB memory"
    versions = ", ".join(f"{name} {v}" for name, v in machine["packages"].items() if v is not None)
    return (
        f"Machine: {machine['cpu']}, {machine['cores_visible']} cores visible{memory} "
        f"(shared with other jobs; load average at start {load}); Python "
        f"{machine['python']}, {versions}; commit {machine['git_commit']}."
    )


def peak_rss_gb():
    """Peak resident memory of this process in GiB (``VmHWM``; see the module docstring)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:  # not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_gb():
    """Current resident memory of this process in GiB (``VmRSS``), or None off Linux."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 2**20


def reset_peak_rss():
    """Reset the kernel's high-water mark ``VmHWM`` to the current RSS.

    Writes ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0), so that a later
    :func:`peak_rss_gb` is the peak since now. Returns False where that is
    not possible (then the peak is the process's since its start).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
