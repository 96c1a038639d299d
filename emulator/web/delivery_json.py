"""Wire shapes of the delivery journal: notifications and their attempts, as the control plane shows them."""

from __future__ import annotations

import json
from typing import Any

from emulator.domain.delivery import Attempt, FaultRule, Notification
from emulator.domain.provider.content import format_time


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "notificationId": attempt.notification_id,
        "tryNumber": attempt.try_number,
        "url": attempt.url,
        "startedAt": attempt.started_at,
        "startedDate": format_time(attempt.started_at),
        "statusCode": attempt.status_code,
        "latencyMs": attempt.latency_ms,
        "error": attempt.error,
        "outcome": attempt.outcome,
        "fault": attempt.fault,
        "responseSnippet": attempt.response_snippet,
    }


def notification_json(notification: Notification, *, with_body: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "notificationId": notification.id,
        "eventId": notification.event_id,
        "instanceId": notification.instance_id,
        "kind": notification.kind,
        "url": notification.url,
        "status": notification.status,
        "policy": notification.policy,
        "createdAt": notification.created_at,
        "createdDate": format_time(notification.created_at),
        "headers": dict(notification.headers),
        "attempts": [attempt_json(a) for a in notification.attempts],
    }
    if with_body:
        body["body"] = json.loads(notification.body)
    return body


def fault_json(rule: FaultRule) -> dict[str, Any]:
    return {
        "url": rule.url,
        "action": rule.action,
        "count": rule.count,
        "status": rule.status,
        "delayMs": rule.delay_ms,
        "used": rule.used,
    }
