"""Pure translations between OpenAI's chat API and what llama-cpp-python accepts.

The local server (`aieng.serving`) uses these to answer like OpenAI where llama-cpp-python does not:
- `parse_request` validates a request with Pydantic (`ChatRequest`); bad input becomes an
  `APIError` (400, OpenAI's error shape, the parameter named), never a 500;
- a JSON schema (`response_format`, a tool's parameters) becomes a decoding grammar with
  `grammar_for`; a schema the grammar cannot express is rejected, never loosened to "any JSON";
- `schema_problem` checks every constrained reply against the client's schema before it leaves;
- `tools` + `tool_choice` become schema-constrained steps whose result maps back to `tool_calls`;
- JSON produced under a grammar can hold raw control characters inside strings, which
  `json.loads` rejects: `strict_json` re-encodes it before the reply leaves the server.
No model and no I/O here, so every rule is unit-tested on its own.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "NO_TOOL",
    "APIError",
    "ChatRequest",
    "parse_request",
    "output_schema",
    "grammar_for",
    "schema_problem",
    "strict_json",
    "normalize_messages",
    "tool_schema",
    "tool_choice_mode",
    "tool_selection_schema",
    "tool_selection_prompt",
    "tool_call",
]

NO_TOOL = "none"  # the choice "answer in plain text" in the tool-selection step


class APIError(Exception):
    """An error the server answers with, in OpenAI's shape: HTTP status, message, type, param, code."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict[str, Any]:
        """`{"error": {...}}` as OpenAI sends it."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


# ---------------------------------------------------------------- the request, validated

class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ContentPart(_Strict):
    """One part of a message's content; the local model reads text parts only."""

    type: Literal["text"]
    text: str


class FunctionCall(_Strict):
    """A call an assistant turn made: the tool's name and its arguments as JSON text."""

    name: str
    arguments: str = "{}"


class ToolCall(_Strict):
    """One entry of an assistant turn's `tool_calls`."""

    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Strict):
    """One chat turn."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionSpec(_Strict):
    """A tool's name (OpenAI's rule: letters, digits, _ and -, at most 64), description and parameter schema."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Strict):
    """One entry of `tools`."""

    type: Literal["function"]
    function: FunctionSpec


class _Name(_Strict):
    name: str


class NamedToolChoice(_Strict):
    """`tool_choice` naming one function."""

    type: Literal["function"] = "function"
    function: _Name


