"""Fine-tuning the course's own model to route tickets: the data set, the model, and fast label scoring.

    sft = finetune.build_sft_set(data.load_tickets("train"), feedback, exclude=data.load_tickets("test"))
    tokenizer, model = finetune.load_model()                    # the bundled GGUF, de-quantized (about 15 s)
    tuned = finetune.add_lora(model, rank=16, top_layers=8)      # peft LoRA on the last 8 of 30 layers
    frozen = finetune.FrozenBottom(tuned, top_layers=8)          # the other 22 layers never change...
    batches = frozen.batches(tokenizer, sft, batch_size=8)       # ...so their output is computed once
    loss = frozen.loss(tuned, batches[0]); loss.backward()       # one training step's gradient

The training set is in **chat format**: a system turn, the ticket (its first `MAX_WORDS` words) as
the user turn, the queue name as the assistant's answer, exactly what the served model will see.
A ticket is scored by the **likelihood of each queue label**: one forward pass, then the
probability of each queue name's first token after the prompt (the names' first tokens differ),
instead of generating text. Uses CUDA when present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aieng import classic, data

__all__ = [
    "SYSTEM_PROMPT", "MAX_WORDS", "DUPLICATE_SIMILARITY", "short_ticket", "routing_messages", "chat_example",
    "feedback_examples", "near_duplicates", "build_sft_set", "device", "bf16_is_fast", "load_model", "label_first_tokens",
    "add_lora", "Batch", "FrozenBottom", "LikelihoodRouter",
]

SYSTEM_PROMPT = "Route the support ticket to one queue."
MAX_WORDS = 64  # a ticket's first 64 words (more than half the tickets fit whole): every token costs compute
DUPLICATE_SIMILARITY = 0.6  # TF-IDF cosine at or above which two tickets count as near-duplicates (data tests)


def short_ticket(text: str, max_words: int = MAX_WORDS) -> str:
    """The first `max_words` words of a ticket, whitespace normalised (what the tuned model reads)."""
    return " ".join(str(text).split()[:max_words])


def routing_messages(text: str) -> list[dict[str, str]]:
    """The chat messages that ask the tuned model for a ticket's queue: system turn, then the short ticket."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": short_ticket(text)}]


def chat_example(text: str, queue: str) -> dict[str, list[dict[str, str]]]:
    """One training example in chat format: `{"messages": [system, user, assistant]}`, the answer the queue name."""
    if queue not in data.INTENTS:
        raise ValueError(f"Unknown queue {queue!r}; choose one of: {', '.join(data.INTENTS)}.")
    return {"messages": [*routing_messages(text), {"role": "assistant", "content": queue}]}


def feedback_examples(feedback: pd.DataFrame) -> pd.DataFrame:
    """Labelled tickets from the prototype's feedback: a thumbs-up confirms the proposed queue, a
    thumbs-down with a correction gives the corrected one; a thumbs-down without one teaches nothing.

    Columns: text, queue, source ("feedback")."""
    up = feedback["rating"] == "up"
    corrected = (feedback["rating"] == "down") & feedback["corrected_intent"].notna()
    queue = np.where(up, feedback["proposed_intent"], feedback["corrected_intent"])
    rows = pd.DataFrame({"text": feedback["ticket"], "queue": queue, "source": "feedback"})
    return rows[(up | corrected).to_numpy()].reset_index(drop=True)


