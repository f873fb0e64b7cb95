"""The clients a session uses, built from settings: real ones, or the demo stand-ins."""

from __future__ import annotations

from dataclasses import dataclass

from lib.config import Settings
from lib.storage import ImageStore
from lib.tavus import TavusClient


@dataclass(frozen=True)
class Services:
    tavus: TavusClient
    store: ImageStore
    demo_mode: bool
    tavus_url: str


def build_services(settings: Settings) -> Services:
    if settings.demo_mode:
        from lib.demo import start_demo_services

        demo = start_demo_services(training_seconds=settings.simulator_training_seconds,
                                   simulator_port=settings.simulator_port,
                                   s3_port=settings.demo_s3_port)
        return Services(tavus=TavusClient(demo.tavus_url, demo.tavus_api_key),
                        store=ImageStore(demo.s3), demo_mode=True, tavus_url=demo.tavus_url)
    assert settings.tavus_api_key and settings.s3  # load_settings guarantees both outside demo
    return Services(tavus=TavusClient(settings.tavus_api_url, settings.tavus_api_key),
                    store=ImageStore(settings.s3), demo_mode=False,
                    tavus_url=settings.tavus_api_url)
