"""The dashboard's overview cache: one build per view at a time, kept for a while, made per app."""

from __future__ import annotations

import threading
import time

import pytest

from serving.app import create_app
from serving.dashboard.overviews import CACHE_ENTRIES, CACHE_SECONDS, OverviewCache


def test_concurrent_requests_for_one_view_build_it_once():
    cache = OverviewCache()
    builds: list[int] = []
    started = threading.Event()

    def build() -> str:
        builds.append(1)
        started.set()
        time.sleep(0.2)
        return "overview"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(cache.get(("v",), build)))
    first.start()
    started.wait(5)
    others = [
        threading.Thread(target=lambda: results.append(cache.get(("v",), build))) for _ in range(4)
    ]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(5)
    assert results == ["overview"] * 5 and builds == [1]


def test_different_views_do_not_wait_for_each_other():
    cache = OverviewCache()
    release = threading.Event()
    slow = threading.Thread(target=cache.get, args=(("slow",), lambda: release.wait(5)))
    slow.start()
    started = time.monotonic()
    assert cache.get(("fast",), lambda: "fast") == "fast"
    assert time.monotonic() - started < 1
    release.set()
    slow.join(5)


def test_an_overview_expires_after_its_lifetime():
    cache = OverviewCache(seconds=0.05)
    assert cache.get(("v",), lambda: 1) == 1
    assert cache.get(("v",), lambda: 2) == 1
    time.sleep(0.1)
    assert cache.get(("v",), lambda: 3) == 3


def test_a_failed_build_is_not_kept():
    cache = OverviewCache()

    def broken() -> str:
        raise RuntimeError("store unreachable")

    with pytest.raises(RuntimeError):
        cache.get(("v",), broken)
    assert cache.get(("v",), lambda: "now it works") == "now it works"


def test_the_oldest_views_make_room_and_clear_empties_it():
    cache = OverviewCache(entries=2)
    for key in "abc":
        cache.get((key,), lambda k=key: k)
    assert len(cache.entries) == 2
    cache.clear()
    assert len(cache.entries) == 0


def test_each_app_gets_its_own_cache(settings):
    one, two = create_app(settings).state.overviews, create_app(settings).state.overviews
    assert one is not two
    assert (one.entries.ttl, one.entries.maxsize) == (CACHE_SECONDS, CACHE_ENTRIES)
