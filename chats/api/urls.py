"""Chat API routes: the Medibot routes, the session routes, feedback/cost and staff routes."""

from django.urls import path

from chats.api import backup_import_views, sharing_views, transfer_views, views

urlpatterns = [
    # Medibot (reference 000)
    path("api/chat", views.SendMessageApi.as_view(), name="chat"),
    path("api/chat-history", views.ChatHistoryApi.as_view(), name="chat-history"),
    path("api/chat-history/clear-all", views.ClearAllApi.as_view(), name="chat-history-clear-all"),
    path("api/chat/erasures/<int:erasure_id>", views.ErasureStatusApi.as_view(), name="erasure-status"),
    path("api/conversations", views.SessionListApi.as_view(), name="conversations"),
    path(
        "api/conversation/<str:session_id>/messages",
        views.SessionMessagesApi.as_view(),
        name="conversation-messages",
    ),
    path("api/conversation/<str:session_id>", views.SessionDetailApi.as_view(), name="conversation"),
    # Session routes (reference 001)
    path("api/chat/send", views.SendMessageApi.as_view(), name="chat-send"),
    path("api/chat/sessions", views.SessionListApi.as_view(), name="sessions"),
    path("api/chat/sessions/<str:session_id>", views.SessionDetailApi.as_view(), name="session"),
    path("api/chat/sessions/<str:session_id>/full", views.SessionFullApi.as_view(), name="session-full"),
    path(
        "api/chat/sessions/<str:session_id>/messages",
        views.SessionMessagesApi.as_view(),
        name="session-messages",
    ),
    path(
        "api/chat/sessions/<str:session_id>/restore",
        views.SessionRestoreApi.as_view(),
        name="session-restore",
    ),
    path("api/chat/sessions/<str:session_id>/stop", views.StopReplyApi.as_view(), name="session-stop"),
    path(
        "api/chat/sessions/<str:session_id>/permanent",
        views.SessionPermanentDeleteApi.as_view(),
        name="session-permanent",
    ),
    path(
        "api/chat/sessions/<str:session_id>/statistics",
        views.SessionStatisticsApi.as_view(),
        name="session-statistics",
    ),
    path(
        "api/chat/sessions/<str:session_id>/export", views.SessionExportApi.as_view(), name="session-export"
    ),
    path(
        "api/chat/sessions/<str:session_id>/token-usage",
        views.SessionTokenUsageApi.as_view(),
        name="session-token-usage",
    ),
    # Sharing with the care team (issue 17)
    path("api/chat/sessions/<str:session_id>/share", sharing_views.ShareApi.as_view(), name="session-share"),
    path("api/chat/shared", sharing_views.SharedListApi.as_view(), name="shared-conversations"),
    path(
        "api/chat/shared/<str:session_id>",
        sharing_views.SharedConversationApi.as_view(),
        name="shared-conversation",
    ),
    path(
        "api/chat/shared/<str:session_id>/messages",
        sharing_views.SharedMessagesApi.as_view(),
        name="shared-conversation-messages",
    ),
    path("api/chat/statistics/global", views.GlobalStatisticsApi.as_view(), name="statistics-global"),
    path("api/chat/search", views.SearchApi.as_view(), name="search"),
    path("api/chat/cleanup", views.CleanupApi.as_view(), name="cleanup"),
    path("api/chat/export", views.ExportAllApi.as_view(), name="export-all"),
    path("api/chat/health", views.HealthApi.as_view(), name="health"),
    path("api/chat/sync", backup_import_views.SyncStartApi.as_view(), name="chat-sync"),
    path("api/chat/sync/<str:task_id>", backup_import_views.SyncStatusApi.as_view(), name="chat-sync-status"),
    # A patient's own imports and exports from the page (issues 17, 21)
    path("api/chat/imports", transfer_views.ImportStartApi.as_view(), name="chat-import"),
    path("api/chat/imports/sources", transfer_views.ImportSourcesApi.as_view(), name="chat-import-sources"),
    path("api/chat/exports", transfer_views.ExportStartApi.as_view(), name="chat-export-start"),
    path(
        "api/chat/transfers/<str:transfer_id>",
        transfer_views.TransferStatusApi.as_view(),
        name="chat-transfer",
    ),
    path(
        "api/chat/transfers/<str:transfer_id>/cancel",
        transfer_views.TransferCancelApi.as_view(),
        name="chat-transfer-cancel",
    ),
    path(
        "api/chat/transfers/<str:transfer_id>/download",
        transfer_views.TransferDownloadApi.as_view(),
        name="chat-transfer-download",
    ),
    # Feedback and cost (reference 004)
    path("api/chat/messages/<str:message_id>/vote", views.VoteApi.as_view(), name="message-vote"),
    # Branches (issue 17): regenerate, edit and resend, versions at a fork, the active branch
    path(
        "api/chat/messages/<str:message_id>/regenerate",
        views.RegenerateReplyApi.as_view(),
        name="message-regenerate",
    ),
    path("api/chat/messages/<str:message_id>/edit", views.EditMessageApi.as_view(), name="message-edit"),
    path(
        "api/chat/messages/<str:message_id>/siblings",
        views.MessageSiblingsApi.as_view(),
        name="message-siblings",
    ),
    path(
        "api/chat/messages/<str:message_id>/children",
        views.MessageChildrenApi.as_view(),
        name="message-children",
    ),
    path(
        "api/chat/messages/<str:message_id>/activate",
        views.SwitchBranchApi.as_view(),
        name="message-activate",
    ),
    path("api/chat/token-usage", views.TokenUsageApi.as_view(), name="token-usage"),
    # Staff (reference 002)
    path("api/admin/users", views.StaffUsersApi.as_view(), name="staff-users"),
    path(
        "api/admin/users/<int:user_id>/conversations",
        views.StaffUserConversationsApi.as_view(),
        name="staff-user-conversations",
    ),
    path("api/admin/stats", views.StaffStatsApi.as_view(), name="staff-stats"),
    path("api/admin/latest-chats", views.StaffLatestChatsApi.as_view(), name="staff-latest-chats"),
]
