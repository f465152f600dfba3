"""Chat API: thin views that validate input, call services/selectors and serialise the result.

Every object is fetched through a selector that takes the caller's id, so someone else's
session, message or vote is a 404. Domain errors become HTTP in medibot/exception_handler.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from pymongo.errors import PyMongoError
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import (
    READ_CHAT_STATISTICS,
    READ_PATIENT_CHATS,
    RUN_CHAT_CLEANUP,
    VIEW_USER_DIRECTORY,
    StaffPermission,
)
from chats import branches, exporters, health, recent_history, selectors, services, staff_access, store
from chats.api import serializers as io
from chats.exceptions import StoreUnavailable
from chats.models import Channel, ChatSession
from chats.services import stops, turn

QUEUED_DETAIL = (
    "Chat storage is temporarily unavailable: your message was saved in the outbox and will appear "
    "in the conversation shortly."
)
DEGRADED_DETAIL = (
    "Chat storage is temporarily unavailable: only the recent messages of a conversation can be shown "
    "until it is back."
)
SESSION_ID = OpenApiParameter("session_id", str, OpenApiParameter.PATH, description="public session id")


def _input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _uid(request: Request) -> int:
    """The authenticated caller's id (every chat view requires authentication)."""
    return int(request.user.pk)  # type: ignore[arg-type]


def _language(request: Request) -> str | None:
    """The caller's fixed search language (their profile's), None to detect it per message: read
    from the user the request authenticated, so it costs no query."""
    user = request.user
    return user.fixed_search_language if isinstance(user, User) else None


def _session(request: Request, session_id: str) -> ChatSession:
    return selectors.get_session(user_id=_uid(request), session_id=session_id)


def _message_list(messages: list[Any], session: ChatSession, *, user_id: int) -> list[dict[str, Any]]:
    votes = {message.pk: message.vote for message in messages if message.vote}  # the owner's, stored
    return list(io.MessageOutput(messages, many=True, context={"session": session, "votes": votes}).data)


def _recent(request: Request, session_id: str, exc: PyMongoError) -> recent_history.RecentSession:
    """MongoDB did not answer: the session's newest messages from the recent-history cache, or the
    original 503 when the cache cannot answer either (down too, or it does not know the session)."""
    if not store.is_outage(exc):
        raise exc
    try:
        recent = recent_history.recent_session(user_id=_uid(request), session_id=session_id)
    except recent_history.CacheUnavailable:
        raise exc from None
    if recent is None:
        raise exc
    return recent


def _newest_only(exc: PyMongoError) -> StoreUnavailable:
    if not store.is_outage(exc):
        raise exc
    return StoreUnavailable(DEGRADED_DETAIL)


class EventStreamRenderer(BaseRenderer):
    """Lets ``Accept: text/event-stream`` pass content negotiation; the view streams itself."""

    media_type = "text/event-stream"
    format = "sse"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return json.dumps(data).encode()


def _sse(events: Iterator[turn.StreamEvent]) -> Iterator[str]:
    """The turn's events as SSE; closing this (the client left) closes the turn at once, which
    stores the reply so far as stopped and closes the provider's stream."""
    try:
        for event in events:
            yield f"event: {event.event}\ndata: {json.dumps(event.data)}\n\n"
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


