"""The console's few server-rendered pages until the console pages proper exist.

Plain HTML (no inline script or style, which the Content-Security-Policy forbids anyway),
every value escaped. The page work restyles these on the web app's page framework.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from node.web.csrf import FIELD


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · hashbank console</title></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _message(message: str | None) -> str:
    return f'<p role="alert">{escape(message)}</p>' if message else ""


def login_form(
    token: str, *, next_path: str = "", message: str | None = None, status: int = 200
) -> web.Response:
    return _page(
        "Log in",
        _message(message) + '<form method="post" action="/console/login">'
        f'<input type="hidden" name="{FIELD}" value="{escape(token)}">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<p><label>Name <input name="name" autocomplete="username" required></label></p>'
        '<p><label>Password <input name="password" type="password" '
        'autocomplete="current-password" required></label></p>'
        '<p><button type="submit">Log in</button></p></form>',
        status,
    )


def _logout(csrf: str) -> str:
    return (
        '<form method="post" action="/console/logout">'
        f'<input type="hidden" name="{FIELD}" value="{escape(csrf)}">'
        '<button type="submit">Log out</button></form>'
    )


def home(name: str, role: str, csrf: str) -> web.Response:
    return _page(
        "Console",
        f"<p>Logged in as <strong>{escape(name)}</strong> ({escape(role)}).</p>"
        '<p><a href="/console/password">Change your password</a></p>' + _logout(csrf),
    )


def password_form(
    csrf: str, *, required: bool, message: str | None = None, status: int = 200
) -> web.Response:
    intro = (
        "<p>The password you were given works once: choose your own to continue.</p>"
        if required
        else ""
    )
    return _page(
        "Change your password",
        intro + _message(message) + '<form method="post" action="/console/password">'
        f'<input type="hidden" name="{FIELD}" value="{escape(csrf)}">'
        '<p><label>Current password <input name="current" type="password" '
        'autocomplete="current-password" required></label></p>'
        '<p><label>New password (at least 12 characters) <input name="new" type="password" '
        'autocomplete="new-password" minlength="12" required></label></p>'
        '<p><button type="submit">Change password</button></p></form>' + _logout(csrf),
        status,
    )


def error_page(status: int, message: str) -> web.Response:
    return _page(
        "Something went wrong" if status >= 500 else "That did not work",
        _message(message) + '<p><a href="/console/login">Back to the login page</a></p>',
        status,
    )
