"""Fine-tuning (aieng.finetune, aieng.tuned_model): the SFT set, LoRA on the frozen-bottom model,
the merged GGUF, and the tuned model served by the local server beside the bundled one."""

from __future__ import annotations

import os
import random

import numpy as np
import pandas as pd
import pytest

from aieng import backend, classic, data, finetune, local_server, routers, tuned_model


# ---------------------------------------------------------------- the data set (no model)

def test_a_chat_example_is_system_short_ticket_and_queue_name():
    text = "word " * 100
    example = finetune.chat_example(text, "billing")["messages"]
    assert [m["role"] for m in example] == ["system", "user", "assistant"]
    assert example[0]["content"] == finetune.SYSTEM_PROMPT
    assert len(example[1]["content"].split()) == finetune.MAX_WORDS
    assert example[2]["content"] == "billing"
    with pytest.raises(ValueError, match="Unknown queue 'biling'.*billing"):
        finetune.chat_example(text, "biling")


def test_feedback_gives_labels_for_thumbs_up_and_corrections_only():
    feedback = data.load_seed_feedback()
    rows = finetune.feedback_examples(feedback)
    up = feedback["rating"] == "up"
    corrected = (feedback["rating"] == "down") & feedback["corrected_intent"].notna()
    assert len(rows) == int(up.sum() + corrected.sum()) < len(feedback)
    assert set(rows["queue"]) <= set(data.INTENTS)
    first_correction = feedback[corrected].iloc[0]
    row = rows[rows["text"] == first_correction["ticket"]].iloc[0]
    assert row["queue"] == first_correction["corrected_intent"] != first_correction["proposed_intent"]


def test_near_duplicates_flags_a_copy_not_a_ticket_on_the_same_topic():
    held_out = ["Charged twice for March, our card was charged two times for the March invoice, please refund one."]
    texts = [held_out[0].replace("please", "kindly"), "Charged for a plan we cancelled in January, please refund it."]
    assert finetune.near_duplicates(texts, held_out).tolist() == [True, False]


def test_the_sft_set_holds_out_validation_and_test_and_their_near_duplicates():
    train, test, validation = (data.load_tickets(s) for s in ("train", "test", "validation"))
    planted = test.iloc[[0]].assign(body=test["body"].iloc[0] + " Thanks!")  # a near copy of a test ticket
    sft = finetune.build_sft_set(pd.concat([train, planted]), data.load_seed_feedback(),
                                 exclude=pd.concat([test, validation]))
    held_out = set(classic.ticket_text(pd.concat([test, validation])))
    assert not set(sft["text"]) & held_out
    assert not finetune.near_duplicates(sft["text"].tolist(), list(held_out)).any()
    assert classic.ticket_text(planted).iloc[0] not in set(sft["text"])
    assert {"train", "feedback"} == set(sft["source"]) and len(sft) > len(train) - 5
    assert all(m[-1]["content"] == q for m, q in zip(sft["messages"], sft["queue"]))


def test_the_bundled_model_wins_among_several_models_unless_aieng_model_names_another(monkeypatch):
    from test_backend import _FakeEndpoint  # noqa: F401 - the fixture's handler, reused below
    import threading
    from http.server import ThreadingHTTPServer

    models = ["fine-tuned-lora-64", local_server.MODEL_NAME, "other-model"]
    handler = type("Handler", (_FakeEndpoint,), {"status": 200, "models": models})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.delenv("AIENG_MODEL", raising=False)
        assert backend.connect(verbose=False).model == local_server.MODEL_NAME
        monkeypatch.setenv("AIENG_MODEL", "fine-tuned-lora-64")
        assert backend.connect(verbose=False).model == "fine-tuned-lora-64"
    finally:
        server.shutdown()


# ---------------------------------------------------------------- the model (loads it once, trains a few steps)

N_EXAMPLES = 48
TOP_LAYERS = 3


