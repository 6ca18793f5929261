import json

import pytest

from aieng import openai_compat as compat

TOOLS = [
    {"type": "function", "function": {"name": "lookup_order", "description": "Find an order.",
                                      "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                                                     "required": ["order_id"]}}},
    {"type": "function", "function": {"name": "ping", "description": "No arguments."}},
]


def request(**fields):
    return compat.parse_request({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields})


def test_json_schema_and_json_object_give_the_schema_a_reply_must_meet():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    got = request(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}})
    assert compat.output_schema(got.response_format) == schema
    assert compat.output_schema(request(response_format={"type": "json_object"}).response_format) == {"type": "object"}
    assert compat.output_schema(request(response_format={"type": "json_object", "schema": schema}).response_format) == schema


def test_text_and_missing_formats_mean_unconstrained():
    assert compat.output_schema(request().response_format) is None
    assert compat.output_schema(request(response_format={"type": "text"}).response_format) is None


def test_unknown_format_is_rejected_with_the_valid_choices():
    with pytest.raises(compat.APIError, match="json_schema") as caught:
        request(response_format={"type": "yaml"})
    assert caught.value.status == 400 and caught.value.param == "response_format.type"
    assert caught.value.body()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("fields, param", [
    ({"max_tokens": 0}, "max_tokens"), ({"temperature": 3}, "temperature"), ({"top_p": -0.1}, "top_p"),
    ({"n": 3}, "n"), ({"logprobs": True}, "logprobs"), ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"tool_choice": "sometimes"}, "tool_choice"), ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": TOOLS + TOOLS}, "tools"), ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].type"),
])
def test_requests_the_server_cannot_honour_are_named(fields, param):
    with pytest.raises(compat.APIError) as caught:
        request(**fields)
    assert caught.value.status == 400 and caught.value.param == param, caught.value.message


def test_a_valid_request_keeps_its_fields():
    got = request(max_tokens=5, stop="END", tools=TOOLS, tool_choice={"type": "function", "function": {"name": "ping"}},
                  user="ignored-extra-field")
    assert got.max_tokens == 5 and got.stop == "END" and got.tool_choice.function.name == "ping"


def test_a_schema_becomes_a_grammar_and_one_it_cannot_express_is_refused():
    assert "root" in compat.grammar_for({"type": "object", "properties": {"a": {"type": "integer"}}}, param="p")
    with pytest.raises(compat.APIError, match="must start with") as caught:
        compat.grammar_for({"type": "string", "pattern": "[0-9]+"}, param="response_format")
    assert caught.value.code == "unsupported_schema" and caught.value.param == "response_format"
    with pytest.raises(compat.APIError, match="not a valid JSON schema"):
        compat.grammar_for({"type": "strin"}, param="p")


def test_schema_problem_names_the_violation_or_none():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 5}}, "required": ["n"]}
    assert compat.schema_problem('{"n": 3}', schema) is None
    assert "maximum" in compat.schema_problem('{"n": 7}', schema) and "at n" in compat.schema_problem('{"n": 7}', schema)
    assert "required" in compat.schema_problem("{}", schema)
    assert "not valid JSON" in compat.schema_problem('{"n": ', schema)


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


def _id_schema(pattern):
    return {"type": "object", "properties": {"id": {"type": "string", "pattern": pattern}}, "required": ["id"],
            "additionalProperties": False}


@pytest.mark.parametrize("shorthand, spelled", [(r"^ORD-\d{5}$", r"^ORD-[0-9]{5}$"), (r"^[\d-]{3}$", r"^[0-9-]{3}$"),
                                                (r"^\w+$", r"^[a-zA-Z0-9_]+$")])
def test_class_shorthands_in_a_pattern_give_the_grammar_of_the_class_written_out(shorthand, spelled):
    """llama-cpp-python's converter copies \\d into the grammar as text ("ORD-\\dORD-\\d..."), which llama.cpp
    cannot parse mid-request; the serving layer spells the class out first."""
    grammar = compat.grammar_for(_id_schema(shorthand), param="response_format")
    assert "\\d" not in grammar and "\\w" not in grammar
    assert grammar == compat.grammar_for(_id_schema(spelled), param="response_format")


def test_a_negated_class_shorthand_is_refused_with_what_to_write():
    with pytest.raises(compat.APIError, match=r"\[\^0-9\]") as caught:
        compat.grammar_for(_id_schema(r"^\D+$"), param="response_format")
    assert caught.value.status == 400


def test_escaped_punctuation_is_spelled_as_a_class_and_an_unreadable_escape_is_a_400():
    assert compat._spelled_out(r"^[^@\s]{1,64}@[a-z]+\.[a-z]{2,}$", param="p") == r'^[^"\\@ \t\n\r]{1,64}@[a-z]+[.][a-z]{2,}$'
    with pytest.raises(compat.APIError, match=r"\\b") as caught:  # \b survives the converter as text: refused
        compat.grammar_for(_id_schema(r"^a\bc$"), param="response_format")
    assert caught.value.status == 400


def test_every_support_tool_schema_converts_to_a_grammar_llama_cpp_can_read():
    from aieng import support_tools

    for spec in support_tools.TOOLS.values():
        grammar = compat.grammar_for(spec.parameters, param="tools")
        assert not compat._GBNF_UNKNOWN_ESCAPE.findall(grammar), spec.name


def test_a_negated_class_never_admits_a_raw_quote_or_backslash_into_the_json_string():
    import re

    spelled = re.compile(compat._spelled_out(r"^[^@\s]{1,64}@x$", param="p"))
    assert spelled.match("ann@x") and not spelled.match('a"nn@x') and not spelled.match("a\\nn@x")


def test_a_long_max_length_stays_out_of_the_grammar_and_a_short_one_stays_in():
    def grammar(n):
        return compat.grammar_for({"type": "object", "properties": {"body": {"type": "string", "maxLength": n}},
                                   "required": ["body"]}, param="response_format")
    assert grammar(compat.GRAMMAR_MAX_LENGTH + 1) == grammar(10**6)  # unbounded in the grammar, checked on the reply
    assert grammar(20) != grammar(10**6)