class SendMessageApi(APIView):
    """POST /api/chat and /api/chat/send: store the message, get and store the bot's reply."""

    throttle_scope = "chat_send"

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, EventStreamRenderer]

    @extend_schema(
        request=io.SendMessageInput,
        parameters=[OpenApiParameter("stream", bool, description="stream the reply as server-sent events")],
        responses={
            201: io.ReplyOutput,
            202: OpenApiResponse(io.ReplyOutput, description="chat storage is down: queued, will be stored"),
            400: OpenApiResponse(description="invalid input"),
            404: OpenApiResponse(description="no such session"),
            502: OpenApiResponse(description="the provider failed; the message was saved"),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = _input(io.SendMessageInput, request.data)
        wants_stream = request.query_params.get("stream", "").lower() in ("1", "true", "yes") or (
            request.accepted_renderer.media_type == "text/event-stream"
        )
        if wants_stream:
            streamed = turn.stream_turn(
                user_id=_uid(request),
                session_id=data["session_id"],
                text=data["message"],
                channel=Channel.WEB,
                language=_language(request),
            )
            if streamed.queued is not None:
                return self.respond(streamed.queued)
            response = StreamingHttpResponse(
                _sse(streamed.events), content_type="text/event-stream", status=200
            )
            response["X-Accel-Buffering"] = "no"
            response["X-Session-Id"] = streamed.session_id
            return response
        return self.respond(
            turn.run_turn(
                user_id=_uid(request),
                session_id=data["session_id"],
                text=data["message"],
                channel=Channel.WEB,
                language=_language(request),
            )
        )

    @staticmethod
    def respond(result: turn.TurnResult) -> Response:
        context = {"session": result.session}
        body = {
            "session_id": result.session.session_id,
            "conversation_id": result.session.session_id,
            "response": result.assistant_message.content,
            "user_message": io.MessageOutput(result.user_message, context=context).data,
            "assistant_message": io.MessageOutput(result.assistant_message, context=context).data,
            "token_usage": io.UsageOutput(result.usage).data if result.usage else None,
            "queued": result.queued,
        }
        if result.queued:
            body["detail"] = QUEUED_DETAIL
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(body, status=status.HTTP_201_CREATED)


def _wants_stream(request: Request) -> bool:
    return request.query_params.get("stream", "").lower() in ("1", "true", "yes") or (
        request.accepted_renderer.media_type == "text/event-stream"
    )


def _streamed_response(streamed: turn.StreamedTurn) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_sse(streamed.events), content_type="text/event-stream", status=200)
    response["X-Accel-Buffering"] = "no"
    response["X-Session-Id"] = streamed.session_id
    return response


REVISE_RESPONSES = {
    201: io.ReplyOutput,
    400: OpenApiResponse(description="invalid input, or not a message that can be revised this way"),
    404: OpenApiResponse(description="no such message"),
    502: OpenApiResponse(description="the provider failed; a failed reply was stored on the new branch"),
    503: OpenApiResponse(description="chat storage is down: nothing was stored"),
}


class RegenerateReplyApi(APIView):
    """POST a new reply to the question a reply of the caller's answered: stored as its sibling on
    a new branch, which becomes active. ``?stream=1`` (or ``Accept: text/event-stream``) streams it."""

    throttle_scope = "chat_send"
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, EventStreamRenderer]

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("stream", bool, description="stream the reply as server-sent events")],
        responses=REVISE_RESPONSES,
    )
    def post(self, request: Request, message_id: str) -> Response | StreamingHttpResponse:
        user_id, language = _uid(request), _language(request)
        if _wants_stream(request):
            return _streamed_response(
                turn.stream_regenerate(user_id=user_id, message_id=message_id, language=language)
            )
        return SendMessageApi.respond(
            turn.regenerate_turn(user_id=user_id, message_id=message_id, language=language)
        )


class EditMessageApi(APIView):
    """POST the new text of one of the caller's messages: stored as its sibling on a new branch,
    which becomes active, and answered there (streamed as ``RegenerateReplyApi``)."""

    throttle_scope = "chat_send"
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, EventStreamRenderer]

    @extend_schema(
        request=io.ReviseInput,
        parameters=[OpenApiParameter("stream", bool, description="stream the reply as server-sent events")],
        responses=REVISE_RESPONSES,
    )
    def post(self, request: Request, message_id: str) -> Response | StreamingHttpResponse:
        text = _input(io.ReviseInput, request.data)["message"]
        user_id, language = _uid(request), _language(request)
        if _wants_stream(request):
            return _streamed_response(
                turn.stream_edit(user_id=user_id, message_id=message_id, text=text, language=language)
            )
        return SendMessageApi.respond(
            turn.edit_turn(user_id=user_id, message_id=message_id, text=text, language=language)
        )


def _branch_messages(request: Request, messages: list[Any], session: ChatSession) -> Response:
    path = branches.active_path(session)
    active = next(
        (n for n, m in enumerate(messages, start=1) if branches.on_path(path, m.branch, m.order)), None
    )
    return Response(
        {"results": _message_list(messages, session, user_id=_uid(request)), "active_index": active}
    )


