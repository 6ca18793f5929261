"""Checks for chapter 08 (fine-tuning the course's model to route tickets)."""

from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["sft_example", "drop_near_duplicates", "lora_step"]

_TICKET = ("Charged twice for March   Hi team, our card was charged two times for the March invoice of the Growth "
           "plan. Could you refund the second charge? We have been customers for four years and this never "
           "happened before, so please look into it quickly because our accountant closes the books on Friday. "
           "Both charges show the same amount and the same date on our statement, and the invoice page lists only "
           "one payment, which is why we think the second one is a mistake on your side rather than ours. We "
           "already checked with the bank and they see two separate card payments to Ledgerloop, not a pending "
           "authorisation that would drop off by itself. If you need the last four digits of the card or a copy "
           "of the statement, tell me where to send it. Thanks a lot, Priya from the finance team.")


def sft_example(fn: Callable[[str, str], dict]) -> Result:
    """Exercise 8.1: `fn(text, queue)` is one chat-format example: system, the short ticket, the queue name."""
    from aieng import finetune

    require_callable(fn, "sft_example", "sft_example")
    try:
        got = fn(_TICKET, "billing")
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        return fail("8.1", f"sft_example(ticket, 'billing') raised {type(err).__name__}: {err}",
                    hint="Build a dict with one key, 'messages', holding a list of three message dicts.")
    if is_stub(got):
        return todo("8.1", "sft_example")
    messages = got.get("messages") if isinstance(got, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return fail("8.1", f"sft_example returned {type(got).__name__} {str(got)[:80]!r}, not {{'messages': [...]}}.",
                    hint="Chat format is a dict whose 'messages' is a list of {'role': ..., 'content': ...} dicts.")
    roles = [m.get("role") for m in messages]
    if roles != ["system", "user", "assistant"]:
        return fail("8.1", f"The roles are {roles}.",
                    hint="One system turn, the ticket as the user turn, then the answer as the assistant turn.")
    system, user, answer = (m.get("content") for m in messages)
    if system != finetune.SYSTEM_PROMPT:
        return fail("8.1", f"The system turn is {str(system)[:60]!r}.",
                    hint="Use finetune.SYSTEM_PROMPT: the served model is asked with exactly that text.")
    if user != finetune.short_ticket(_TICKET):
        n_words = len(str(user).split())
        return fail("8.1", f"The user turn has {n_words} words; the ticket has {len(_TICKET.split())}.",
                    hint="The model reads the ticket's first finetune.MAX_WORDS words: finetune.short_ticket(text).")
    if answer != "billing":
        return fail("8.1", f"The assistant turn is {str(answer)[:60]!r} for the queue 'billing'.",
                    hint="The answer to learn is the queue name alone: a short target is learnt fastest.")
    return ok("8.1", "sft_example writes the system turn, the short ticket and the queue name, in chat format.")


def drop_near_duplicates(fn: Callable[[pd.DataFrame, list[str]], pd.DataFrame]) -> Result:
    """Exercise 8.2: `fn(examples, held_out_texts)` drops the examples that nearly copy a held-out ticket."""
    require_callable(fn, "drop_near_duplicates", "drop_near_duplicates")
    examples = pd.DataFrame({
        "text": ["Charged twice for March. Our card was charged two times for the March invoice, please refund one.",
                 "Bank feed stopped syncing with our Westpac account since Tuesday, transactions missing.",
                 "How do I add a second admin user to our workspace?"],
        "queue": ["billing", "bank_feeds", "account_access"]})
    held_out = ["Charged twice for March. Our card was charged two times for the March invoice, please refund it.",
                "Payroll run failed for two employees because of a missing tax code."]
    try:
        got = fn(examples.copy(), list(held_out))
    except Exception as err:  # noqa: BLE001
        return fail("8.2", f"drop_near_duplicates raised {type(err).__name__}: {err}",
                    hint="finetune.near_duplicates(texts, others) gives one True/False per text.")
    if is_stub(got):
        return todo("8.2", "drop_near_duplicates")
    if not isinstance(got, pd.DataFrame) or "text" not in got:
        return fail("8.2", f"drop_near_duplicates returned {type(got).__name__}, not the examples DataFrame.",
                    hint="Return the rows of `examples` to keep (a DataFrame with the same columns).")
    kept = list(got["text"])
    if examples["text"][0] in kept:
        return fail("8.2", "An example that differs from a held-out ticket by one word was kept.",
                    hint="Compare each example with every held-out text; a high TF-IDF cosine means a near copy.")
    if len(kept) != 2:
        return fail("8.2", f"{len(kept)} of 3 examples were kept, where only one copies a held-out ticket.",
                    hint="Drop only the near copies: a shared topic is not a copy.")
    return ok("8.2", "drop_near_duplicates removes near copies of held-out tickets and keeps the rest.")


def lora_step(fn: Callable[..., float | None], *, model: Any = None, frozen: Any = None, batch: Any = None,
              optimizer: Any = None) -> Result:
    """Exercise 8.3: `fn(model, frozen, batch, optimizer)` takes one training step and returns the loss.

    Checked on the notebook's own objects: the step must return a finite float and change the LoRA weights."""
    require_callable(fn, "lora_step", "lora_step")
    if model is None or frozen is None or batch is None or optimizer is None:
        raise TypeError("Pass the notebook's objects too: checks.lora_step(lora_step, model=tuned, frozen=frozen, "
                        "batch=batches[0], optimizer=optimizer).")
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    try:
        got = fn(model, frozen, batch, optimizer)
    except Exception as err:  # noqa: BLE001
        return fail("8.3", f"lora_step raised {type(err).__name__}: {err}",
                    hint="The loss comes from frozen.loss; then backpropagate it, step the optimizer, clear the gradients.")
    if is_stub(got):
        return todo("8.3", "lora_step")
    if not isinstance(got, (int, float)) or not math.isfinite(float(got)):
        return fail("8.3", f"lora_step returned {got!r}, not the loss as a finite float.",
                    hint="Return the loss as a plain Python float (a tensor has a method for that), so the curve can be drawn.")
    if all(bool((b == p.detach()).all()) for b, p in zip(before, trainable)):
        return fail("8.3", "After lora_step the LoRA weights are unchanged.",
                    hint="Backpropagate the loss, then let the optimizer take its step.")
    if any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in trainable):
        return fail("8.3", "lora_step left gradients in the weights.",
                    hint="Clear the gradients after the step, or the next step adds them to its own.")
    return ok("8.3", "lora_step computes the loss, updates the LoRA weights and clears the gradients.")