def near_duplicates(texts: Sequence[str], others: Sequence[str], *, threshold: float = DUPLICATE_SIMILARITY) -> np.ndarray:
    """For each text, whether some text of `others` is a near-duplicate of it (TF-IDF cosine >= threshold).

    The recipe of the data tests (word 1-2 grams, sublinear tf, fitted on both sets)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    texts, others = list(texts), list(others)
    if not texts or not others:
        return np.zeros(len(texts), dtype=bool)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts + others)
    similarity = cosine_similarity(vectorizer.transform(texts), vectorizer.transform(others))
    return similarity.max(axis=1) >= threshold


def build_sft_set(train: pd.DataFrame, feedback: pd.DataFrame | None = None, *,
                  exclude: pd.DataFrame | None = None) -> pd.DataFrame:
    """The supervised fine-tuning set: labelled train tickets, then feedback labels, minus any
    near-duplicate of a ticket in `exclude` (the test split and the validation split).

    Columns: text, queue, source ("train" or "feedback"), messages (chat format)."""
    rows = pd.DataFrame({"text": classic.ticket_text(train).to_numpy(), "queue": train["intent"].to_numpy(),
                         "source": "train"})
    if feedback is not None and len(feedback):
        rows = pd.concat([rows, feedback_examples(feedback)], ignore_index=True)
    if exclude is not None and len(exclude):
        held_out = list(classic.ticket_text(exclude)) if "subject" in exclude else list(exclude["text"])
        rows = rows[~near_duplicates(rows["text"].tolist(), held_out)].reset_index(drop=True)
    rows["messages"] = [chat_example(t, q)["messages"] for t, q in zip(rows["text"], rows["queue"])]
    return rows


# ---------------------------------------------------------------- the model

def device() -> str:
    """'cuda' when a GPU is usable, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_is_fast() -> bool:
    """Whether this machine computes in bfloat16 natively: a GPU that does, or a CPU with AVX512-BF16 or AMX.

    There the frozen and trainable layers run their matrix products in bfloat16 (about twice as fast on
    2 cores); the weights, the LoRA adapters and the cached states stay float32. Elsewhere, float32."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # an older or other torch build: stay in float32
        return False


def _autocast(enabled: bool) -> Any:
    import torch

    return torch.autocast(device(), dtype=torch.bfloat16, enabled=enabled)


def load_model(path: str | Path | None = None) -> tuple[Any, Any]:
    """(tokenizer, model) from a GGUF file (default: the bundled SmolLM2-135M-Instruct), de-quantized
    to float32 by transformers, in eval mode, on `device()`. About 15 s on 2 cores."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from aieng import local_server

    path = Path(path) if path else local_server.model_path()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return tokenizer, model.to(device()).eval()


def label_first_tokens(tokenizer: Any) -> dict[str, tuple[int, str]]:
    """Each queue's first token as the model writes it at the start of its answer: (id, text).

    Raises when two queues share a first token (then first-token scoring cannot tell them apart)."""
    firsts = {q: tokenizer.encode(q, add_special_tokens=False)[0] for q in data.INTENTS}
    if len(set(firsts.values())) != len(firsts):
        raise ValueError("Two queue names start with the same token: score the whole label instead.")
    return {q: (int(t), tokenizer.decode([t])) for q, t in firsts.items()}


def add_lora(model: Any, *, rank: int = 16, top_layers: int = 8, alpha: int | None = None,
             modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
             seed: int = 0) -> Any:
    """A peft model: LoRA adapters of `rank` on `modules` of the last `top_layers` layers (the rest frozen)."""
    import torch
    from peft import LoraConfig, get_peft_model

    n_layers = model.config.num_hidden_layers
    if not 1 <= top_layers <= n_layers:
        raise ValueError(f"top_layers must be between 1 and {n_layers}; got {top_layers}.")
    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, target_modules=list(modules), lora_dropout=0.0,
                        layers_to_transform=list(range(n_layers - top_layers, n_layers)), task_type="CAUSAL_LM")
    return get_peft_model(model, config)


