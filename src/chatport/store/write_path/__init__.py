"""The one write path: a batch of messages with everything it implies (`batch.py`), in a unit
of work the caller drives (`unit_of_work.py`); the duplicate check by message key
(`message_keys.py`), contacts, chats and sessions (`conversations.py`), LID merges (`lids.py`,
`lid_chats.py`, `lid_messages.py`), events and dead letters (`events.py`), changes to stored
messages (`changes.py`)."""