@pytest.fixture(scope="module")
def trained():
    """A LoRA on the last 3 layers, trained on 48 examples until it routes them better than before."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    tokenizer, model = finetune.load_model()
    tuned = finetune.add_lora(model, rank=16, top_layers=TOP_LAYERS)
    frozen = finetune.FrozenBottom(tuned, top_layers=TOP_LAYERS)
    sft = finetune.build_sft_set(data.stratified_sample(data.load_tickets("train"), N_EXAMPLES, seed=0))
    batches = frozen.batches(tokenizer, sft, batch_size=8)
    assert frozen.seconds == 0 and not frozen._cache  # nothing runs until training asks for a batch
    optimizer = torch.optim.AdamW([p for p in tuned.parameters() if p.requires_grad], lr=5e-3)
    losses = []
    for epoch in range(8):
        random.Random(epoch).shuffle(batches)
        for batch in batches:
            tuned.train()
            loss = frozen.loss(tuned, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    yield tokenizer, tuned, frozen, sft, losses, batches
    torch.set_num_threads(threads)


@pytest.mark.model
@pytest.mark.slow
def test_training_lowers_the_loss_and_label_likelihood_routes_the_training_tickets(trained):
    tokenizer, tuned, frozen, sft, losses, batches = trained
    assert np.mean(losses[-6:]) < 0.3 * np.mean(losses[:6])
    tickets = pd.DataFrame({"id": range(len(sft)), "subject": sft["text"], "body": "", "intent": sft["queue"]})
    after = routers.evaluate(finetune.LikelihoodRouter(tuned, tokenizer, frozen, labels_used=len(sft)), tickets)
    before = routers.evaluate(finetune.LikelihoodRouter(tuned, tokenizer, frozen, labels_used=len(sft),
                                                        adapter=False), tickets)
    majority = sft["queue"].value_counts(normalize=True).iloc[0]
    assert after.accuracy >= max(before.accuracy, majority) + 0.2, (before.accuracy, after.accuracy)
    assert after.router_id == f"fine-tuned:lora-{len(sft)}" and after.labels_used == len(sft)
    assert before.labels_used == 0


@pytest.mark.model
@pytest.mark.slow
def test_batches_group_examples_of_similar_length_and_cover_the_set_once(trained):
    tokenizer, tuned, frozen, sft, losses, batches = trained
    assert sorted(len(b) for b in batches)[-1] == 8 and sum(len(b) for b in batches) == len(sft)
    lengths = [[len(row) for row in b.rows] for b in batches]
    assert sum(max(ls) - min(ls) for ls in lengths) < sum(max(ls) for ls in lengths) / 4  # little padding
    assert [min(ls) for ls in lengths] != sorted(min(ls) for ls in lengths)  # the batch order is shuffled
    hidden, mask = batches[0].states()
    assert hidden.dtype.is_floating_point and str(hidden.dtype) == "torch.float32"
    assert hidden.shape[:2] == mask.shape == (len(batches[0]), max(lengths[0])) and frozen.seconds > 0


@pytest.mark.model
@pytest.mark.slow
def test_the_merged_gguf_keeps_untouched_tensors_and_orders_q_rows_as_llama_cpp(trained, tmp_path):
    import gguf

    tokenizer, tuned, frozen, sft, losses, batches = trained
    path = tuned_model.write_merged_gguf(tuned, "fine-tuned-test", path=tmp_path / "fine-tuned-test.gguf")
    base = {t.name: t for t in gguf.GGUFReader(str(local_server.model_path())).tensors}
    merged = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    assert base.keys() == merged.keys()
    last = tuned.base_model.model.config.num_hidden_layers - 1
    assert bytes(merged["blk.0.attn_q.weight"].data) == bytes(base["blk.0.attn_q.weight"].data)  # not adapted
    changed = merged[f"blk.{last}.attn_q.weight"]
    assert changed.tensor_type == gguf.GGMLQuantizationType.F16
    layer = tuned.base_model.model.model.layers[last].self_attn.q_proj
    hf_weights = (layer.base_layer.weight + layer.get_delta_weight("default")).detach().numpy()
    n_head = tuned.base_model.model.config.num_attention_heads
    np.testing.assert_allclose(np.asarray(changed.data, dtype=np.float32), tuned_model._permute(hf_weights, n_head),
                               atol=2e-3)
    with pytest.raises(ValueError, match="Model name"):
        tuned_model.write_merged_gguf(tuned, "no spaces/allowed")


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    """The tuned model merged, installed beside the bundled one on the course's local server."""
    tokenizer, tuned, frozen, sft, losses, batches = trained
    name = f"fine-tuned-test-{os.getpid()}"
    path = tuned_model.write_merged_gguf(tuned, name, path=tmp_path_factory.mktemp("gguf") / f"{name}.gguf")
    assert tuned_model.install(path) == name
    yield name
    tuned_model.uninstall(name)


