"""Staff API of the JSON backup import (reference 003's sync endpoint): start it, watch it."""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult
from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import RUN_CHAT_SYNC, StaffPermission
from audit.models import CHAT_IMPORT, AuditEvent
from audit.services import record_access
from chats.importers import runs
from chats.importers.json_files import directory_ref
from chats.importers.tasks import PROGRESS, import_json_backup


class SyncRefusedOutput(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
    run_id = serializers.CharField(read_only=True, allow_null=True, help_text="the import run in progress")


class SyncStartApi(APIView):
    """POST /api/chat/sync: queue the import of CHAT_BACKUP_DIR; 202 with the task id."""

    permission_classes = [StaffPermission(RUN_CHAT_SYNC)]

    class SyncStartOutput(serializers.Serializer):
        task_id = serializers.CharField(read_only=True)
        status_url = serializers.CharField(read_only=True)

    @extend_schema(
        operation_id="chat_sync_start",
        request=None,
        responses={
            202: SyncStartOutput,
            409: OpenApiResponse(
                SyncRefusedOutput,
                description="CHAT_BACKUP_DIR is not set, or an import of the backup directory is running",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        directory = settings.CHAT_BACKUP_DIR
        if not directory:
            # A deployment without a backup directory: nothing to import, not a server failure.
            refused = {
                "detail": "CHAT_BACKUP_DIR is not set: there is no backup directory to import.",
                "run_id": None,
            }
            return Response(SyncRefusedOutput(refused).data, status=status.HTTP_409_CONFLICT)
        holder = runs.lock_holder(directory_ref(directory))
        if holder is not None:
            return Response(
                SyncRefusedOutput(
                    {
                        "detail": "An import of the backup directory is running.",
                        "run_id": holder.get("run_id") or "",
                    }
                ).data,
                status=status.HTTP_409_CONFLICT,
            )
        task = import_json_backup.delay()
        record_access(
            actor=request.user,
            action=AuditEvent.Action.CREATE,
            object_type=CHAT_IMPORT,
            object_id=task.id,
            owner_id=None,
            request=request,
        )
        body = {"task_id": task.id, "status_url": reverse("chat-sync-status", args=[task.id])}
        return Response(self.SyncStartOutput(body).data, status=status.HTTP_202_ACCEPTED)


class SyncStatusApi(APIView):
    """GET /api/chat/sync/<task_id>: the task's state, its progress counts, then its result."""

    permission_classes = [StaffPermission(RUN_CHAT_SYNC)]

    class SyncStatusOutput(serializers.Serializer):
        task_id = serializers.CharField(read_only=True)
        state = serializers.CharField(
            read_only=True, help_text="PENDING, PROGRESS, RETRY, SUCCESS or FAILURE"
        )
        progress = serializers.DictField(read_only=True, allow_null=True)
        result = serializers.DictField(read_only=True, allow_null=True)
        error = serializers.CharField(read_only=True, allow_null=True)

    @extend_schema(operation_id="chat_sync_status", responses={200: SyncStatusOutput})
    def get(self, request: Request, task_id: str) -> Response:
        task = AsyncResult(task_id, app=import_json_backup.app)
        record_access(
            actor=request.user,
            action=AuditEvent.Action.READ,
            object_type=CHAT_IMPORT,
            object_id=task_id[:64],
            owner_id=None,
            request=request,
        )
        info: Any = task.info
        body = {
            "task_id": task_id,
            "state": task.state,
            "progress": info if task.state == PROGRESS and isinstance(info, dict) else None,
            "result": info if task.state == "SUCCESS" and isinstance(info, dict) else None,
            "error": f"{info.__class__.__name__}: {info}"[:500] if isinstance(info, Exception) else None,
        }
        return Response(self.SyncStatusOutput(body).data)
