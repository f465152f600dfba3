"""ChatGPT data exports written the way ChatGPT writes them (a ``mapping`` tree per conversation)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

T0 = 1_714_550_400.0


def conversation(number: int, *, exchanges: int = 1) -> dict[str, Any]:
    """One conversation of ``exchanges`` question/answer pairs on its active branch."""
    conversation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"chatgpt-export-{number}"))
    mapping: dict[str, Any] = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent = "root"
    moment = T0 + number * 3600
    for turn in range(exchanges):
        for role, text in (
            ("user", f"Question {turn + 1} of conversation {number}"),
            ("assistant", "An answer"),
        ):
            node_id = f"{conversation_id[:8]}-{turn}-{role}"
            moment += 1
            mapping[node_id] = {
                "id": node_id,
                "message": {
                    "id": node_id,
                    "author": {"role": role},
                    "create_time": moment,
                    "content": {"content_type": "text", "parts": [text]},
                    "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                },
                "parent": parent,
                "children": [],
            }
            mapping[parent]["children"].append(node_id)
            parent = node_id
    return {
        "title": f"Imported conversation {number}",
        "create_time": T0 + number * 3600,
        "update_time": moment,
        "conversation_id": conversation_id,
        "current_node": parent,
        "mapping": mapping,
    }


def write_export(path: Path, *, conversations: int, exchanges: int = 1) -> Path:
    """``conversations.json`` of ``conversations`` conversations."""
    path.write_text(json.dumps([conversation(n, exchanges=exchanges) for n in range(conversations)]))
    return path
