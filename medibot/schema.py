"""OpenAPI generation details."""

from __future__ import annotations

import re

from drf_spectacular.openapi import AutoSchema


class MedibotAutoSchema(AutoSchema):
    """Operation ids from the full path and method: unique even where one view serves two routes."""

    def get_operation_id(self) -> str:
        path = re.sub(r"[{}]", "", self.path).strip("/")
        return re.sub(r"[^A-Za-z0-9]+", "_", f"{path}_{self.method}").lower()
