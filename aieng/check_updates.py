"""Find dependency drift before a learner does: the newest releases, in a scratch venv, against our tests.

`make check-updates` runs `python -m aieng.check_updates`, which
  1. makes a fresh venv in `.aieng/check-updates/venv` (git-ignored; never the course's `.venv`),
  2. installs every direct dependency of requirements.txt unpinned, so pip picks the newest releases
     that fit together, except the HELD ones (torch: the CPU build; llama-cpp-python: a 4-minute compile),
  3. runs the unit tests (`-m "not model and not slow"`) and chapter 00 under nbval there, with its own
     server state folder, so chapter 00 talks to a server running the new packages,
  4. reports the versions that differ from the pins, the failing tests, and for each failure the
     changed packages whose files appear in its traceback (the likely culprits).
Exit status 0 when everything passed, 1 when something broke, 2 when the venv could not be built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from aieng.errors import AiengError
from aieng.files import ROOT, shown, write_atomic

__all__ = ["HELD", "SCRATCH", "Requirement", "Change", "Failure", "normalized", "read_requirements",
           "install_arguments", "version_changes", "read_failures", "suspects", "format_report", "main"]

HELD = frozenset({"torch", "llama-cpp-python"})  # stay at their pins (why: module docstring)
SCRATCH = ROOT / ".aieng" / "check-updates"  # .aieng/ is git-ignored
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s;#]+)")
# What the scratch venv reports about itself: every distribution, its version and its top-level folders.
_INVENTORY = """
import importlib.metadata as md, json
out = {}
for dist in md.distributions():
    tops = {str(f).split('/')[0] for f in (dist.files or []) if '/' in str(f) and not str(f).startswith('..')}
    out[dist.metadata['Name']] = {'version': dist.version,
                                  'top': sorted(t for t in tops if not t.endswith(('.dist-info', '.data')))}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Requirement:
    """One pinned line of requirements.txt: name, extras ("[server]" or ""), pinned version."""

    name: str
    extras: str
    version: str


@dataclass(frozen=True)
class Change:
    """A direct dependency whose newest release differs from its pin."""

    name: str
    pinned: str
    installed: str


@dataclass(frozen=True)
class Failure:
    """A failing test: its id and the text pytest reported (traceback included)."""

    test: str
    text: str


def normalized(name: str) -> str:
    """A distribution name compared the way pip does (PEP 503): case and -_. folded."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: str | Path = ROOT / "requirements.txt") -> list[Requirement]:
    """The direct dependencies in `path`, each pinned with ==; an unpinned line raises, naming it."""
    requirements = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise AiengError(f"{shown(path)}, line {number}: {line!r} is not pinned with ==. Pin it "
                             "(name==version) so the course installs one known version.")
        requirements.append(Requirement(match["name"], match["extras"] or "", match["version"]))
    return requirements


def install_arguments(requirements: list[Requirement]) -> list[str]:
    """pip arguments: HELD packages at their pins, every other one unpinned (pip takes its newest release)."""
    return [f"{r.name}{r.extras}=={r.version}" if normalized(r.name) in HELD else f"{r.name}{r.extras}"
            for r in requirements]


def version_changes(requirements: list[Requirement], installed: dict[str, str]) -> list[Change]:
    """The direct dependencies whose installed version is not the pin (installed: name -> version)."""
    by_name = {normalized(name): version for name, version in installed.items()}
    changes = []
    for requirement in requirements:
        now = by_name.get(normalized(requirement.name), "not installed")
        if now.split("+")[0] != requirement.version.split("+")[0]:  # 2.13.0+cpu is the pin 2.13.0
            changes.append(Change(requirement.name, requirement.version, now))
    return changes


def read_failures(junit_xml: str | Path) -> list[Failure]:
    """The failed and errored tests of a pytest `--junitxml` file; a missing file is itself a failure."""
    path = Path(junit_xml)
    if not path.exists():
        return [Failure(path.stem, f"pytest wrote no report ({shown(path)}): it did not start; see its log.")]
    failures = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        for problem in [*case.findall("failure"), *case.findall("error")]:
            test = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            failures.append(Failure(test, f"{problem.get('message', '')}\n{problem.text or ''}"))
    return failures


def suspects(failure: Failure, changes: list[Change], top_levels: dict[str, list[str]]) -> list[str]:
    """The changed packages with a file in the failure's traceback (top_levels: name -> import folders)."""
    folders = {normalized(name): tops for name, tops in top_levels.items()}
    found = []
    for change in changes:
        tops = folders.get(normalized(change.name), [])
        if any(re.search(rf"site-packages/{re.escape(top)}/", failure.text) for top in tops):
            found.append(change.name)
    return found


