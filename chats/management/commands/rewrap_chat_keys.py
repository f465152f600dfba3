"""Rotate the master key of the chat encryption keys (rewrap_many_data_key)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pymongo
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chats import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt every patient data key under a new master key. local: --new-local-key-file (96 bytes, "
        "base64), then point CHAT_ENCRYPTION_LOCAL_KEY(_FILE) at it and restart. Cloud KMS: --master-key "
        "(JSON, e.g. a new AWS key ARN), or nothing to rewrap under the configured key. Data stays as it is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--new-local-key-file", help="the new local master key (base64 of 96 bytes)")
        parser.add_argument("--master-key", help="the new cloud master key description (JSON)")

    def handle(self, *args: Any, **options: Any) -> None:
        with pymongo.timeout(3600):
            if options["new_local_key_file"]:
                new_key = base64.b64decode(Path(options["new_local_key_file"]).read_bytes().strip())
                if len(new_key) != 96:
                    raise CommandError("the new local master key must be 96 bytes (base64-encoded).")
                count = crypto.rewrap_local_master_key(new_key)
            elif options["master_key"]:
                from django.conf import settings

                count = crypto.rewrap_all_keys(
                    provider=settings.CHAT_ENCRYPTION_KMS_PROVIDER,
                    master_key=json.loads(options["master_key"]),
                )
            else:
                count = crypto.rewrap_all_keys()
        self.stdout.write(f"rewrapped {count} patient data keys")
