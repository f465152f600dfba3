"""A responder for any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, Ollama, ...).

Connect errors, timeouts, 429 and 5xx answers are retried with exponential backoff; other HTTP
errors are not. Every failure becomes a ``ResponderError`` whose code and message are safe to
store and log: they never contain the patient's text, the provider's answer or the API key.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chats.responders.base import EhrSummary, Reply, ResponderError, Turn
from chats.responders.offline import estimate_tokens

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are Medibot, an automated assistant that gives general health information. You are not a "
    "clinician: do not diagnose or prescribe, and say so when it matters. If the user describes chest "
    "pain, difficulty breathing or another emergency sign, tell them to call emergency services first. "
    "Use the facts from the patient's health record given below when they are relevant, and never "
    "invent record facts, test results or doses that you were not given."
)
EHR_HEADINGS = {"allergy": "Allergies", "medication": "Medications", "condition": "Conditions"}
CONVERSATION_ROLES = frozenset({"user", "assistant"})
MAX_BACKOFF_SECONDS = 8.0


@dataclass(frozen=True)
class ProviderConfig:
    """Where and how to call the provider; hashable so the registry can cache one responder per config."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    timeout_seconds: float = 30.0
    max_retries: int = 2
    price_per_1k_prompt: Decimal = Decimal(0)
    price_per_1k_completion: Decimal = Decimal(0)
    backoff_seconds: float = 0.5

    @classmethod
    def from_settings(cls) -> ProviderConfig:
        base_url = str(getattr(settings, "OPENAI_BASE_URL", "https://api.openai.com/v1"))
        if not base_url.startswith(("http://", "https://")):
            raise ImproperlyConfigured("OPENAI_BASE_URL must be an http:// or https:// URL.")
        return cls(
            base_url=base_url,
            api_key=str(getattr(settings, "OPENAI_API_KEY", "")),
            model=str(getattr(settings, "OPENAI_MODEL", "gpt-4o-mini")),
            timeout_seconds=float(getattr(settings, "OPENAI_TIMEOUT_SECONDS", 30.0)),
            max_retries=int(getattr(settings, "OPENAI_MAX_RETRIES", 2)),
            price_per_1k_prompt=_price("OPENAI_PRICE_PER_1K_PROMPT"),
            price_per_1k_completion=_price("OPENAI_PRICE_PER_1K_COMPLETION"),
        )

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def cost(self, *, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """Exact cost from the per-1K-token prices (no rounding)."""
        return (
            prompt_tokens * self.price_per_1k_prompt + completion_tokens * self.price_per_1k_completion
        ) / 1000


def _price(name: str) -> Decimal:
    try:
        price = Decimal(str(getattr(settings, name, "0")))
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name} must be a decimal number such as '0.0025'.") from exc
    if not price.is_finite() or price < 0:
        raise ImproperlyConfigured(f"{name} must be a decimal number of at least 0.")
    return price


