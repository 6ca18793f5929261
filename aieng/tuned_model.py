"""A fine-tuned model served like any other: merged into a GGUF file the local server loads.

    path = tuned_model.write_merged_gguf(tuned, "fine-tuned-lora-256")   # the LoRA deltas, merged
    tuned_model.install(path)                                             # the local server now lists it
    router = tuned_model.FineTunedRouter(llm.client, "fine-tuned-lora-256", labels_used=256)

The merged file is the bundled GGUF with the tensors LoRA changed rewritten in 16-bit floats (its
other tensors are copied byte for byte, still 4-bit). It is written with the `gguf` package alone:
no conversion script, no full-precision copy of the model on disk. `install` puts it in the folder
the local server serves beside the bundled model (`local_server.models_dir()`), so the same OpenAI
client reaches it by name: `model="fine-tuned-lora-256"`, or `AIENG_MODEL=fine-tuned-lora-256`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aieng import data, local_server
from aieng.finetune import routing_messages
from aieng.routers import Route, _texts
from aieng.workspace import artifact_path

__all__ = ["GGUF_NAMES", "write_merged_gguf", "install", "uninstall", "FineTunedRouter"]

# Hugging Face module name -> GGUF tensor name (llama architecture, as llama.cpp's converter writes them)
GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}
_MODULE = re.compile(r"layers\.(\d+)\.(self_attn\.\w+_proj|mlp\.\w+_proj)$")


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order for q and k (rotary halves interleaved); transformers undoes it when it loads a GGUF."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _deltas(tuned: Any) -> dict[str, np.ndarray]:
    """GGUF tensor name -> the LoRA change of that weight (rows in the GGUF's order), for every adapted module."""
    config = tuned.base_model.model.config if hasattr(tuned, "base_model") else tuned.config
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads
    deltas = {}
    for name, module in tuned.named_modules():
        match = _MODULE.search(name)
        if not match or not hasattr(module, "get_delta_weight"):
            continue
        delta = sum(module.get_delta_weight(adapter) for adapter in module.active_adapters)
        delta = delta.detach().float().cpu().numpy()
        kind = match.group(2)
        if kind == "self_attn.q_proj":
            delta = _permute(delta, n_head)
        elif kind == "self_attn.k_proj":
            delta = _permute(delta, n_kv)
        deltas[f"blk.{match.group(1)}.{GGUF_NAMES[kind]}.weight"] = delta
    if not deltas:
        raise ValueError("This model has no LoRA layers to merge: pass the peft model that training changed.")
    return deltas


def write_merged_gguf(tuned: Any, name: str, *, base: str | Path | None = None, path: str | Path | None = None) -> Path:
    """The path of a new GGUF file: the base model (default: the bundled one) with `tuned`'s LoRA deltas merged.

    `name` becomes the served model name (the file is `<name>.gguf` in the workspace's models folder
    unless `path` is given). Changed tensors are written as float16; the rest are copied unchanged."""
    import gguf

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}", name):
        raise ValueError(f"Model name {name!r}: use letters, digits, dots, dashes and underscores, e.g. 'fine-tuned-lora-256'.")
    base = Path(base) if base else local_server.model_path()
    out = Path(path) if path else artifact_path(f"models/{name}.gguf")
    out.parent.mkdir(parents=True, exist_ok=True)
    deltas = _deltas(tuned)
    reader = gguf.GGUFReader(str(base))
    arch = str(reader.fields["general.architecture"].contents())
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch=arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.name"):
            continue
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
    writer.add_name(name)
    missing = set(deltas)
    for tensor in reader.tensors:
        if tensor.name in deltas:
            weights = gguf.quants.dequantize(tensor.data, tensor.tensor_type) + deltas[tensor.name]
            writer.add_tensor(tensor.name, weights.astype(np.float16))
            missing.discard(tensor.name)
        else:
            writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    if missing:
        raise ValueError(f"The base file {base} has no tensors {sorted(missing)[:3]}: was the model trained from it?")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return out


def install(path: str | Path) -> str:
    """The served name of `path` after copying it where the local server serves it (`local_server.models_dir()`).

    The running server lists it at once (no restart); a request with `model=<name>` loads it."""
    path = Path(path)
    if path.suffix.lower() != ".gguf" or not path.is_file():
        raise FileNotFoundError(f"{path} is not a GGUF file: write one first with tuned_model.write_merged_gguf(...).")
    if path.stem == local_server.MODEL_NAME:
        raise ValueError(f"{path.name} would hide the bundled model: give the tuned model another name.")
    folder = local_server.models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    shutil.copyfile(path, tmp)
    os.replace(tmp, folder / path.name)  # atomic: the server never reads half a file
    return path.stem


def uninstall(name: str) -> bool:
    """Remove an installed model from the local server's list; True if it was there."""
    target = local_server.models_dir() / f"{name}.gguf"
    existed = target.is_file()
    target.unlink(missing_ok=True)
    return existed


@dataclass
class FineTunedRouter:
    """The fine-tuned model as a router, through any OpenAI-compatible client that serves it.

    It sends the prompt the model was trained on. With `first_tokens` (each queue's first token,
    (id, text), from `finetune.label_first_tokens`) it reads one token restricted with `logit_bias`
    to those: the most likely queue label, as the notebook scores it in-process. Without, it reads
    the short reply the model was trained to give, the queue name; any other reply routes to None.
    `tokens` keeps (prompt tokens, completion tokens) of every call, as the endpoint counted them:
    what a request costs where tokens are billed."""

    client: Any
    model: str
    first_tokens: dict[str, tuple[int, str]] | None = None
    labels_used: int = 0
    tokens: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def id(self) -> str:
        """`fine-tuned:lora-<labels used>`."""
        return f"fine-tuned:lora-{self.labels_used}"

    def route(self, texts: Sequence[str]) -> list[Route]:
        """One call per text at temperature 0 (one token with `first_tokens`, else up to 8)."""
        options: dict[str, Any] = {"max_tokens": 8}
        by_text = {queue: queue for queue in data.INTENTS}
        if self.first_tokens:
            by_text = {text: queue for queue, (_, text) in self.first_tokens.items()}
            options = {"max_tokens": 1, "logit_bias": {str(token): 100 for token, _ in self.first_tokens.values()}}
        routes = []
        for text in _texts(texts):
            completion = self.client.chat.completions.create(
                model=self.model, messages=routing_messages(text), temperature=0, seed=0, **options)
            reply = completion.choices[0].message.content or ""
            usage = getattr(completion, "usage", None)
            if usage is not None:
                self.tokens.append((int(usage.prompt_tokens), int(usage.completion_tokens)))
            routes.append(Route(queue=by_text.get(reply, by_text.get(reply.strip())), score=float("nan")))
        return routes