class MessageSiblingsApi(APIView):
    """GET the versions of a message at its fork ("< 1/n >"): itself and its siblings, in order."""

    @extend_schema(
        responses={200: io.BranchMessagesOutput, 404: OpenApiResponse(description="no such message")}
    )
    def get(self, request: Request, message_id: str) -> Response:
        message = selectors.get_message(user_id=_uid(request), message_id=message_id)
        return _branch_messages(request, selectors.message_siblings(message=message), message.session)


class MessageChildrenApi(APIView):
    """GET the messages that follow a message, one per branch (its replies after regenerations)."""

    @extend_schema(
        responses={200: io.BranchMessagesOutput, 404: OpenApiResponse(description="no such message")}
    )
    def get(self, request: Request, message_id: str) -> Response:
        message = selectors.get_message(user_id=_uid(request), message_id=message_id)
        return _branch_messages(request, selectors.message_children(message=message), message.session)


class SwitchBranchApi(APIView):
    """POST makes the branch holding this message active: the conversation shows the path to
    that branch's tip (a sibling chosen with "< 2/3 >", or a search hit on another branch)."""

    @extend_schema(
        request=None,
        responses={200: io.SwitchBranchOutput, 404: OpenApiResponse(description="no such message")},
    )
    def post(self, request: Request, message_id: str) -> Response:
        message = selectors.get_message(user_id=_uid(request), message_id=message_id)
        session = services.switch_branch(session=message.session, message=message)
        return Response(
            io.SwitchBranchOutput({"session": session, "active_branch": session.active_branch}).data
        )


class ChatHistoryApi(APIView):
    """GET /api/chat-history: the latest exchanges across sessions, newest first."""

    @extend_schema(parameters=[io.ChatHistoryInput], responses=io.ChatHistoryItemOutput(many=True))
    def get(self, request: Request) -> Response:
        limit = _input(io.ChatHistoryInput, request.query_params)["limit"]
        exchanges = selectors.latest_exchanges(user_id=_uid(request), limit=limit)
        return Response(io.ChatHistoryItemOutput(exchanges, many=True).data)


LEGAL_HOLD_DETAIL = (
    "{count} conversation(s) are under a legal hold: they are hidden from you and will be erased "
    "when the hold is lifted. Everything else was erased."
)
PENDING_DETAIL = "Your erasure is recorded and will complete automatically as soon as chat storage is back."


def _erasure_response(request: Request, result: services.ErasureResult) -> Response:
    """200 with what was erased (and what a legal hold kept); 202 while the store is unreachable."""
    if not result.completed:
        detail = PENDING_DETAIL
    elif result.kept_session_ids:
        detail = LEGAL_HOLD_DETAIL.format(count=len(result.kept_session_ids))
    else:
        detail = "Erased."
    body = {
        **asdict(result.counts),
        "erasure_id": result.erasure_id,
        "completed": result.completed,
        "kept": result.kept_session_ids,
        "detail": detail,
        "status_url": request.build_absolute_uri(reverse("erasure-status", args=[result.erasure_id])),
    }
    code = status.HTTP_200_OK if result.completed else status.HTTP_202_ACCEPTED
    return Response(io.DeletedOutput(body).data, status=code)


class ClearAllApi(APIView):
    """DELETE /api/chat-history/clear-all: erase the caller's chats (sessions under legal hold are
    hidden and reported as kept); 202 while the chat store is unreachable."""

    @extend_schema(responses={200: io.DeletedOutput, 202: io.DeletedOutput})
    def delete(self, request: Request) -> Response:
        result = services.request_erasure(user_id=_uid(request), requested_by_id=_uid(request))
        return _erasure_response(request, result)


