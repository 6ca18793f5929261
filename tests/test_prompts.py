"""Prompts as versioned files: loading, listing, clear errors, and what each version promises."""

import re

import pytest

from aieng import data, prompts


def test_triage_has_a_bad_a_zero_shot_and_a_few_shot_version_in_natural_order():
    assert prompts.versions("triage")[:3] == ["v0-bad", "v1", "v2"]


def test_load_returns_the_body_without_front_matter():
    prompt = prompts.load("triage", "v1")
    assert (prompt.name, prompt.version, prompt.id) == ("triage", "v1", "triage-v1")
    assert prompt.path.name == "triage-v1.md" and prompt.description
    assert not prompt.text.startswith("---") and "name:" not in prompt.text.splitlines()[0]


def test_versions_sort_naturally_and_ignore_other_names(tmp_path):
    for version in ("v10", "v2", "v1"):
        (tmp_path / f"triage-{version}.md").write_text(f"---\nname: triage\nversion: {version}\ndescription: d\n---\nbody")
    (tmp_path / "triage_x-v1.md").write_text("---\nname: triage_x\nversion: v1\ndescription: d\n---\nbody")
    assert prompts.versions("triage", folder=tmp_path) == ["v1", "v2", "v10"]


def test_unknown_names_and_versions_say_what_exists():
    with pytest.raises(ValueError, match=r"Did you mean 'v1'\?.*Versions: v0-bad, v1"):
        prompts.load("triage", "v1.")
    with pytest.raises(ValueError, match="No prompt named 'triag'.*triage"):
        prompts.load("triag", "v1")


@pytest.mark.parametrize("raw, message", [
    ("just a prompt", "no front matter"),
    ("---\nname: t\nversion: v1\n---\nbody", "lacks description"),
    ("---\nname: t\nversion: v1\ndescription: d\n---\n  \n", "body .* is empty"),
])
def test_malformed_files_are_reported(tmp_path, raw, message):
    with pytest.raises(ValueError, match=message):
        prompts.parse(raw, tmp_path / "t-v1.md")


def test_a_file_whose_version_disagrees_with_its_name_is_reported(tmp_path):
    (tmp_path / "triage-v3.md").write_text("---\nname: triage\nversion: v4\ndescription: d\n---\nbody")
    with pytest.raises(ValueError, match="rename it triage-v4.md"):
        prompts.load("triage", "v4", folder=tmp_path)


def test_the_good_versions_name_every_queue_and_the_bad_one_says_it_is_bad():
    for version in ("v1", "v2"):
        text = prompts.load("triage", version).text
        assert all(intent in text for intent in data.INTENTS), version
    bad = prompts.load("triage", "v0-bad")
    assert "regression" in bad.description and "Deliberately worse" in bad.description
    assert sum(intent in bad.text for intent in data.INTENTS) <= 1  # no queue list


def test_few_shot_examples_come_from_the_train_split_with_their_labels():
    train = data.load_tickets("train")
    body_to_intent = dict(zip(train["body"], train["intent"]))
    test_bodies = set(data.load_tickets("test")["body"]) | set(data.load_tickets("validation")["body"])
    examples = re.findall(r'Ticket: (.*)\nAnswer: \{"intent": "(\w+)"', prompts.load("triage", "v2").text)
    assert {intent for _, intent in examples} == set(data.INTENTS)  # one example per queue at least
    for text, intent in examples:
        assert body_to_intent.get(text) == intent, text[:40]
        assert text not in test_bodies


def test_parse_keeps_values_as_written_after_the_first_colon(tmp_path):
    raw = '---\nname: t\nversion: v1\ndescription: "quoted": with a colon\nnot a field\n---\nbody\n'
    prompt = prompts.parse(raw, tmp_path / "t-v1.md")
    assert (prompt.name, prompt.version, prompt.text) == ("t", "v1", "body")
    assert prompt.description == '"quoted": with a colon'


def test_a_front_matter_that_never_closes_is_reported_with_the_prompt_fields(tmp_path):
    with pytest.raises(ValueError, match="t-v1.md has no front matter.*name:, version:, description:"):
        prompts.parse("---\nname: t\nversion: v1\ndescription: d\nbody", tmp_path / "t-v1.md")
