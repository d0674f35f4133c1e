"""The headers that sign a job posted to an HTTP agent, the Standard Webhooks way
(https://www.standardwebhooks.com, the `standardwebhooks` package), so that an agent in any
language checks them with a library:

- `webhook-id`: the job's id (the same on every attempt: an agent can drop repeats),
- `webhook-timestamp`: seconds since the epoch, when it was signed,
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,

under `CHATPORT_AGENT_WEBHOOK_SECRET` (`whsec_<base64>`), or, without it, the bytes of
`CHATPORT_AGENT_HMAC_KEY` (whose Standard Webhooks form is `whsec_` + its base64).

Deprecated, kept for one release: `X-Chatport-Signature: sha256=<hex>`, HMAC-SHA256 of the body
under `CHATPORT_AGENT_HMAC_KEY` (when set). `X-Chatport-Job` names the job.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from standardwebhooks import Webhook

from chatport.settings import Settings


def signer(settings: Settings) -> Webhook | None:
    """The Standard Webhooks signer of the settings' secret (None: jobs go unsigned)."""
    if settings.agent_webhook_secret is not None:
        return Webhook(settings.agent_webhook_secret.get_secret_value())
    if settings.agent_hmac_key:
        return Webhook(settings.agent_hmac_key.encode())
    return None


def job_headers(
    settings: Settings, job_id: str, body: bytes, webhook: Webhook | None = None
) -> dict[str, str]:
    """The headers of a job's POST: its content type, its id and its signatures (`webhook`:
    the settings' signer, when the caller keeps one)."""
    headers = {"content-type": "application/json", "x-chatport-job": job_id}
    webhook = webhook or signer(settings)
    if webhook is not None:
        now = datetime.now(UTC)
        headers["webhook-id"] = job_id
        headers["webhook-timestamp"] = str(int(now.timestamp()))
        headers["webhook-signature"] = webhook.sign(job_id, now, body)
    if settings.agent_hmac_key:  # deprecated: one release more
        digest = hmac.new(settings.agent_hmac_key.encode(), body, hashlib.sha256)
        headers["x-chatport-signature"] = f"sha256={digest.hexdigest()}"
    return headers