@dataclass(frozen=True)
class Batch:
    """Training examples for the trainable layers: each example's token ids (prompt and answer) and the
    answer's token ids (n, answer length; -100 = padding). `states()` gives what the frozen layers
    make of them, computed the first time it is asked for and then read from the cache."""

    frozen: FrozenBottom
    rows: tuple[tuple[int, ...], ...]
    labels: Any

    def states(self) -> tuple[Any, Any]:
        """(hidden states (n, length, width) entering the first trainable layer, attention mask (n, length))."""
        return self.frozen.hidden(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _left_pad(rows: Sequence[Sequence[int]], value: int) -> Any:
    import torch

    width = max(len(r) for r in rows)
    return torch.tensor([[value] * (width - len(r)) + list(r) for r in rows])


class FrozenBottom:
    """The frozen lower layers of a model whose LoRA adapters sit only in its last `top_layers` layers.

    Their output for a text never changes during training, so it is computed once per text
    (`hidden`), and each training step or scoring pass runs only the top layers: several times
    cheaper on a CPU. Sequences are padded on the left, so every prompt ends at the last position.
    With `bf16` (default: `bf16_is_fast()`) the layers compute in bfloat16 under autocast."""

    def __init__(self, model: Any, *, top_layers: int, bf16: bool | None = None):
        inner = model
        while not hasattr(inner, "layers"):  # peft model -> causal LM -> decoder stack
            inner = inner.model if hasattr(inner, "model") else inner.base_model
        self._decoder, self._layers, self._norm = inner, inner.layers, inner.norm
        self.cut = len(self._layers) - top_layers
        self._cache: dict[tuple[int, ...], Any] = {}  # token ids -> (length, width) states of the frozen layers
        self.seconds = 0.0  # time spent running the frozen layers (each text once)
        self.bf16 = bf16_is_fast() if bf16 is None else bf16
        if not 0 <= self.cut < len(self._layers):
            raise ValueError(f"top_layers must be between 1 and {len(self._layers)}; got {top_layers}.")

    def _only(self, layers: Any, norm: Any) -> Any:
        from contextlib import contextmanager

        decoder = self._decoder

        @contextmanager
        def swapped():
            decoder.layers, decoder.norm = layers, norm
            try:
                yield
            finally:
                decoder.layers, decoder.norm = self._layers, self._norm

        return swapped()

    def hidden(self, token_rows: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        """(hidden states entering the first trainable layer, attention mask) for token id rows, left-padded.

        Each row's states are kept (keyed by its token ids), so scoring the same tickets again, before
        and after training or for another adapter, runs only the top layers."""
        import torch
        from torch import nn

        import time

        dev = next(self._decoder.parameters()).device
        todo = list(dict.fromkeys(tuple(r) for r in token_rows if tuple(r) not in self._cache))
        started = time.perf_counter()
        if todo:
            ids, mask = _left_pad(todo, 0).to(dev), _left_pad([[1] * len(r) for r in todo], 0).to(dev)
            with torch.no_grad(), _autocast(self.bf16), \
                    self._only(nn.ModuleList(list(self._layers)[:self.cut]), nn.Identity()):
                states = self._decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            for row, state in zip(todo, states.float()):
                self._cache[row] = state[state.shape[0] - len(row):]
            self.seconds += time.perf_counter() - started
        rows = [self._cache[tuple(r)] for r in token_rows]
        width = max(len(r) for r in rows)
        hidden = torch.stack([nn.functional.pad(r, (0, 0, width - len(r), 0)) for r in rows])
        return hidden, _left_pad([[1] * len(r) for r in rows], 0).to(dev)

    def logits(self, model: Any, hidden: Any, mask: Any, *, keep: int = 1) -> Any:
        """Next-token logits at the last `keep` positions (n, keep, vocab), running only the top layers."""
        from torch import nn

        with _autocast(self.bf16), self._only(nn.ModuleList(list(self._layers)[self.cut:]), self._norm):
            logits = model(inputs_embeds=hidden, attention_mask=mask, use_cache=False, logits_to_keep=keep).logits
        return logits.float()

    def batches(self, tokenizer: Any, sft: pd.DataFrame, *, batch_size: int = 8, seed: int = 0) -> list[Batch]:
        """The SFT set (`build_sft_set`) as batches in shuffled order. Nothing runs yet: a batch goes
        through the frozen layers the first time training uses it (once; later epochs read the cache).

        Examples of similar length share a batch (sorted by token count, ties in random order), so
        little compute goes to padding; the order of the batches is shuffled with `seed`."""
        rows = sft.sample(frac=1, random_state=seed)
        encoded = []
        for messages in rows["messages"]:
            prompt = prompt_ids(tokenizer, messages[:-1])
            answer = tokenizer.encode(messages[-1]["content"] + tokenizer.eos_token, add_special_tokens=False)
            encoded.append((tuple(prompt + answer), answer))
        encoded.sort(key=lambda pair: len(pair[0]))  # stable: equal lengths keep the shuffled order
        chunks = [encoded[start:start + batch_size] for start in range(0, len(encoded), batch_size)]
        np.random.default_rng(seed).shuffle(chunks)
        dev = next(self._decoder.parameters()).device
        return [Batch(self, tuple(ids for ids, _ in chunk), _left_pad([a for _, a in chunk], -100).to(dev))
                for chunk in chunks]

    def loss(self, model: Any, batch: Batch) -> Any:
        """Cross-entropy of the answer tokens (the queue name and end of turn) given the prompt."""
        from torch import nn

        hidden, mask = batch.states()
        n_answer = batch.labels.shape[1]
        logits = self.logits(model, hidden, mask, keep=n_answer + 1)[:, :-1, :]
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.labels.reshape(-1),
                                           ignore_index=-100)


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of the chat prompt up to the start of the assistant's answer (the model's own template)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer.encode(text, add_special_tokens=False)


