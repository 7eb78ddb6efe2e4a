"""The web app publisher nodes serve: the victim's self-service pages and the in-browser hasher.

- ``routes.py``: the one route table (pages and ``/v1/self/*``), mounted by
  ``add_web_routes(app, node)``; ``assets.py`` serves ``static/`` with the security headers.
- ``pages.py`` renders a template of ``templates/`` in the visitor's language
  (``render(request, "x.html", **extra)``): every page extends ``base.html`` (quick exit,
  language switcher, the catalogue as a JSON data block for the page's scripts, which import
  ``static/app/page.js`` for ``t()``, ``post()`` and the quick exit). New pages add their
  messages to every catalogue in ``i18n/`` (``language.py``; tests/web/test_catalogues.py
  checks completeness).
- ``selfservice.py``: the thin handlers; ``shapes.py`` their JSON; ``protect.py`` their guards.
- The console under ``/console`` (caseworkers and operators): ``console.py`` (its middleware,
  login), ``console_routes.py`` (its one route table, ``add_console``), ``console_site.py``
  (its pages' language, templates in ``templates/console/``, catalogues in ``i18n/console/``),
  and one module per part: ``console_cases.py``, ``console_node.py``, ``console_charter.py``,
  ``console_audit.py``.
"""
