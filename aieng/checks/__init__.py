"""Exercise checks: call one after your answer, e.g. `checks.build_messages(build_messages)`.

Each check prints what is right, what is wrong with a hint, or that the exercise is not
attempted yet. The answers stay in solutions/; no feedback reveals them.
"""

from aieng.checks._result import STRICT_ENV, Result
from aieng.checks.ch00 import build_messages, reply_text

__all__ = ["STRICT_ENV", "Result", "build_messages", "reply_text"]
