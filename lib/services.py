"""The clients a session uses, built from settings: real ones, or the demo stand-ins."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from lib.config import Settings
from lib.storage.s3 import ImageStore
from lib.tavus.client import TavusClient


@dataclass(frozen=True)
class Services:
    tavus: TavusClient  # user actions: patient, retries safe calls
    live: TavusClient  # refresh ticks: gives up well within one tick, never retries
    store: ImageStore
    demo_mode: bool
    tavus_url: str


def live_timeout(refresh_seconds: float) -> httpx.Timeout:
    """At most 40% of the refresh interval (and 5 s): a slow Tavus makes a tick fail fast and
    the next tick try again, instead of ticks piling up behind a hung call."""
    seconds = min(5.0, 0.4 * refresh_seconds)
    return httpx.Timeout(seconds, connect=min(2.0, seconds))


def _clients(url: str, key: str, refresh_seconds: float) -> tuple[TavusClient, TavusClient]:
    return (TavusClient(url, key),
            TavusClient(url, key, timeout=live_timeout(refresh_seconds), max_retries=0))


def build_services(settings: Settings) -> Services:
    if settings.demo_mode:
        from lib.demo import start_demo_services

        demo = start_demo_services(training_seconds=settings.simulator_training_seconds,
                                   document_seconds=settings.simulator_document_seconds,
                                   simulator_port=settings.simulator_port,
                                   s3_port=settings.demo_s3_port)
        tavus, live = _clients(demo.tavus_url, demo.tavus_api_key, settings.refresh_seconds)
        return Services(tavus=tavus, live=live, store=ImageStore(demo.s3), demo_mode=True,
                        tavus_url=demo.tavus_url)
    assert settings.tavus_api_key and settings.s3  # load_settings guarantees both outside demo
    tavus, live = _clients(settings.tavus_api_url, settings.tavus_api_key,
                           settings.refresh_seconds)
    return Services(tavus=tavus, live=live, store=ImageStore(settings.s3), demo_mode=False,
                    tavus_url=settings.tavus_api_url)
