"""The Redis transport of the conversation bus (the only module that imports redis).

Every message is published on the Redis channel ``<prefix><topic>``. Each bus
instance holds one pattern subscription on ``<prefix>*``, confirmed before the
constructor returns, and matches topics against its local subscriptions itself.
So a local ``subscribe`` takes effect at once, with no window in which a message
could be lost, and the contract (ordering per subscription, request/reply,
at-most-once delivery) is exactly the in-memory bus's.
"""
from __future__ import annotations

import logging
import threading
import time

import redis

from mad.core.bus import Bus, BusError

_log = logging.getLogger("mad.bus.redis")


class RedisBus(Bus):
    """A bus whose messages travel through a Redis server's pub/sub."""

    def __init__(self, url: str, prefix: str = "mad:", connect_timeout: float = 5.0) -> None:
        self.url = url
        self.prefix = prefix
        self._running = False
        super().__init__()
        try:
            self._redis = redis.Redis.from_url(url, socket_connect_timeout=connect_timeout,
                                               health_check_interval=30)
            self._redis.ping()
        except (redis.RedisError, ValueError) as exc:
            super().close()
            raise BusError(f"cannot connect to Redis at {_safe(url)}: {exc}") from None
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
        self._pubsub.psubscribe(prefix + "*")
        self._running = True
        self._ready = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="redis-bus", daemon=True)
        self._listener.start()
        if not self._ready.wait(connect_timeout):
            self.close()
            raise BusError(f"Redis at {_safe(url)} did not confirm the subscription")

    def _transmit(self, topic: str, data: str) -> None:
        try:
            self._redis.publish(self.prefix + topic, data)
        except redis.RedisError as exc:
            raise BusError(f"publish to Redis failed: {exc}") from None

    def _listen(self) -> None:
        while self._running:
            try:
                item = self._pubsub.get_message(timeout=0.2)
            except (redis.RedisError, OSError, ValueError) as exc:
                if not self._running:
                    return
                _log.warning("redis listener error: %s", exc)
                time.sleep(0.5)
                continue
            if item is None:
                continue
            if item.get("type") == "psubscribe":
                self._ready.set()
            elif item.get("type") == "pmessage":
                self._dispatch(item["data"])

    def close(self) -> None:
        super().close()
        self._running = False
        self._listener.join(timeout=2)
        try:
            self._pubsub.close()
            self._redis.close()
        except redis.RedisError:
            pass


def _safe(url: str) -> str:
    """The URL without a password, for messages and logs."""
    if "@" in url:
        scheme, rest = url.split("://", 1) if "://" in url else ("", url)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
