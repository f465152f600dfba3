"""A patient's own imports and exports (the page's Import and Export all): start, poll, cancel,
download. Each runs as a Celery task; someone else's transfer is a 404."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.exceptions import InvalidChatInput
from chats.importers.uploads import DEFAULT_SOURCE, describe, upload_sources
from chats.selectors import transfers as transfer_selectors
from chats.selectors.transfers import Transfer
from chats.services import transfers

MULTIPART_OVERHEAD = 64 * 1024  # the form's boundaries and other fields around the file


def _uid(request: Request) -> int:
    return int(request.user.pk)  # type: ignore[arg-type]


class TransferOutput(serializers.Serializer):
    transfer_id = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True, help_text="import or export")
    source = serializers.CharField(read_only=True)  # type: ignore[assignment] # a field named "source"
    state = serializers.CharField(read_only=True, help_text="queued, running, finished, failed or cancelled")
    progress = serializers.DictField(
        read_only=True,
        allow_null=True,
        help_text="import: total (estimated rows), read, inserted, already_present, quarantined; "
        "export: sessions written",
    )
    result = serializers.DictField(
        read_only=True,
        allow_null=True,
        help_text="import: the counts, run_id and quarantine [{unit, reason}]; export: sessions, bytes",
    )
    error = serializers.CharField(read_only=True, allow_null=True)
    cancel_requested = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    status_url = serializers.CharField(read_only=True)
    cancel_url = serializers.CharField(read_only=True)
    download_url = serializers.CharField(read_only=True, allow_null=True)


def _body(transfer: Transfer) -> dict[str, Any]:
    status_url = reverse("chat-transfer", args=[transfer.transfer_id])
    downloadable = transfer.kind == "export" and transfer.state == transfer_selectors.State.FINISHED
    return {
        "transfer_id": transfer.transfer_id,
        "kind": transfer.kind,
        "source": transfer.source,
        "state": transfer.state,
        "progress": transfer.progress,
        "result": transfer.result,
        "error": transfer.error,
        "cancel_requested": transfer.cancel_requested,
        "created_at": transfer.created_at,
        "finished_at": transfer.finished_at,
        "expires_at": transfer.expires_at,
        "status_url": status_url,
        "cancel_url": reverse("chat-transfer-cancel", args=[transfer.transfer_id]),
        "download_url": reverse("chat-transfer-download", args=[transfer.transfer_id])
        if downloadable
        else None,
    }


class ImportSourcesApi(APIView):
    """GET the sources a file can be imported from (the registered file sources)."""

    class SourcesOutput(serializers.Serializer):
        sources = serializers.ListField(child=serializers.CharField(), read_only=True)
        default = serializers.CharField(read_only=True)
        descriptions = serializers.DictField(child=serializers.CharField(), read_only=True)
        max_bytes = serializers.IntegerField(read_only=True)

    @extend_schema(operation_id="chat_import_sources", responses=SourcesOutput)
    def get(self, request: Request) -> Response:
        sources = upload_sources()
        body = {
            "sources": list(sources),
            "default": DEFAULT_SOURCE,
            "descriptions": {kind: describe(kind) for kind in sources},
            "max_bytes": settings.CHAT_IMPORT_MAX_BYTES,
        }
        return Response(self.SourcesOutput(body).data)


class ImportStartApi(APIView):
    """POST a file (multipart ``file``, optional ``source``): 202 and the import's status URL."""

    parser_classes = [MultiPartParser]
    throttle_scope = "chat_export"

    class ImportInput(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=False)
        source = serializers.CharField(  # type: ignore[assignment] # a field named "source"
            required=False, default=DEFAULT_SOURCE, max_length=40
        )

    @extend_schema(
        operation_id="chat_import_start",
        request={"multipart/form-data": ImportInput},
        responses={
            202: TransferOutput,
            400: OpenApiResponse(description="not a file of that source, or a source not offered"),
            413: OpenApiResponse(description="over CHAT_IMPORT_MAX_BYTES"),
        },
    )
    def post(self, request: Request) -> Response:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        transfers.check_upload_size(max(declared - MULTIPART_OVERHEAD, 0))  # before reading the body
        serializer = self.ImportInput(data=request.data)
        if not serializer.is_valid():
            raise InvalidChatInput(_first_error(serializer.errors))
        upload = serializer.validated_data["file"]
        try:
            transfer = transfers.start_import(
                user_id=_uid(request),
                upload=upload,
                size=upload.size,
                source=serializer.validated_data["source"],
            )
        finally:
            upload.close()
        return Response(TransferOutput(_body(transfer)).data, status=status.HTTP_202_ACCEPTED)


def _first_error(errors: dict[str, Any]) -> str:
    for field, messages in errors.items():
        return f"{field}: {messages[0]}"
    return "invalid upload"


class ExportStartApi(APIView):
    """POST: build the caller's all-conversations zip in the background; 202 and its status URL."""

    throttle_scope = "chat_export"

    @extend_schema(operation_id="chat_export_start", request=None, responses={202: TransferOutput})
    def post(self, request: Request) -> Response:
        transfer = transfers.start_export(user_id=_uid(request))
        return Response(TransferOutput(_body(transfer)).data, status=status.HTTP_202_ACCEPTED)


class TransferStatusApi(APIView):
    """GET the state, progress and result of one of the caller's imports or exports."""

    @extend_schema(operation_id="chat_transfer_status", responses={200: TransferOutput, 404: None})
    def get(self, request: Request, transfer_id: str) -> Response:
        transfer = transfer_selectors.get_transfer(user_id=_uid(request), transfer_id=transfer_id)
        return Response(TransferOutput(_body(transfer)).data)


class TransferCancelApi(APIView):
    """POST: stop at the next batch boundary (what was written stays; the result says how much)."""

    @extend_schema(
        operation_id="chat_transfer_cancel", request=None, responses={202: TransferOutput, 404: None}
    )
    def post(self, request: Request, transfer_id: str) -> Response:
        transfer = transfers.request_cancel(user_id=_uid(request), transfer_id=transfer_id)
        return Response(TransferOutput(_body(transfer)).data, status=status.HTTP_202_ACCEPTED)


class TransferDownloadApi(APIView):
    """GET the built zip of the caller's finished export (until it expires)."""

    @extend_schema(
        operation_id="chat_transfer_download",
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 404: None},
    )
    def get(self, request: Request, transfer_id: str) -> FileResponse:
        path = transfer_selectors.export_download(user_id=_uid(request), transfer_id=transfer_id)
        return FileResponse(
            path.open("rb"), as_attachment=True, filename="medibot-chats.zip", content_type="application/zip"
        )
