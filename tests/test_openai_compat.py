import json

import pytest

from aieng import openai_compat as compat

TOOLS = [
    {"type": "function", "function": {"name": "lookup_order", "description": "Find an order.",
                                      "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                                                     "required": ["order_id"]}}},
    {"type": "function", "function": {"name": "ping", "description": "No arguments."}},
]


def test_json_schema_becomes_llama_json_object_with_schema():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    got = compat.llama_response_format({"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}})
    assert got == {"type": "json_object", "schema": schema}


def test_text_and_missing_formats_mean_unconstrained():
    assert compat.llama_response_format(None) is None
    assert compat.llama_response_format({"type": "text"}) is None
    assert compat.llama_response_format({"type": "json_object"}) == {"type": "json_object"}


def test_unknown_format_is_rejected_with_the_valid_choices():
    with pytest.raises(ValueError, match="json_schema"):
        compat.llama_response_format({"type": "yaml"})


def test_strict_json_escapes_raw_control_characters():
    raw = '{"reply": "line one\nline two\tend"}'
    with pytest.raises(ValueError):
        json.loads(raw)
    assert json.loads(compat.strict_json(raw)) == {"reply": "line one\nline two\tend"}


def test_strict_json_leaves_valid_and_non_json_text_alone():
    assert compat.strict_json('{"a": 1}') == '{"a": 1}'
    assert compat.strict_json('{"a": "cut off') == '{"a": "cut off'


def test_messages_with_tool_history_become_template_roles():
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Where is ORD-12345?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id": "ORD-12345"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"status": "paid"}'},
    ]
    got = compat.normalize_messages(messages)
    assert [m["role"] for m in got] == ["system", "user", "assistant", "user"]
    assert "lookup_order" in got[2]["content"] and got[3]["content"].startswith("Result of lookup_order")
    assert all(isinstance(m["content"], str) for m in got)


def test_unknown_role_is_rejected():
    with pytest.raises(ValueError, match="role"):
        compat.normalize_messages([{"role": "robot", "content": "hi"}])


@pytest.mark.parametrize("choice, mode", [
    (None, ("choose", None)), ("auto", ("choose", None)), ("none", ("text", None)),
    ("required", ("require", None)), ({"type": "function", "function": {"name": "ping"}}, ("call", "ping")),
])
def test_tool_choice_modes(choice, mode):
    assert compat.tool_choice_mode(TOOLS, choice) == mode


def test_no_tools_means_text_and_unknown_tool_is_named():
    assert compat.tool_choice_mode(None, "auto") == ("text", None)
    with pytest.raises(ValueError, match="lookup_order, ping"):
        compat.tool_choice_mode(TOOLS, {"type": "function", "function": {"name": "refund"}})


def test_selection_schema_offers_plain_text_only_for_auto():
    assert compat.tool_selection_schema(TOOLS, allow_text=True)["properties"]["tool"]["enum"] == ["lookup_order", "ping", "none"]
    assert compat.tool_selection_schema(TOOLS, allow_text=False)["properties"]["tool"]["enum"] == ["lookup_order", "ping"]


def test_tool_without_parameters_gets_an_empty_object_schema():
    assert compat.tool_schema(TOOLS, "ping") == {"type": "object", "properties": {}}


def test_tool_call_has_openai_shape_and_strict_arguments():
    call = compat.tool_call("lookup_order", '{"order_id": "ORD-1\n"}')
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert json.loads(call["function"]["arguments"]) == {"order_id": "ORD-1\n"}
