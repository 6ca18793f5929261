"""Exercise checks: call one after your answer, e.g. `checks.build_messages(build_messages)`.

Each check prints what is right, what is wrong with a hint, or that the exercise is not
attempted yet. The answers stay in solutions/; no feedback reveals them. One module per
chapter (`ch00.py`, `ch01.py`, ...), and `concepts.py` for the questions that end every chapter;
every name in such a module's `__all__` is a check.
"""

import importlib
import pkgutil

from aieng.checks._result import STRICT_ENV, Result

__all__ = ["STRICT_ENV", "Result"]

_MODULES = [m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ch") or m.name == "concepts"]
for _module in sorted(_MODULES):
    _chapter = importlib.import_module(f"{__name__}.{_module}")
    for _name in _chapter.__all__:
        globals()[_name] = getattr(_chapter, _name)
        __all__.append(_name)
