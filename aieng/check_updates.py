"""Find dependency drift before a learner does: the newest releases, in a scratch venv, against our tests.

`make check-updates` runs `python -m aieng.check_updates`, which
  1. makes a fresh venv in `.aieng/check-updates/venv` (git-ignored; never the course's `.venv`), and a copy
     of the last commit beside it (`git archive HEAD`), so edits made while it runs cannot change its verdict,
  2. installs every direct dependency of requirements.txt unpinned, so pip picks the newest releases
     that fit together, except the HELD ones (torch: the CPU build; llama-cpp-python: a 4-minute compile),
  3. runs the unit tests (`-m "not model and not slow"`) and chapter 00 under nbval there, with its own
     server state folder, so chapter 00 talks to a server running the new packages,
  4. reruns the failing tests once as they are (a test that passes now is flaky, not broken), then puts one
     changed package at a time back to its pin and reruns them: a test that passes again names the
     package that broke it,
  5. reports the versions that differ from the pins, the failing tests and what broke each.
Exit status 0 when everything passed, 1 when something broke, 2 when the venv could not be built.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from aieng.errors import AiengError
from aieng.files import ROOT, shown, write_atomic

__all__ = ["HELD", "SCRATCH", "Requirement", "Change", "Failure", "normalized", "read_requirements",
           "install_arguments", "version_changes", "read_failures", "rerun_targets", "format_report", "main"]

HELD = frozenset({"torch", "llama-cpp-python"})  # stay at their pins (why: module docstring)
SCRATCH = ROOT / ".aieng" / "check-updates"  # .aieng/ is git-ignored
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s;#]+)")
# What the scratch venv reports about itself: every distribution and its version.
_INVENTORY = "import importlib.metadata as md, json; print(json.dumps({d.metadata['Name']: d.version " \
             "for d in md.distributions()}))"


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
    """A failing test: its pytest node id (`tests/test_x.py::test_y`) and the text pytest reported."""

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


def read_failures(junit_xml: str | Path, root: Path = ROOT) -> list[Failure]:
    """The failed and errored tests of a pytest `--junitxml` file (run from `root`); a missing file is a failure."""
    path = Path(junit_xml)
    if not path.exists():
        return [Failure(path.stem, f"pytest wrote no report ({shown(path)}): it did not start; see its log.")]
    failures = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        for problem in [*case.findall("failure"), *case.findall("error")]:
            test = _node_id(case.get("classname", ""), case.get("name", ""), root)
            failures.append(Failure(test, f"{problem.get('message', '')}\n{problem.text or ''}"))
    return failures


def _node_id(classname: str, name: str, root: Path) -> str:
    """pytest's node id from JUnit's dotted classname: `tests.test_x.TestY` -> `tests/test_x.py::TestY::name`,
    `solutions.00_setup.ipynb` -> `solutions/00_setup.ipynb::name`."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        head = parts[:cut]
        candidates = ["/".join(head) + ".py"]
        if cut >= 2:  # a file whose suffix is not .py: its last dot is the suffix's
            candidates.append("/".join([*head[:-2], f"{head[-2]}.{head[-1]}"]))
        for path in candidates:
            if (root / path).is_file():
                return "::".join([path, *parts[cut:], name])
    return "::".join([classname.replace(".", "/"), name])


def rerun_targets(failures: list[Failure]) -> list[str]:
    """What to rerun to see whether the failures persist: each failing test, but a notebook whole (its cells
    depend on the ones before them)."""
    targets = []
    for failure in failures:
        target = failure.test.split("::")[0] if ".ipynb::" in failure.test else failure.test
        if target not in targets:
            targets.append(target)
    return targets


def format_report(changes: list[Change], failures: list[Failure], fixed_by: dict[str, list[str]],
                  minutes: float, *, flaky: frozenset[str] = frozenset(), untried: dict[str, str] | None = None,
                  source: str = "the working tree") -> str:
    """The report as Markdown: versions that differ from the pins, then each failing test and what broke it.

    `fixed_by` maps a failing test to the packages whose pin, put back alone, made it pass again; `flaky`
    holds the failing tests that passed when rerun unchanged; `untried` the packages whose pin could not be
    tried, and why; `source` names what was tested."""
    lines = [f"# Newest releases against the course's tests ({minutes:.0f} min)", "",
             f"Tested: {source}. Held at their pins: {', '.join(sorted(HELD))}.", ""]
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
        names = fixed_by.get(failure.test, [])
        if failure.test in flaky:
            lines.append(f"- `{failure.test}`: flaky, it passed when rerun unchanged.")
            continue
        blame = (f"broken by {', '.join(names)}: passes with {'that pin' if len(names) == 1 else 'any of those pins'} "
                 "put back" if names else "still fails with each changed package put back alone: a combination "
                 "of them, a pin that could not be tried, or not a version change (read its log)")
        first = next((line for line in failure.text.splitlines() if line.strip()), "")
        lines.append(f"- `{failure.test}`: {blame}. {first[:200]}")
    if untried:
        lines += ["", "Pins that could not be tried one at a time, so they are not cleared of the failures above:"]
        lines += [f"- {name}: {why}" for name, why in untried.items()]
    return "\n".join(lines) + "\n"


def _run(command: list[str], log: Path, env: dict[str, str]) -> int:
    with open(log, "a", encoding="utf-8") as out:  # appended: the log keeps every step of the run
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                              cwd=env["PYTHONPATH"]).returncode  # the course folder under test


