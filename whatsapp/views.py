"""The web page where a signed-in patient enters the code Medibot sent them over WhatsApp."""

from __future__ import annotations

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from whatsapp import phones, services
from whatsapp.exceptions import InvalidLinkCode
from whatsapp.models import Contact


class LinkCodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="Code from WhatsApp",
        help_text="Send LINK to Medibot on WhatsApp; it answers with a code such as ABCD-2345.",
    )


@method_decorator(never_cache, name="dispatch")
@method_decorator(sensitive_post_parameters("code"), name="post")
class LinkWhatsAppPage(LoginRequiredMixin, View):
    """Signed-in only: the code proves the phone, the session proves the account."""

    template_name = "whatsapp/link.html"

    def _page(self, request: HttpRequest, form: LinkCodeForm, *, linked: str = "") -> HttpResponse:
        numbers = Contact.objects.filter(user_id=int(request.user.pk or 0)).values_list(
            "phone_number", flat=True
        )
        context = {"form": form, "linked": linked, "numbers": [phones.masked(n) for n in numbers]}
        return render(request, self.template_name, context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request, LinkCodeForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = LinkCodeForm(request.POST)
        if not form.is_valid():
            return self._page(request, form)
        try:
            contact = services.link_number(user_id=int(request.user.pk or 0), code=form.cleaned_data["code"])
        except InvalidLinkCode:
            form.add_error(
                "code", "This code is unknown, already used or expired. Send LINK again for a new one."
            )
            return self._page(request, form)
        return self._page(request, LinkCodeForm(), linked=phones.masked(contact.phone_number))