class ErasureStatusApi(APIView):
    """GET one of the caller's erasures: pending or completed, and what a legal hold kept (404 for
    anyone else's)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("erasure_id", int, OpenApiParameter.PATH, description="from the erasure")
        ],
        responses=io.ErasureOutput,
    )
    def get(self, request: Request, erasure_id: int) -> Response:
        erasure = selectors.get_erasure(user_id=_uid(request), erasure_id=erasure_id)
        return Response(io.ErasureOutput(erasure).data)


class SessionListApi(APIView):
    """GET lists the caller's sessions (pinned first, newest first); POST starts one."""

    @extend_schema(parameters=[io.SessionListInput], responses=io.SessionPageOutput)
    def get(self, request: Request) -> Response:
        query = _input(io.SessionListInput, request.query_params)
        try:
            page = selectors.list_sessions(
                user_id=_uid(request),
                archived=query["archived"],
                pinned=query["pinned"],
                tag=query.get("tag"),
                session_type=query.get("type"),
                updated_since=query.get("updated_since"),
                cursor=query.get("cursor"),
                limit=query["page_size"],
            )
        except PyMongoError as exc:
            return self.recent(request, query, exc)
        return Response(io.SessionPageOutput({"results": page.items, "next_cursor": page.next_cursor}).data)

    def recent(self, request: Request, query: dict[str, Any], exc: PyMongoError) -> Response:
        """MongoDB is down: the first page of live sessions active recently, from the cache."""
        filtered = any(
            query.get(name) is not None for name in ("tag", "type", "updated_since", "cursor", "pinned")
        )
        if not store.is_outage(exc) or filtered or query["archived"] is not False:
            raise _newest_only(exc)
        try:
            sessions, as_of = recent_history.recent_sessions(user_id=_uid(request), limit=query["page_size"])
        except recent_history.CacheUnavailable:
            raise exc from None
        body = io.SessionPageOutput({"results": sessions, "next_cursor": None}).data
        return Response({**body, "degraded": True, "as_of": as_of.isoformat()})

    @extend_schema(request=io.SessionCreateInput, responses={201: io.SessionOutput})
    def post(self, request: Request) -> Response:
        data = _input(io.SessionCreateInput, request.data)
        session = services.start_session(
            user_id=_uid(request), channel="api", language=_language(request), **data
        )
        return Response(io.SessionOutput(session).data, status=status.HTTP_201_CREATED)