@pytest.mark.model
@pytest.mark.slow
def test_the_local_server_answers_with_the_tuned_model_by_name(llm, served, trained):
    tokenizer, tuned, frozen, sft, losses, batches = trained
    listed = [m.id for m in llm.client.models.list()]
    assert local_server.MODEL_NAME in listed and served in listed
    text = sft["text"].iloc[0]
    replies = {}
    for model in (served, llm.model):
        completion = llm.client.chat.completions.create(model=model, messages=finetune.routing_messages(text),
                                                        max_tokens=8, temperature=0)
        assert completion.model == model
        replies[model] = completion.choices[0].message.content.strip()
    assert replies[served] in data.INTENTS  # the tuned model answers with a queue name...
    assert replies[llm.model] not in data.INTENTS  # ...which the bundled one never does


@pytest.mark.model
@pytest.mark.slow
def test_the_served_router_agrees_with_the_in_process_scoring(llm, served, trained):
    tokenizer, tuned, frozen, sft, losses, batches = trained
    texts = sft["text"].iloc[:12].tolist()  # tickets it was trained on: confident, so no near-ties between queues
    in_process = finetune.LikelihoodRouter(tuned, tokenizer, frozen, labels_used=len(sft)).route(texts)
    router = tuned_model.FineTunedRouter(llm.client, served, finetune.label_first_tokens(tokenizer), len(sft))
    assert isinstance(router, routers.Router) and router.id == f"fine-tuned:lora-{len(sft)}"
    through_server = router.route(texts)
    agree = sum(a.queue == b.queue for a, b in zip(in_process, through_server))
    assert agree >= len(texts) - 1, ([r.queue for r in in_process], [r.queue for r in through_server])


@pytest.mark.model
@pytest.mark.slow
def test_aieng_model_picks_the_tuned_model_on_the_local_server(llm, served, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("AIENG_MODEL", raising=False)
    assert backend.connect(verbose=False).model == local_server.MODEL_NAME
    monkeypatch.setenv("AIENG_MODEL", served)
    assert backend.connect(verbose=False).model == served
    monkeypatch.setenv("AIENG_MODEL", "no-such-model")
    assert backend.connect(verbose=True).model == local_server.MODEL_NAME
    assert "does not serve" in capsys.readouterr().out


class _Replies:
    """A client stand-in whose chat completions answer from a list, recording each request."""

    def __init__(self, replies):
        from types import SimpleNamespace

        self.replies, self.requests = list(replies), []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    def _create(self, **request):
        from types import SimpleNamespace

        self.requests.append(request)
        content = self.replies.pop(0)
        usage = SimpleNamespace(prompt_tokens=10 * len(self.requests), completion_tokens=1)
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=content))], usage=usage)


def test_a_fine_tuned_router_from_its_spec_reads_queue_names_and_refuses_anything_else():
    client = _Replies(["billing", "The queue is billing.", " payroll"])
    router = routers.from_spec({"kind": "fine-tuned", "model": "fine-tuned-lora-64", "labels_used": 64}, client=client)
    assert isinstance(router, routers.Router) and router.id == "fine-tuned:lora-64" and router.labels_used == 64
    assert [r.queue for r in router.route(["a", "b", "c"])] == ["billing", None, "payroll"]
    assert client.requests[0]["model"] == "fine-tuned-lora-64"
    assert client.requests[0]["messages"] == finetune.routing_messages("a")
    with pytest.raises(ValueError, match="served model name"):
        routers.from_spec({"kind": "fine-tuned"}, client=client)


def test_a_fine_tuned_router_with_first_tokens_asks_for_one_biased_token():
    first_tokens = {queue: (i + 100, queue[:3]) for i, queue in enumerate(data.INTENTS)}
    client = _Replies(["pay", "xyz"])
    router = tuned_model.FineTunedRouter(client, "m", first_tokens, labels_used=3)
    assert [r.queue for r in router.route(["a", "b"])] == ["payroll", None]
    request = client.requests[0]
    assert request["max_tokens"] == 1 and request["logit_bias"] == {str(i + 100): 100 for i in range(len(data.INTENTS))}
    assert router.tokens == [(10, 1), (20, 1)]  # (prompt, completion) tokens of each call, as the endpoint counted


def test_bf16_is_used_only_where_the_machine_computes_it_natively(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert finetune.bf16_is_fast() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert finetune.bf16_is_fast() is True
