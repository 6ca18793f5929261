"""Chapter 08 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import pandas as pd
import pytest

from aieng import checks, finetune
from notebook_code import assert_no_solution_leak, load_function, verdicts

CH08 = "08_fine_tuning.ipynb"
NAMESPACE = {"finetune": finetune, "pd": pd}
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_sft_example():
    def whole_ticket(text, queue):
        return {"messages": [{"role": "system", "content": finetune.SYSTEM_PROMPT},
                             {"role": "user", "content": text}, {"role": "assistant", "content": queue}]}

    stub, solution, wrong = verdicts(CH08, checks.sft_example, "sft_example", whole_ticket, NAMESPACE)
    assert stub.status == "todo" and "8.1" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "words" in str(wrong) and "short_ticket" in str(wrong)
    assert_no_solution_leak(wrong, CH08, "sft_example")


def test_the_checked_ticket_is_longer_than_what_the_model_reads():
    from aieng.checks import ch08

    assert len(ch08._TICKET.split()) > finetune.MAX_WORDS + 20  # else a ticket left whole would pass exercise 8.1


def test_sft_example_with_a_sentence_as_the_answer_is_refused():
    def chatty(text, queue):
        return finetune.chat_example(text, queue) | {"messages": [
            *finetune.routing_messages(text), {"role": "assistant", "content": f"The queue is {queue}."}]}

    result = checks.sft_example(chatty)
    assert result.status == "fail" and "queue name alone" in str(result)


def test_sft_example_without_the_system_turn_names_the_roles():
    result = checks.sft_example(lambda text, queue: {"messages": finetune.chat_example(text, queue)["messages"][1:]})
    assert result.status == "fail" and "['user', 'assistant']" in str(result)


def test_drop_near_duplicates():
    def exact_copies_only(examples, held_out_texts):
        return examples[~examples["text"].isin(held_out_texts)]

    stub, solution, wrong = verdicts(CH08, checks.drop_near_duplicates, "drop_near_duplicates",
                                     exact_copies_only, NAMESPACE)
    assert stub.status == "todo" and "8.2" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "differs from a held-out ticket by one word" in str(wrong)
    assert_no_solution_leak(wrong, CH08, "drop_near_duplicates")


def test_drop_near_duplicates_that_drops_everything_is_refused():
    result = checks.drop_near_duplicates(lambda examples, held_out_texts: examples.iloc[0:0])
    assert result.status == "fail" and "0 of 3" in str(result)


def _tiny():
    """A one-layer model, a 'frozen' whose loss is a function of its weight, a batch and an optimizer."""
    import torch

    model = torch.nn.Linear(3, 1)

    class Frozen:
        def loss(self, model, batch):
            return ((model(batch) - 1.0) ** 2).mean()

    return model, Frozen(), torch.ones(4, 3), torch.optim.SGD(model.parameters(), lr=0.1)


def test_lora_step():
    model, frozen, batch, optimizer = _tiny()
    stub = load_function("notebooks", CH08, "lora_step", NAMESPACE)
    solution = load_function("solutions", CH08, "lora_step", NAMESPACE)
    result = checks.lora_step(stub, model=model, frozen=frozen, batch=batch, optimizer=optimizer)
    assert result.status == "todo" and "8.3" in str(result)
    result = checks.lora_step(solution, model=model, frozen=frozen, batch=batch, optimizer=optimizer)
    assert result.passed, str(result)

    def no_zero_grad(model, frozen, batch, optimizer):
        loss = frozen.loss(model, batch)
        loss.backward()
        optimizer.step()
        return loss.item()

    result = checks.lora_step(no_zero_grad, model=model, frozen=frozen, batch=batch, optimizer=optimizer)
    assert result.status == "fail" and "left gradients" in str(result)
    assert_no_solution_leak(result, CH08, "lora_step")

    def no_step(model, frozen, batch, optimizer):
        loss = frozen.loss(model, batch)
        loss.backward()
        optimizer.zero_grad()
        return loss.item()

    result = checks.lora_step(no_step, model=model, frozen=frozen, batch=batch, optimizer=optimizer)
    assert result.status == "fail" and "unchanged" in str(result)


def test_lora_step_without_the_notebook_objects_says_what_to_type():
    with pytest.raises(TypeError, match="model=tuned"):
        checks.lora_step(lambda *args: 0.0)