class LikelihoodRouter:
    """A router that runs the (tuned) model in this process and picks the queue whose label is most
    likely after the prompt: one forward pass per ticket, no text generated.

    `adapter=False` scores the model with its LoRA adapters switched off: the model before tuning.
    Its score is the probability of the chosen queue among the queues."""

    def __init__(self, model: Any, tokenizer: Any, frozen: FrozenBottom, *, labels_used: int,
                 adapter: bool = True, batch_size: int = 16):
        self.model, self.tokenizer, self.frozen = model, tokenizer, frozen
        self.adapter, self.batch_size, self._labels_used = adapter, batch_size, labels_used
        firsts = label_first_tokens(tokenizer)
        self._token_ids = [firsts[q][0] for q in data.INTENTS]

    @property
    def id(self) -> str:
        """`fine-tuned:lora-<labels used>`, or `prompted:untuned-labels` for the model before tuning."""
        return f"fine-tuned:lora-{self._labels_used}" if self.adapter else "untuned:label-likelihood"

    @property
    def labels_used(self) -> int:
        """The labelled examples the adapter was trained on (0 before tuning)."""
        return self._labels_used if self.adapter else 0

    def queue_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_queues) probabilities of each queue label, in `data.INTENTS` order."""
        import contextlib

        import torch

        rows = [prompt_ids(self.tokenizer, routing_messages(t)) for t in texts]
        order = np.argsort([len(r) for r in rows], kind="stable")  # similar lengths together: little padding
        switch = contextlib.nullcontext() if self.adapter or not hasattr(self.model, "disable_adapter") \
            else self.model.disable_adapter()
        probabilities = np.zeros((len(rows), len(self._token_ids)), dtype=np.float32)
        self.model.eval()
        with torch.no_grad(), switch:
            for start in range(0, len(rows), self.batch_size):
                chunk = order[start:start + self.batch_size]
                hidden, mask = self.frozen.hidden([rows[i] for i in chunk])
                logits = self.frozen.logits(self.model, hidden, mask)[:, -1, self._token_ids]
                probabilities[chunk] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probabilities

    def route(self, texts: Sequence[str]) -> list[Any]:
        """One Route per text: the most likely queue and its probability among the queues."""
        from aieng.routers import _texts, _top_routes

        return _top_routes(self.queue_probabilities(_texts(texts)), data.INTENTS)
