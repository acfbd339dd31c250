"""The clock the pipeline reads and waits on, injected where time decides behaviour.

Pacing (``politeness.HostLimiter``), robots.txt expiry and retry back-offs read and wait through one
``Clock`` object instead of calling ``time`` directly, so tests can run them on a clock they move by
hand (``tests/helpers.FakeClock``): a bound such as "waited exactly the 0.2 s interval, not 30 s"
is then checked without sleeping, and a loaded CI machine cannot fail it.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Monotonic seconds, and the two ways the pipeline waits on them."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """Wait on ``cond`` (held by the caller) for a notify, or at most ``timeout`` seconds."""
        cond.wait(timeout)
