"""Send tweepy's requests somewhere other than ``https://api.twitter.com``, with a timeout.

tweepy's ``Client`` hard-codes the host and sets no timeout. Mounting a ``RewriteAdapter``
on ``client.session`` fixes both without touching tweepy: the adapter sees each request
only after ``Session.prepare_request`` has applied the OAuth 1.0a signature, so the
signature stays computed over the original ``https://api.twitter.com/...`` URL (which is
what X, or a stand-in playing X, verifies) while the bytes go to ``base_url``.

    client = tweepy.Client(consumer_key=..., ...)
    mount(client.session, "http://127.0.0.1:8099", timeout=10)
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response
from requests.utils import should_bypass_proxies

X_API = "https://api.twitter.com"

Timeout = float | tuple[float, float]


class RewriteAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that swaps the ``prefix`` of each URL for ``base_url``.

    ``timeout`` (seconds, or ``(connect, read)``) applies when the caller gives none,
    which with tweepy is always.
    """

    def __init__(
        self, base_url: str, timeout: Timeout = 10.0, *, prefix: str = X_API, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix.rstrip("/")
        self.timeout = timeout

    def rewrite(self, url: str) -> str:
        if url == self.prefix or url.startswith(self.prefix + "/"):
            return self.base_url + url[len(self.prefix) :]
        return url

    def send(  # type: ignore[override]
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Timeout | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> Response:
        request = request.copy()  # the caller's request keeps the URL it signed
        request.url = self.rewrite(request.url or "")
        # requests chose proxies for the original host; re-decide for the new one.
        if proxies and should_bypass_proxies(request.url, no_proxy=proxies.get("no_proxy")):
            proxies = {}
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def mount(
    session: requests.Session, base_url: str, timeout: Timeout = 10.0, *, prefix: str = X_API
) -> RewriteAdapter:
    """Route every request ``session`` makes under ``prefix`` to ``base_url``."""
    adapter = RewriteAdapter(base_url, timeout, prefix=prefix)
    session.mount(prefix.rstrip("/") + "/", adapter)
    return adapter
