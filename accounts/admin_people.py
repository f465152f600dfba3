"""Finding people in the admin: a list filter whose text box takes a username, email, phone or user id."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import selectors


class PersonFilter(admin.SimpleListFilter):
    """Rows whose ``person_field`` (a plain user id column) belongs to the person named in the box:
    one look-up on ``accounts_user`` (``selectors.find_people``), then an ``__in`` on that column."""

    template = "admin/person_filter.html"
    person_field = "user_id"
    other_params: list[tuple[str, str]] = []

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self) -> bool:
        return True  # the text box, even before anyone is named

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(**{f"{self.person_field}__in": selectors.find_people(term=value)})

    def choices(self, changelist: Any) -> Any:
        """The text box's form keeps the page's other filters as hidden fields."""
        self.other_params = [
            (name, value)
            for name, value in changelist.params.items()
            if name not in (self.parameter_name, "p") and isinstance(value, str)
        ]
        return super().choices(changelist)


def person_filter(*, title: str, parameter: str, field: str) -> type[PersonFilter]:
    return type(
        f"{parameter.title()}PersonFilter",
        (PersonFilter,),
        {"title": title, "parameter_name": parameter, "person_field": field},
    )
