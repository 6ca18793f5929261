import pytest
from openai.types.chat import ChatCompletion

from aieng import replies
from aieng.errors import ModelOutputError


def _completion(content, finish_reason="stop"):
    return ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}})


def test_json_of_parses_valid_json():
    assert replies.json_of(_completion('{"intent": "billing"}')) == {"intent": "billing"}


def test_invalid_json_gets_a_clear_message_quoting_the_reply():
    with pytest.raises(ModelOutputError, match=r"not valid JSON.*intent: billing"):
        replies.json_of(_completion("intent: billing"))


def test_a_reply_cut_at_max_tokens_is_an_error_that_says_so():
    with pytest.raises(ModelOutputError, match="max_tokens"):
        replies.text_of(_completion('{"intent": "bil', finish_reason="length"))


def test_an_empty_reply_points_at_tool_calls():
    with pytest.raises(ModelOutputError, match="tool"):
        replies.text_of(_completion(None))
