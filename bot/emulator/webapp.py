"""Mini App init data as Telegram makes it when a `web_app` button is tapped: the user,
the time and a hash, signed with the bot's token (HMAC-SHA-256 with the key
HMAC("WebAppData", token), over the sorted "key=value" lines). The demo's web chat and
the tests sign with the emulated bot's own token, so the product checks it as it would
Telegram's."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from urllib.parse import urlencode


def sign_init_data(
    token: str,
    user_id: int,
    auth_date: datetime,
    *,
    first_name: str = "",
    language_code: str = "nl",
) -> str:
    user = {"id": user_id, "first_name": first_name or "Demo", "language_code": language_code}
    fields = {
        "query_id": "AAH" + secrets.token_urlsafe(12),
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(auth_date.timestamp())),
    }
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)
