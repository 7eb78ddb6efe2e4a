"""The console's pages around logging in: the login form, changing the password, errors.

Rendered from ``templates/console/`` in the viewer's language like every console page
(``node.web.console_site``). An error's message is the catalogue's wording of its code when
the catalogue has one, else the error's own (English) message.
"""

from __future__ import annotations

from aiohttp import web

from node.web.console_site import choose_language, render


def login_form(
    request: web.Request,
    token: str,
    *,
    next_path: str = "",
    message_key: str | None = None,
    message: str | None = None,
    status: int = 200,
) -> web.Response:
    return render(request, "login.html", status=status, token=token, next_path=next_path,
                  message=_text(request, message_key, message))  # fmt: skip


def password_form(
    request: web.Request,
    csrf: str,
    *,
    required: bool,
    message_key: str | None = None,
    message: str | None = None,
    status: int = 200,
) -> web.Response:
    return render(request, "password.html", status=status, required=required,
                  message=_text(request, message_key, message))  # fmt: skip


def error_page(request: web.Request, status: int, code: str, message: str) -> web.Response:
    text = _text(request, f"console.error.{code}", message)
    return render(request, "error.html", status=status, code=status, message=text)


def _text(request: web.Request, key: str | None, fallback: str | None) -> str | None:
    catalogue = choose_language(request)
    if key and key in catalogue.messages:
        return catalogue.text(key)
    return fallback