def build_messages(*, history: list[Turn], message: str, ehr: EhrSummary | None) -> list[dict[str, str]]:
    """System prompt, the EHR facts (if any) as a second system message, the conversation, the message."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    if ehr and ehr.facts:
        lines = ["Facts from the patient's health record:"]
        for kind, heading in EHR_HEADINGS.items():
            texts = [fact.text for fact in ehr.facts if fact.kind == kind]
            if texts:
                lines.append(f"{heading}: " + "; ".join(texts))
        messages.append({"role": "system", "content": "\n".join(lines)})
    messages.extend(
        {"role": turn.role, "content": turn.content}
        for turn in history
        if turn.role in CONVERSATION_ROLES and turn.content
    )
    messages.append({"role": "user", "content": message})
    return messages


class OpenAICompatibleResponder:
    """Replies from an OpenAI-compatible chat-completions API, whole or streamed (SSE)."""

    name = "openai"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def reply(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Reply:
        messages = build_messages(history=history, message=message, ehr=ehr)
        response = self._send({"model": self.config.model, "messages": messages}, stream=False)
        try:
            body = response.json()
            content = body["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (ValueError, LookupError, TypeError) as exc:
            raise ResponderError(
                "the provider's answer could not be read", code="provider_malformed"
            ) from exc
        return self._final_reply(
            content=content, model=body.get("model"), usage=body.get("usage"), messages=messages, ehr=ehr
        )

    def stream(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Iterator[str | Reply]:
        """Chunks from ``data:`` server-sent events until ``data: [DONE]``, then the Reply.

        Only opening the stream is retried: once text has been yielded a failure ends the reply.
        """
        messages = build_messages(history=history, message=message, ehr=ehr)
        payload = {
            "model": self.config.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = self._send(payload, stream=True)
        chunks: list[str] = []
        model: object = None
        usage: object = None
        try:
            for data in _sse_data(response):
                if data == "[DONE]":
                    break
                event = _parse_event(data)
                model = event.get("model") or model
                usage = event.get("usage") or usage
                text = _delta_text(event)
                if text:
                    chunks.append(text)
                    yield text
            else:
                raise ResponderError("the provider's stream ended early", code="provider_malformed")
        except httpx.TimeoutException as exc:
            raise ResponderError("the provider timed out mid-stream", code="provider_timeout") from exc
        except httpx.TransportError as exc:
            raise ResponderError("the provider's stream broke off", code="provider_unreachable") from exc
        finally:
            response.close()
        yield self._final_reply(content="".join(chunks), model=model, usage=usage, messages=messages, ehr=ehr)

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self.config.timeout_seconds))
            return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _send(self, payload: dict[str, Any], *, stream: bool) -> httpx.Response:
        """A successful response; retries connect errors, timeouts, 429 and 5xx, nothing else."""
        client = self._http()
        failure = ResponderError("the provider was not called", code="provider_unreachable")
        retry_after: float | None = None
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                delay = self._backoff(attempt, retry_after)
                logger.warning(
                    "chat provider retry",
                    extra={"attempt": attempt, "code": failure.code, "delay_seconds": round(delay, 3)},
                )
                time.sleep(delay)
            retry_after = None
            request = client.build_request(
                "POST", self.config.endpoint, json=payload, headers=self._headers()
            )
            try:
                response = client.send(request, stream=stream)
            except httpx.TimeoutException:
                failure = ResponderError("the provider did not answer in time", code="provider_timeout")
                continue
            except httpx.TransportError:
                failure = ResponderError("the provider could not be reached", code="provider_unreachable")
                continue
            if response.is_success:
                return response
            response.close()
            status = response.status_code
            failure = ResponderError(f"the provider answered HTTP {status}", code=f"provider_http_{status}")
            if status != 429 and status < 500:
                raise failure
            retry_after = _seconds(response.headers.get("Retry-After"))
        raise failure

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        exponential = self.config.backoff_seconds * 2 ** (attempt - 1)
        delay = max(exponential, retry_after or 0.0)
        jitter = random.uniform(0, self.config.backoff_seconds / 2)  # nosec B311 - backoff jitter, not security
        return min(MAX_BACKOFF_SECONDS, delay) + jitter

    def _final_reply(
        self,
        *,
        content: str,
        model: object,
        usage: object,
        messages: list[dict[str, str]],
        ehr: EhrSummary | None,
    ) -> Reply:
        if not content.strip():
            raise ResponderError("the provider sent an empty reply", code="provider_empty")
        metadata: dict[str, Any] = {}
        if ehr:
            metadata["ehr_record_ids"] = ehr.record_ids()
        counted = _usage(usage)
        if counted is None:
            metadata["tokens_estimated"] = True
            prompt = "\n".join(item["content"] for item in messages)
            counted = (estimate_tokens(prompt), estimate_tokens(content))
        prompt_tokens, completion_tokens = counted
        return Reply(
            content=content,
            model=model if isinstance(model, str) and model else self.config.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=self.config.cost(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            metadata=metadata,
        )


def _sse_data(response: httpx.Response) -> Iterator[str]:
    """The payload of every ``data:`` line; comments, ``event:`` and blank lines are skipped."""
    for line in response.iter_lines():
        if line.startswith("data:"):
            yield line[len("data:") :].strip()


def _parse_event(data: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise ResponderError("the provider's stream could not be read", code="provider_malformed") from exc
    if not isinstance(event, dict):
        raise ResponderError("the provider's stream could not be read", code="provider_malformed")
    if "error" in event:
        raise ResponderError("the provider reported an error mid-stream", code="provider_error")
    return event


def _delta_text(event: dict[str, Any]) -> str:
    choices = event.get("choices") or []
    try:
        text = choices[0].get("delta", {}).get("content") if choices else None
    except (AttributeError, TypeError) as exc:
        raise ResponderError("the provider's stream could not be read", code="provider_malformed") from exc
    if text is not None and not isinstance(text, str):
        raise ResponderError("the provider's stream could not be read", code="provider_malformed")
    return text or ""


def _usage(usage: object) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) when the provider reported both as counts, else None."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and prompt >= 0 and completion >= 0:
        return prompt, completion
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
