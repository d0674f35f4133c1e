"""The headers that sign a job posted to an HTTP agent.

`X-Chatport-Signature: sha256=<hex>`: HMAC-SHA256 of the body under `CHATPORT_AGENT_HMAC_KEY`
(when set). `X-Chatport-Job` names the job.
"""

from __future__ import annotations

import hashlib
import hmac

from chatport.settings import Settings


def job_headers(settings: Settings, job_id: str, body: bytes) -> dict[str, str]:
    """The headers of a job's POST: its content type, its id and its signature."""
    headers = {"content-type": "application/json", "x-chatport-job": job_id}
    if settings.agent_hmac_key:
        digest = hmac.new(settings.agent_hmac_key.encode(), body, hashlib.sha256)
        headers["x-chatport-signature"] = f"sha256={digest.hexdigest()}"
    return headers