def _snapshot() -> tuple[Path, str]:
    """(folder, what it holds): a copy of the last commit in the scratch folder, or the course folder itself
    when it is not a git checkout (a downloaded archive)."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        if Path(top).resolve() != ROOT.resolve():  # a copy lying inside another checkout (as this one's is)
            return ROOT, "the working tree"
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ROOT, "the working tree"
    tree = SCRATCH / "tree"
    with tarfile.open(fileobj=io.BytesIO(archive)) as files:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+/3.11.4+: refuse paths that leave the folder
            files.extractall(tree, filter="data")
        else:
            files.extractall(tree)
    return tree, f"commit {commit} (uncommitted edits left out)"


def _pytest(python: Path, arguments: list[str], name: str, env: dict[str, str]) -> list[Failure] | None:
    """The failures of one pytest run in the scratch venv; None when pytest wrote no report (it crashed)."""
    report_xml = SCRATCH / f"{name}.xml"
    report_xml.unlink(missing_ok=True)
    _run([str(python), "-m", "pytest", *arguments, "-q", f"--junitxml={report_xml}"], SCRATCH / f"{name}.log", env)
    return read_failures(report_xml, root=Path(env["PYTHONPATH"])) if report_xml.exists() else None


def _flaky(python: Path, failures: list[Failure], env: dict[str, str]) -> frozenset[str]:
    """The failing tests that pass when rerun with nothing changed: no package can be blamed for those."""
    rerun = _pytest(python, [*rerun_targets(failures), "-m", "not model and not slow"], "rerun", env)
    if rerun is None:
        return frozenset()
    return frozenset({f.test for f in failures} - {f.test for f in rerun})


def _blame(python: Path, changes: list[Change], failures: list[Failure],
           env: dict[str, str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(failing test -> the changed packages whose pin, put back alone, makes it pass again; package -> why its pin
    could not be tried).

    Each trial installs one package at its pin and every other changed package at its newest release, in one pip
    call with dependencies (an old release may need one the new dropped), then restores the newest set."""
    failing = {f.test for f in failures}
    targets = rerun_targets(failures)
    pip = [str(python), "-m", "pip", "install", "-q"]
    newest = [f"{c.name}=={c.installed}" for c in changes]
    fixed_by: dict[str, list[str]] = {}
    untried: dict[str, str] = {}
    for change in changes:
        if change.installed == "not installed":
            continue
        print(f"  {change.name} back to {change.pinned} ...", flush=True)
        trial = [f"{c.name}=={c.pinned if c is change else c.installed}" for c in changes]
        try:
            if _run([*pip, *trial], SCRATCH / "blame.log", env):
                untried[change.name] = "its pin does not install beside the others' newest releases"
                continue
            rerun = _pytest(python, [*targets, "-m", "not model and not slow"], "blame", env)
        finally:
            _run([*pip, *newest], SCRATCH / "blame.log", env)
        if rerun is None:
            untried[change.name] = f"pytest did not start with its pin ({shown(SCRATCH / 'blame.log')})"
            continue
        for test in failing - {f.test for f in rerun}:
            fixed_by.setdefault(test, []).append(change.name)
    return fixed_by, untried


def main() -> int:
    """Build the scratch venv, run the tests there, find what broke them; print and save the report.

    Returns the exit status (0 all passed, 1 something broke, 2 the newest releases would not install)."""
    started = time.perf_counter()
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)  # a fresh venv each time: leftovers would hide a broken install
    SCRATCH.mkdir(parents=True)
    venv, python = SCRATCH / "venv", SCRATCH / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    tree, source = _snapshot()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(tree),  # the course's package from the copy under test, without installing it
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
             SCRATCH / "install.log", env)
    if _run([str(python), "-m", "pip", "install", *install_arguments(requirements)], SCRATCH / "install.log", env):
        print(f"pip could not install the newest releases together; read {shown(SCRATCH / 'install.log')}.")
        return 2
    installed = json.loads(subprocess.run([str(python), "-c", _INVENTORY], capture_output=True, text=True,
                                          check=True, env=env).stdout)
    changes = version_changes(requirements, installed)
    failures, fixed_by, untried, flaky = [], {}, {}, frozenset()
    try:
        print("Running the unit tests, then chapter 00 ...", flush=True)
        for name, arguments in (("unit", ["tests", "-m", "not model and not slow"]),
                                ("ch00", ["solutions/00_setup.ipynb"])):
            found = _pytest(python, arguments, name, env)
            failures += found if found is not None else [Failure(name, f"pytest wrote no report: read "
                                                                       f"{shown(SCRATCH / (name + '.log'))}.")]
        if failures:
            print(f"{len(failures)} failing; rerunning them unchanged ...", flush=True)
            flaky = _flaky(python, failures, env)
        if steady := [f for f in failures if f.test not in flaky and changes]:
            print("Putting each changed package back to its pin in turn ...", flush=True)
            fixed_by, untried = _blame(python, changes, steady, env)
    finally:  # leave no server behind: it holds both cores' worth of threads
        subprocess.run([str(python), "-m", "aieng", "stop"], env=env, capture_output=True)
    text = format_report(changes, failures, fixed_by, (time.perf_counter() - started) / 60, flaky=flaky,
                         untried=untried, source=source)
    write_atomic(SCRATCH / "report.md", text)
    print(text + f"\n(saved in {shown(SCRATCH / 'report.md')}; logs beside it)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
