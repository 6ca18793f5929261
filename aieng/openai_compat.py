"""Pure translations between OpenAI's chat API and what llama-cpp-python accepts.

The local server (`aieng.serving`) uses these to cover the gaps of llama-cpp-python:
- `response_format={"type": "json_schema", ...}` becomes llama's `json_object` + `schema`;
- `tools` + `tool_choice` become schema-constrained steps whose result maps back to `tool_calls`;
- JSON produced under a grammar can hold raw control characters inside strings, which
  `json.loads` rejects: `strict_json` re-encodes it before the reply leaves the server.
No model and no I/O here, so every rule is unit-tested on its own.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

__all__ = [
    "NO_TOOL",
    "llama_response_format",
    "strict_json",
    "normalize_messages",
    "tool_schema",
    "tool_choice_mode",
    "tool_selection_schema",
    "tool_selection_prompt",
    "tool_call",
]

NO_TOOL = "none"  # the choice "answer in plain text" in the tool-selection step


def llama_response_format(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `response_format` llama-cpp-python understands, from OpenAI's.

    `json_schema` (what `client.chat.completions.parse` sends) becomes `json_object` with the
    schema; `json_object` passes through; `text` or None means unconstrained text."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object", **({"schema": response_format["schema"]} if "schema" in response_format else {})}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        if "schema" not in spec:
            raise ValueError("response_format.json_schema needs a 'schema' object.")
        return {"type": "json_object", "schema": spec["schema"]}
    raise ValueError(f"Unknown response_format type {kind!r}; use 'text', 'json_object' or 'json_schema'.")


def strict_json(text: str) -> str:
    """`text` re-encoded as strict JSON when it is JSON with raw control characters in strings.

    Text that is strict JSON already, or not JSON at all (e.g. cut at max_tokens), comes back
    unchanged, so the caller still sees what the model wrote."""
    try:
        json.loads(text)
        return text
    except ValueError:
        pass
    try:
        value = json.loads(text, strict=False)  # accepts raw newlines/tabs inside strings
    except ValueError:
        return text
    return json.dumps(value, ensure_ascii=False)


def _text_of(content: Any) -> str:
    """Message content as plain text: OpenAI allows a string, None or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def normalize_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messages the model's chat template can render: roles system/user/assistant, string content.

    An assistant turn that called tools becomes a sentence naming the call; a `tool` result
    becomes a user turn that says which tool it came from."""
    call_names: dict[str, str] = {}
    result: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        if role == "developer":
            role = "system"
        text = _text_of(message.get("content"))
        if role == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                fn = call.get("function", {})
                call_names[call.get("id", "")] = fn.get("name", "")
                calls.append(f"{fn.get('name')}({fn.get('arguments', '{}')})")
            text = (text + "\n" if text else "") + "Calling tool: " + "; ".join(calls)
        elif role == "tool":
            name = call_names.get(message.get("tool_call_id", ""), "tool")
            role, text = "user", f"Result of {name}: {text}"
        elif role not in ("system", "user", "assistant"):
            raise ValueError(f"Unsupported message role {role!r}; use system, user, assistant or tool.")
        result.append({"role": role, "content": text})
    return result


def _functions(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for tool in tools:
        if tool.get("type") != "function" or "function" not in tool:
            raise ValueError("Only tools of type 'function' are supported.")
        fn = tool["function"]
        found[fn["name"]] = fn
    return found


def tool_schema(tools: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The JSON schema of the arguments of tool `name` (an empty object when it takes none)."""
    functions = _functions(tools)
    if name not in functions:
        raise ValueError(f"tool_choice names {name!r}, which is not among the tools: {', '.join(functions)}.")
    return functions[name].get("parameters") or {"type": "object", "properties": {}}


def tool_choice_mode(tools: list[dict[str, Any]] | None, tool_choice: Any) -> tuple[str, str | None]:
    """How to answer: ("text", None), ("choose", None) for auto, ("require", None), or ("call", name)."""
    if not tools or tool_choice == "none":
        return "text", None
    if tool_choice in (None, "auto"):
        return "choose", None
    if tool_choice == "required":
        return "require", None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        tool_schema(tools, name)  # raises when the name is unknown
        return "call", name
    raise ValueError(f"Unknown tool_choice {tool_choice!r}; use 'auto', 'none', 'required' or a function.")


def tool_selection_schema(tools: list[dict[str, Any]], *, allow_text: bool) -> dict[str, Any]:
    """Schema of the selection step: {"tool": <one tool name, or "none" when text is allowed>}."""
    names = list(_functions(tools))
    if allow_text:
        names.append(NO_TOOL)
    return {"type": "object", "properties": {"tool": {"type": "string", "enum": names}}, "required": ["tool"]}


def tool_selection_prompt(tools: list[dict[str, Any]], *, allow_text: bool) -> str:
    """System text listing the tools, so the model can pick one in the selection step."""
    lines = ["You can call one of these tools:"]
    for name, fn in _functions(tools).items():
        params = json.dumps((fn.get("parameters") or {}).get("properties", {}))
        lines.append(f"- {name}: {fn.get('description', '').strip()} Parameters: {params}")
    if allow_text:
        lines.append(f'Answer with the tool to call, or "{NO_TOOL}" to reply in plain text.')
    else:
        lines.append("Answer with the tool to call.")
    return "\n".join(lines)


def tool_call(name: str, arguments_json: str) -> dict[str, Any]:
    """One entry of OpenAI's `message.tool_calls`."""
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": strict_json(arguments_json)},
    }