def format_report(changes: list[Change], failures: list[Failure], top_levels: dict[str, list[str]],
                  minutes: float) -> str:
    """The report as Markdown: versions that differ from the pins, then each failing test and its suspects."""
    lines = [f"# Newest releases against the course's tests ({minutes:.0f} min)", "",
             f"Held at their pins: {', '.join(sorted(HELD))}.", ""]
    if changes:
        lines += ["| package | pinned | newest that installed |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.pinned} | {c.installed} |" for c in changes]
    else:
        lines.append("Every direct dependency is already at its newest release.")
    lines.append("")
    if not failures:
        lines.append("Everything passed: the pins can move to these versions (edit requirements.txt, `make test`).")
        return "\n".join(lines) + "\n"
    lines.append(f"{len(failures)} failing:")
    for failure in failures:
        names = suspects(failure, changes, top_levels)
        blame = f"in the traceback: {', '.join(names)}" if names else "no changed package in its traceback"
        first = next((line for line in failure.text.splitlines() if line.strip()), "")
        lines.append(f"- `{failure.test}` ({blame}): {first[:200]}")
    return "\n".join(lines) + "\n"


def _run(command: list[str], log: Path, env: dict[str, str]) -> int:
    with open(log, "w", encoding="utf-8") as out:
        return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT).returncode


def main() -> int:
    """Build the scratch venv, run the tests there, print and save the report; returns the exit status."""
    started = time.perf_counter()
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)  # a fresh venv each time: leftovers would hide a broken install
    SCRATCH.mkdir(parents=True)
    venv, python = SCRATCH / "venv", SCRATCH / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT),  # the course's package from this folder, without installing it there
           "AIENG_HOME": str(SCRATCH / "home"),  # its own server, running the new packages
           "AIENG_CHECKS_STRICT": "1"}
    env.pop("VIRTUAL_ENV", None)
    requirements = read_requirements()
    print(f"Installing the newest releases into {shown(venv)} (log: {shown(SCRATCH / 'install.log')}) ...",
          flush=True)
    torch_index = os.environ.get("TORCH_INDEX", "").strip()
    if torch_index:  # as `make setup` does: the CPU build from the index the learner named
        torch = next(r for r in requirements if r.name == "torch")
        _run([str(python), "-m", "pip", "install", f"torch=={torch.version}", "--index-url", torch_index],
             SCRATCH / "torch.log", env)
    if _run([str(python), "-m", "pip", "install", *install_arguments(requirements)], SCRATCH / "install.log", env):
        print(f"pip could not install the newest releases together; read {shown(SCRATCH / 'install.log')}.")
        return 2
    inventory = json.loads(subprocess.run([str(python), "-c", _INVENTORY], capture_output=True, text=True,
                                          check=True, env=env).stdout)
    installed = {name: item["version"] for name, item in inventory.items()}
    top_levels = {name: item["top"] for name, item in inventory.items()}
    changes = version_changes(requirements, installed)
    runs = {"unit": ["tests", "-m", "not model and not slow"], "ch00": ["solutions/00_setup.ipynb"]}
    failures = []
    try:
        for name, arguments in runs.items():
            print(f"Running {' '.join(arguments)} ...", flush=True)
            report_xml = SCRATCH / f"{name}.xml"
            _run([str(python), "-m", "pytest", *arguments, "-q", f"--junitxml={report_xml}"],
                 SCRATCH / f"{name}.log", env)
            failures += read_failures(report_xml)
    finally:  # leave no server behind: it holds both cores' worth of threads
        subprocess.run([str(python), "-m", "aieng", "stop"], env=env, capture_output=True)
    text = format_report(changes, failures, top_levels, (time.perf_counter() - started) / 60)
    write_atomic(SCRATCH / "report.md", text)
    print(text + f"\n(saved in {shown(SCRATCH / 'report.md')}; test logs beside it)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
