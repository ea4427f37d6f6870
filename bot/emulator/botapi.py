"""The parameters the current Bot API lists for each method the emulator implements.

Derived from the official method list (Bot API 10.1, June 11, 2026; the
machine-readable copy of https://core.telegram.org/bots/api in PaulSonOfLars/
telegram-bot-api-spec) and written out here so the emulator needs no file at run time.
A parameter the bot sends that is not listed (a deprecated one such as
disable_web_page_preview, or a typo) is recorded in Emulator.unknown_parameters.
When a new Bot API version adds a parameter the bot needs, add it here from the list.
"""

from __future__ import annotations

BOT_API_VERSION = "Bot API 10.1"

PARAMETERS: dict[str, frozenset[str]] = {
    "getMe": frozenset(),
    "getUpdates": frozenset({"offset", "limit", "timeout", "allowed_updates"}),
    "setWebhook": frozenset(
        {
            "url",
            "certificate",
            "ip_address",
            "max_connections",
            "allowed_updates",
            "drop_pending_updates",
            "secret_token",
        }
    ),
    "deleteWebhook": frozenset({"drop_pending_updates"}),
    "getWebhookInfo": frozenset(),
    "sendMessage": frozenset(
        {
            "business_connection_id",
            "chat_id",
            "message_thread_id",
            "direct_messages_topic_id",
            "text",
            "parse_mode",
            "entities",
            "link_preview_options",
            "disable_notification",
            "protect_content",
            "allow_paid_broadcast",
            "message_effect_id",
            "suggested_post_parameters",
            "reply_parameters",
            "reply_markup",
        }
    ),
    "editMessageText": frozenset(
        {
            "business_connection_id",
            "chat_id",
            "message_id",
            "inline_message_id",
            "text",
            "parse_mode",
            "entities",
            "link_preview_options",
            "rich_message",
            "reply_markup",
        }
    ),
    "editMessageReplyMarkup": frozenset(
        {
            "business_connection_id",
            "chat_id",
            "message_id",
            "inline_message_id",
            "reply_markup",
        }
    ),
    "deleteMessage": frozenset({"chat_id", "message_id"}),
    "deleteMessages": frozenset({"chat_id", "message_ids"}),
    "answerCallbackQuery": frozenset(
        {
            "callback_query_id",
            "text",
            "show_alert",
            "url",
            "cache_time",
        }
    ),
    "sendDocument": frozenset(
        {
            "business_connection_id",
            "chat_id",
            "message_thread_id",
            "direct_messages_topic_id",
            "document",
            "thumbnail",
            "caption",
            "parse_mode",
            "caption_entities",
            "disable_content_type_detection",
            "disable_notification",
            "protect_content",
            "allow_paid_broadcast",
            "message_effect_id",
            "suggested_post_parameters",
            "reply_parameters",
            "reply_markup",
        }
    ),
    "getFile": frozenset({"file_id"}),
    "sendChatAction": frozenset(
        {
            "business_connection_id",
            "chat_id",
            "message_thread_id",
            "action",
        }
    ),
    "setMyCommands": frozenset({"commands", "scope", "language_code"}),
    "getMyCommands": frozenset({"scope", "language_code"}),
    "deleteMyCommands": frozenset({"scope", "language_code"}),
    "setChatMenuButton": frozenset({"chat_id", "menu_button"}),
    "setMyDescription": frozenset({"description", "language_code"}),
    "setMyShortDescription": frozenset({"short_description", "language_code"}),
    "logOut": frozenset(),
    "close": frozenset(),
}

# By lower-cased name: Telegram matches method names without regard to case.
BY_LOWER_NAME: dict[str, frozenset[str]] = {name.lower(): p for name, p in PARAMETERS.items()}