class SessionDetailApi(APIView):
    """GET / PUT / PATCH / DELETE (soft) one of the caller's sessions."""

    @extend_schema(parameters=[SESSION_ID], responses=io.SessionOutput)
    def get(self, request: Request, session_id: str) -> Response:
        try:
            session = _session(request, session_id)
        except PyMongoError as exc:  # the page asks for it after every turn: degraded, like the pages
            recent = _recent(request, session_id, exc)
            stale = {"degraded": True, "as_of": recent.as_of.isoformat()}
            return Response({**io.SessionOutput(recent.session).data, **stale})
        return Response(io.SessionOutput(session).data)

    @extend_schema(parameters=[SESSION_ID], request=io.SessionUpdateInput, responses=io.SessionOutput)
    def patch(self, request: Request, session_id: str) -> Response:
        session = _session(request, session_id)
        changes = _input(io.SessionUpdateInput, request.data)
        updated = services.update_session(session=session, language=_language(request), **changes)
        return Response(io.SessionOutput(updated).data)

    @extend_schema(parameters=[SESSION_ID], request=io.SessionUpdateInput, responses=io.SessionOutput)
    def put(self, request: Request, session_id: str) -> Response:
        return self.patch(request, session_id)

    @extend_schema(parameters=[SESSION_ID], responses={204: None})
    def delete(self, request: Request, session_id: str) -> Response:
        services.soft_delete_session(session=_session(request, session_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionRestoreApi(APIView):
    @extend_schema(parameters=[SESSION_ID], request=None, responses=io.SessionOutput)
    def post(self, request: Request, session_id: str) -> Response:
        session = selectors.get_session(user_id=_uid(request), session_id=session_id, include_deleted=True)
        return Response(io.SessionOutput(services.restore_session(session=session)).data)


class StopReplyApi(APIView):
    """POST asks the reply streaming in this session to stop: the stream ends with a ``stopped``
    event and the text so far is stored with status ``stopped`` (works behind proxies that never
    report a client leaving). 202 whether or not a reply was streaming; someone else's is a 404."""

    @extend_schema(
        parameters=[SESSION_ID],
        request=None,
        responses={202: OpenApiResponse(description="stop requested"), 404: OpenApiResponse()},
    )
    def post(self, request: Request, session_id: str) -> Response:
        stops.request_stop(user_id=_uid(request), session_id=session_id)
        return Response({"detail": "Stop requested."}, status=status.HTTP_202_ACCEPTED)


class SessionPermanentDeleteApi(APIView):
    """DELETE destroys a session (a held one is only hidden); 202 while the store is unreachable."""

    @extend_schema(parameters=[SESSION_ID], responses={200: io.DeletedOutput, 202: io.DeletedOutput})
    def delete(self, request: Request, session_id: str) -> Response:
        session = selectors.get_session(user_id=_uid(request), session_id=session_id, include_deleted=True)
        result = services.request_erasure(
            user_id=_uid(request), session_id=session.session_id, requested_by_id=_uid(request)
        )
        return _erasure_response(request, result)


class SessionMessagesApi(APIView):
    """GET a page of messages: the newest ``limit``, or ``limit`` before/after an order number."""

    @extend_schema(parameters=[SESSION_ID, io.MessagePageInput], responses=io.MessagePageOutput)
    def get(self, request: Request, session_id: str) -> Response:
        query = _input(io.MessagePageInput, request.query_params)
        try:
            session = _session(request, session_id)
            page = selectors.message_page(
                session=session, limit=query["limit"], before=query.get("before"), after=query.get("after")
            )
        except PyMongoError as exc:
            if query.get("before") is not None or query.get("after") is not None:
                raise _newest_only(exc) from exc
            recent = _recent(request, session_id, exc)
            messages, older = recent.newest(query["limit"])
            return Response(
                {
                    "results": _message_list(messages, recent.session, user_id=_uid(request)),
                    "has_older": older is not None,
                    "has_newer": False,
                    "older_cursor": older,
                    "newer_cursor": None,
                    "degraded": True,
                    "as_of": recent.as_of.isoformat(),
                }
            )
        return Response(
            {
                "results": _message_list(page.items, session, user_id=_uid(request)),
                "has_older": page.has_older,
                "has_newer": page.has_newer,
                "older_cursor": page.older_cursor,
                "newer_cursor": page.newer_cursor,
            }
        )


class SessionFullApi(APIView):
    """GET a session with its newest messages (capped; ``older_cursor`` pages further back)."""

    @extend_schema(parameters=[SESSION_ID, io.MessagePageInput], responses=io.FullSessionOutput)
    def get(self, request: Request, session_id: str) -> Response:
        query = _input(io.MessagePageInput, request.query_params)
        try:
            session = _session(request, session_id)
            page = selectors.message_page(session=session, limit=query["limit"], before=query.get("before"))
        except PyMongoError as exc:
            if query.get("before") is not None:
                raise _newest_only(exc) from exc
            recent = _recent(request, session_id, exc)
            messages, older = recent.newest(query["limit"])
            return Response(
                {
                    "session": io.SessionOutput(recent.session).data,
                    "messages": _message_list(messages, recent.session, user_id=_uid(request)),
                    "has_older": older is not None,
                    "older_cursor": older,
                    "degraded": True,
                    "as_of": recent.as_of.isoformat(),
                }
            )
        return Response(
            {
                "session": io.SessionOutput(session).data,
                "messages": _message_list(page.items, session, user_id=_uid(request)),
                "has_older": page.has_older,
                "older_cursor": page.older_cursor,
            }
        )


class SessionStatisticsApi(APIView):
    @extend_schema(parameters=[SESSION_ID], responses=io.SessionStatisticsOutput)
    def get(self, request: Request, session_id: str) -> Response:
        stats = selectors.session_statistics(session=_session(request, session_id))
        return Response(io.SessionStatisticsOutput(stats).data)


class SessionTokenUsageApi(APIView):
    @extend_schema(parameters=[SESSION_ID], responses=io.TokenUsageOutput)
    def get(self, request: Request, session_id: str) -> Response:
        session = _session(request, session_id)
        usage = selectors.token_usage_by_model(user_id=_uid(request), session=session)
        return Response(io.TokenUsageOutput(usage).data)


class TokenUsageApi(APIView):
    @extend_schema(parameters=[io.TokenUsageInput], responses=io.TokenUsageOutput)
    def get(self, request: Request) -> Response:
        query = _input(io.TokenUsageInput, request.query_params)
        usage = selectors.token_usage_by_model(
            user_id=_uid(request), since=query.get("since"), until=query.get("until")
        )
        return Response(io.TokenUsageOutput(usage).data)


class SearchApi(APIView):
    @extend_schema(parameters=[io.SearchInput], responses=io.SearchOutput)
    def get(self, request: Request) -> Response:
        query = _input(io.SearchInput, request.query_params)
        result = selectors.search_chats(
            query=query["q"],
            user_id=_uid(request),
            limit=query["limit"],
            cursor=query.get("cursor"),
            sort=query["sort"],
        )
        data = {
            "sessions": result.sessions,
            "messages": result.messages,
            "has_more": result.has_more,
            "next_cursor": result.next_cursor,
        }
        return Response(io.SearchOutput({"data": data}).data)


class SessionExportApi(APIView):
    """GET a download of one session as json, csv, md, txt, pdf or openwebui (Open WebUI's import)."""

    throttle_scope = "chat_export"

    @extend_schema(
        parameters=[SESSION_ID, OpenApiParameter("format", str, enum=list(exporters.SESSION_FORMATS))],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, session_id: str) -> StreamingHttpResponse:
        fmt = exporters.check_format(request.query_params.get("format", "json"), exporters.SESSION_FORMATS)
        session = _session(request, session_id)
        response = StreamingHttpResponse(
            exporters.render_session_bytes(session, fmt), content_type=exporters.FILES[fmt].content_type
        )
        response["Content-Disposition"] = f'attachment; filename="{exporters.export_filename(session, fmt)}"'
        return response


class ExportAllApi(APIView):
    """GET all of the caller's sessions: NDJSON streamed (``json``/``ndjson``), Open WebUI's import
    (``openwebui``), or a zip with a manifest (``include=md,pdf`` adds each session as Markdown/PDF)."""

    throttle_scope = "chat_export"

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(exporters.ALL_FORMATS)),
            OpenApiParameter("include", str, description="zip only: comma-separated md, pdf"),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request) -> StreamingHttpResponse | FileResponse:
        fmt = exporters.check_format(request.query_params.get("format", "json"), exporters.ALL_FORMATS)
        if fmt == "openwebui":
            response = StreamingHttpResponse(
                (chunk.encode() for chunk in exporters.open_webui_lines(_uid(request))),
                content_type=exporters.FILES["openwebui"].content_type,
            )
            response["Content-Disposition"] = 'attachment; filename="medibot-chats.openwebui.json"'
            return response
        if fmt == "zip":
            include = tuple(
                exporters.check_format(part, exporters.ZIP_EXTRAS)
                for part in request.query_params.get("include", "").split(",")
                if part
            )
            return FileResponse(
                exporters.zip_archive(_uid(request), include=include),
                as_attachment=True,
                filename="medibot-chats.zip",
                content_type="application/zip",
            )
        response = StreamingHttpResponse(
            (line.encode() for line in exporters.ndjson_lines(_uid(request))),
            content_type=exporters.FILES["ndjson"].content_type,
        )
        response["Content-Disposition"] = 'attachment; filename="medibot-chats.ndjson"'
        return response


