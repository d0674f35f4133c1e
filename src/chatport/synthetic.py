"""Deterministic synthetic WhatsApp history, for the demo, the benchmarks and tests.

Each message carries its raw payload as JSON bytes, as a source that reads JSON hands it on.
Conversations come in bursts: short gaps inside a conversation, hours or days between them, so
the session rule has real work to do. One in ten chats is a group with several participants.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from chatport.domain.model import ContactRef, IncomingMessage

BASE_TIMESTAMP = 1_704_067_200  # 2024-01-01T00:00:00Z
WORDS = [
    "oi",
    "olá",
    "pedido",
    "entrega",
    "amanhã",
    "obrigado",
    "preço",
    "boleto",
    "pix",
    "👍",
    "ok",
    "certo",
    "quando",
    "onde",
    "hello",
    "order",
    "delivery",
    "tomorrow",
    "thanks",
    "price",
    "invoice",
    "🙏",
    "sure",
    "when",
    "where",
    "can",
    "we",
    "talk",
    "👩\u200d👩\u200d👧",
    "مرحبا",
    "שלום",
    "bom",
    "dia",
    "boa",
    "tarde",
]


@dataclass(frozen=True, slots=True)
class SyntheticChat:
    """One chat's id, display name and its messages in time order."""

    chat_id: str
    name: str
    messages: list[IncomingMessage]


def chat_jid(index: int) -> str:
    """The JID of synthetic chat `index` (every tenth is a group)."""
    if index % 10 == 9:
        return f"120363{index:012d}@g.us"
    return f"55119{index:08d}@c.us"


def synthetic_history(
    chats: int, messages: int, seed: int = 1, *, base_timestamp: int = BASE_TIMESTAMP
) -> Iterator[SyntheticChat]:
    """`messages` messages spread over `chats` chats, the same for the same arguments."""
    rng = random.Random(seed)
    per_chat, extra = divmod(messages, chats)
    for index in range(chats):
        count = per_chat + (1 if index < extra else 0)
        yield _chat(rng, index, count, base_timestamp)


def _chat(rng: random.Random, index: int, count: int, base_timestamp: int) -> SyntheticChat:
    chat_id = chat_jid(index)
    group = chat_id.endswith("@g.us")
    name = f"Group {index}" if group else f"Contact {index}"
    participants = [
        ContactRef(wa_id=f"55218{index:05d}{p:03d}@c.us", name=f"Member {p}")
        for p in range(rng.randint(3, 8) if group else 0)
    ]
    counterpart = ContactRef(wa_id=chat_id, name=name) if not group else None
    timestamp = base_timestamp + rng.randint(0, 86_400 * 30)
    out: list[IncomingMessage] = []
    for n in range(count):
        if n:
            timestamp += rng.randint(5, 600) if rng.random() < 0.9 else rng.randint(7_200, 259_200)
        from_me = rng.random() < 0.4
        author = None if from_me else (rng.choice(participants) if group else counterpart)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        external_id = f"{str(from_me).lower()}_{chat_id}_3EB0{index:06X}{n:08X}"
        out.append(
            IncomingMessage(
                external_id=external_id,
                chat_id=chat_id,
                sent_at=timestamp,
                from_me=from_me,
                author=author,
                text=text,
                chat_name=name,
                raw=orjson.dumps(
                    {
                        "id": external_id,
                        "timestamp": timestamp,
                        "from": chat_id if not from_me else "me",
                        "fromMe": from_me,
                        "body": text,
                        "hasMedia": False,
                        "ack": 3,
                    }
                ),
            )
        )
    return SyntheticChat(chat_id=chat_id, name=name, messages=out)