class JsonSchemaSpec(_Strict):
    """`response_format.json_schema`: a name and the schema itself."""

    name: str = "response"
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(_Strict):
    """`response_format`: text, any JSON object (optionally under `schema`), or a named JSON schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")  # llama-cpp-python's json_object extension


class StreamOptions(_Strict):
    """`stream_options`."""

    include_usage: bool = False


class ChatRequest(_Strict):
    """A chat completion request as the local server accepts it (OpenAI's names, types and ranges)."""

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[int, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict"}


def _param(loc: tuple[Any, ...]) -> str:
    """`('messages', 0, 'role')` -> `messages[0].role`, without the type tags Pydantic adds for unions."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[a-z_][a-z0-9_]*", str(part)) and part not in _TYPE_TAGS:
            text += ("." if text else "") + str(part).rstrip("_")
    return text or "body"


def _from_validation(err: ValidationError) -> APIError:
    errors = err.errors(include_url=False)
    first = max(errors, key=lambda e: len(e["loc"]))  # in a union, the branch that got furthest says most
    param = _param(first["loc"])
    message = f"Invalid '{param}': {first['msg']}."
    if first["type"] not in ("missing",) and not isinstance(first.get("input"), dict | list):
        message = message[:-1] + f" (got {first.get('input')!r:.80})."
    if len(errors) > 1 and len({e["loc"][:1] for e in errors}) > 1:
        message += f" {len(errors) - 1} more problem(s) in the request."
    return APIError(400, message, param=param)


def parse_request(body: Any) -> ChatRequest:
    """The validated request; APIError (400) naming the parameter when it breaks OpenAI's rules
    or asks for what the local server cannot do (several choices, logprobs, a tool it was not given)."""
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object with 'model' and 'messages'.")
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as err:
        raise _from_validation(err) from None
    if (request.n or 1) != 1:
        raise APIError(400, "The local server returns one choice per request: leave n at 1.", param="n")
    if request.logprobs:
        raise APIError(400, "The local server does not return logprobs: leave logprobs unset.", param="logprobs")
    if isinstance(request.stop, list) and len(request.stop) > 4:
        raise APIError(400, "At most 4 stop sequences are allowed.", param="stop")
    names = [tool.function.name for tool in request.tools or []]
    if len(set(names)) < len(names):
        raise APIError(400, f"Two tools share a name ({', '.join(names)}); each tool needs its own.", param="tools")
    if NO_TOOL in names:
        raise APIError(400, f"A tool may not be named {NO_TOOL!r} here: the server uses that word for "
                            "'reply in text'. Rename the tool.", param="tools")
    if request.tool_choice not in (None, "none", "auto") and not names:
        raise APIError(400, "tool_choice names a tool, but the request has no tools: pass tools=[...] too.",
                       param="tool_choice")
    if isinstance(request.tool_choice, NamedToolChoice) and request.tool_choice.function.name not in names:
        raise APIError(400, f"tool_choice names {request.tool_choice.function.name!r}, which is not among the "
                            f"tools: {', '.join(names)}.", param="tool_choice")
    if request.response_format and request.response_format.type == "json_schema" and not request.response_format.json_schema:
        raise APIError(400, "response_format of type 'json_schema' needs a 'json_schema' object with a 'schema'.",
                       param="response_format.json_schema")
    return request


def output_schema(response_format: ResponseFormat | None) -> dict[str, Any] | None:
    """The JSON schema a reply must meet: None for plain text, any object for `json_object` without a schema."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return response_format.schema_ if response_format.schema_ is not None else {"type": "object"}
    return response_format.json_schema.schema_ if response_format.json_schema else {"type": "object"}


# ---------------------------------------------------------------- schemas, grammars, replies

def grammar_for(schema: Any, *, param: str) -> str:
    """The GBNF grammar that constrains decoding to `schema`.

    APIError (400) when the schema is not a valid JSON schema, or uses something the grammar
    cannot express: llama-cpp-python would then silently allow any JSON instead."""
    import jsonschema

    if not isinstance(schema, dict):
        raise APIError(400, f"'{param}' must be a JSON schema object.", param=param)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as err:
        raise APIError(400, f"'{param}' is not a valid JSON schema: {err.message}.", param=param) from None
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        grammar = json_schema_to_gbnf(json.dumps(_patterns_spelled_out(schema, param=param)))
        if unknown := sorted(set(_GBNF_UNKNOWN_ESCAPE.findall(grammar))):
            # llama.cpp refuses these only once the request runs, and takes the server down with it.
            raise ValueError(f"the grammar would hold the escapes {', '.join(unknown)}, which llama.cpp cannot read")
        return grammar
    except Exception as err:  # noqa: BLE001 - the converter raises AssertionError, ValueError, KeyError, ...
        detail = str(err).strip() or type(err).__name__
        raise APIError(400, f"'{param}' cannot be turned into a decoding grammar ({detail[:200]}), so the reply "
                            "could not be held to it. Simplify that part of the schema (a pattern must start "
                            "with ^ and end with $; $ref must point inside the schema).",
                       param=param, code="unsupported_schema") from None


# llama-cpp-python's converter copies `\d`, `\w` and `\s` into the grammar as literal text (`^ORD-\d{5}$` becomes
# "ORD-\dORD-\d..."), which llama.cpp then fails to parse mid-request. Spelled out as classes they convert cleanly;
# replies are still validated against the schema the client sent.
# An escape llama.cpp's grammar parser cannot read (it knows only \\ \" \[ \] \n \r \t \x \u \U).
_GBNF_UNKNOWN_ESCAPE = re.compile(r'(?<!\\)(?:\\\\)*(\\[^\\"\[\]nrtxuU])')
_PLAIN_PUNCTUATION = set(".+*?(){}|/$@#%&=!:,;<>~'`")
_CLASS_ESCAPES = {"d": "0-9", "w": "a-zA-Z0-9_", "s": " \\t\\n\\r"}


def _spelled_out(pattern: str, *, param: str) -> str:
    """`pattern` with \\d, \\w and \\s written as character classes; negated ones (\\D, \\W, \\S) refused."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            if escaped in _CLASS_ESCAPES:
                body = _CLASS_ESCAPES[escaped]
                out.append(body if in_class else f"[{body}]")
            elif escaped in _PLAIN_PUNCTUATION:  # \. is a literal dot: [.] says the same without an escape
                out.append(escaped if in_class else f"[{escaped}]")
            elif escaped in "DWS":
                raise APIError(400, f"'{param}' has a pattern with \\{escaped}, which the decoding grammar cannot "
                                    f"express: write the class out (for example [^0-9] for \\D).",
                               param=param, code="unsupported_schema")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            if pattern.startswith("[^", i):  # a raw " or \ would end or break the JSON string the grammar writes
                out.append('[^"\\\\')
                i += 2
                continue
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


# llama.cpp refuses a grammar whose repetitions multiply past its limit (a maxLength of 1,200 beside another string
# did), again taking the server down. Longer bounds stay out of the grammar and are checked on the reply instead.
GRAMMAR_MAX_LENGTH = 500


def _patterns_spelled_out(node: Any, *, param: str) -> Any:
    """A copy of the schema for the grammar converter: every `pattern` spelled out, long `maxLength`s left out."""
    if isinstance(node, dict):
        return {key: _spelled_out(value, param=param) if key == "pattern" and isinstance(value, str)
                else _patterns_spelled_out(value, param=param) for key, value in node.items()
                if not (key == "maxLength" and isinstance(value, int) and value > GRAMMAR_MAX_LENGTH)}
    if isinstance(node, list):
        return [_patterns_spelled_out(value, param=param) for value in node]
    return node


def schema_problem(text: str, schema: dict[str, Any]) -> str | None:
    """What is wrong with `text` as a reply under `schema` (not JSON, or its first violation); None when valid."""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError as err:
        return f"it is not valid JSON ({err})"
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(map(str, error.absolute_path)) or "the top level"
    return f"at {where}: {error.message[:200]}"


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


# ---------------------------------------------------------------- messages and tools

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
        lines.append(f"- {name}: {(fn.get('description') or '').strip()} Parameters: {params}")
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
