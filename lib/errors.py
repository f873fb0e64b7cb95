"""What a user reads when something fails: what happened, and what to do next."""

from __future__ import annotations

from lib.config import ConfigError
from lib.knowledge.intake import DocumentRefused
from lib.personas.form import PersonaProblem
from lib.photos.intake import PhotoError
from lib.replicas.create import FormError
from lib.storage.s3 import StorageError
from lib.tavus.client import TavusError


def tavus_message(error: TavusError) -> str:
    status, said = error.status_code, error.message
    if status == 401:
        return (f"Tavus refused the API key ({said}). Check TAVUS_API_KEY in the app's secrets.")
    if status == 429:
        wait = f" for {error.retry_after:.0f} s" if error.retry_after else " a minute"
        return f"Tavus is limiting requests ({said}). Wait{wait} and try again."
    if status is None:
        return f"{said}. Check the network or TAVUS_API_URL, then try again."
    if status >= 500:
        return f"Tavus is having trouble ({said}). Try again in a minute."
    if status == 200:
        return f"{said} Try again; if it persists, Tavus may be degraded."
    return f"Tavus refused the request: {said}"


def user_message(error: Exception) -> str:
    if isinstance(error, TavusError):
        return tavus_message(error)
    if isinstance(error, (PhotoError, StorageError, FormError, DocumentRefused, PersonaProblem)):
        return str(error)
    if isinstance(error, ConfigError):
        return "The app's configuration needs fixing: " + " ".join(error.problems)
    return "Something unexpected went wrong. Try again; if it keeps happening, reload the page."