class VoteApi(APIView):
    """POST votes on a message (voting again changes the vote); DELETE removes the vote."""

    @extend_schema(
        request=io.VoteInput,
        responses={200: io.VoteOutput, 202: OpenApiResponse(description="chat storage is down: vote queued")},
    )
    def post(self, request: Request, message_id: str) -> Response:
        data = _input(io.VoteInput, request.data)
        cast = services.cast_vote(user_id=_uid(request), message_id=message_id, **data)
        if cast.queued:
            return Response({"detail": QUEUED_DETAIL, "queued": True}, status=status.HTTP_202_ACCEPTED)
        return Response(io.VoteOutput(cast.vote, context={"message": cast.message}).data)

    @extend_schema(responses={204: None, 404: OpenApiResponse(description="no such message or vote")})
    def delete(self, request: Request, message_id: str) -> Response:
        message = selectors.get_message(user_id=_uid(request), message_id=message_id)
        if not services.unvote(message=message, user_id=_uid(request)):
            return Response(
                {"detail": "You have not voted on this message."}, status=status.HTTP_404_NOT_FOUND
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class HealthApi(APIView):
    """GET the state of every store; 503 naming what is down. No credentials in the answer."""

    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []
    throttle_scope = "health"

    @extend_schema(responses={200: io.HealthOutput, 503: io.HealthOutput})
    def get(self, request: Request) -> Response:
        report = health.check_all()
        code = status.HTTP_200_OK if not report["down"] else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(io.HealthOutput(report).data, status=code)


# --- staff routes ------------------------------------------------------------------------------------


class GlobalStatisticsApi(APIView):
    permission_classes = [StaffPermission(READ_CHAT_STATISTICS)]

    @extend_schema(responses=io.GlobalStatisticsOutput)
    def get(self, request: Request) -> Response:
        statistics = staff_access.store_statistics(actor=request.user, days=30, request=request)
        return Response(io.GlobalStatisticsOutput(statistics).data)


class CleanupApi(APIView):
    permission_classes = [StaffPermission(RUN_CHAT_CLEANUP)]

    @extend_schema(parameters=[io.CleanupInput], request=None, responses=io.CleanupOutput)
    def post(self, request: Request) -> Response:
        query = _input(io.CleanupInput, request.query_params)
        report = staff_access.run_cleanup(
            actor=request.user, days_old=query.get("days_old"), dry_run=query["dry_run"], request=request
        )
        return Response(io.CleanupOutput(report).data)


class StaffUsersApi(APIView):
    permission_classes = [StaffPermission(VIEW_USER_DIRECTORY)]

    @extend_schema(parameters=[io.StaffUsersInput], responses=io.StaffUserPageOutput)
    def get(self, request: Request) -> Response:
        query = _input(io.StaffUsersInput, request.query_params)
        page = staff_access.users_with_chat_counts(
            actor=request.user, cursor=query.get("cursor", 0), size=query["page_size"], request=request
        )
        return Response(io.StaffUserPageOutput({"results": page.rows, "next_cursor": page.next_cursor}).data)


class StaffUserConversationsApi(APIView):
    permission_classes = [StaffPermission(READ_PATIENT_CHATS)]

    @extend_schema(parameters=[io.SessionListInput], responses=io.SessionPageOutput)
    def get(self, request: Request, user_id: int) -> Response:
        query = _input(io.SessionListInput, request.query_params)
        page = staff_access.sessions_of_user(
            actor=request.user,
            user_id=user_id,
            archived=query["archived"],
            cursor=query.get("cursor"),
            size=query["page_size"],
            request=request,
        )
        return Response(io.SessionPageOutput({"results": page.items, "next_cursor": page.next_cursor}).data)


class StaffStatsApi(APIView):
    permission_classes = [StaffPermission(READ_CHAT_STATISTICS)]

    @extend_schema(
        responses=inline_serializer(
            "StaffStats",
            {
                "total_users": serializers.IntegerField(),
                "users_with_chats": serializers.IntegerField(),
                "total_sessions": serializers.IntegerField(),
                "total_messages": serializers.IntegerField(),
                "messages_by_role": serializers.DictField(child=serializers.IntegerField()),
            },
        )
    )
    def get(self, request: Request) -> Response:
        return Response(staff_access.user_totals(actor=request.user, request=request))


class StaffLatestChatsApi(APIView):
    permission_classes = [StaffPermission(READ_PATIENT_CHATS)]

    @extend_schema(parameters=[io.ChatHistoryInput], responses=io.LatestChatOutput(many=True))
    def get(self, request: Request) -> Response:
        limit = _input(io.ChatHistoryInput, request.query_params)["limit"]
        rows = staff_access.latest_chats(actor=request.user, limit=limit, request=request)
        return Response(io.LatestChatOutput(rows, many=True).data)
