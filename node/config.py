"""``config.toml``: the settings an operator edits, parsed and checked, and ``init``."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets
import tomllib
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.datadir import DataDir, new_token, save_key, write_secret
from node.errors import ConfigError
from protocol.errors import ProtocolError
from protocol.identity import PublicKey, SigningKey, org_id_for, parse_hex

ROLES = ("publisher", "subscriber")
DEFAULT_PORT = 8750
MIN_BODY_BYTES = 5 * 1024 * 1024
MAX_DECODE_WORKERS = 16
MAX_INTERVAL_S = 86_400
LOG_FORMATS = ("text", "json")
MAX_IDLE_MINUTES = 24 * 60
MAX_SESSION_HOURS = 7 * 24
# Where the quick-exit button leaves to: an everyday page that gives nothing away.
DEFAULT_QUICK_EXIT = "https://www.google.com/"
WEB_TEXTS = ("helpline_name", "contact", "website", "quick_exit_url", "default_language")
MAX_WEB_TEXT = 500
# The positive numbers of the [limits] table (besides max_body_bytes).
LIMITS = (
    "api_rate",
    "api_burst",
    "peer_rate",
    "peer_burst",
    "request_timeout_s",
    "max_connections",
)
# Every setting config.toml may hold, by section; anything else is refused as a typo.
KNOWN: dict[str, tuple[str, ...]] = {
    "node": ("name", "org_id", "role"),
    "listen": ("host", "port", "public_url", "trusted_proxies"),
    "sync": ("interval_seconds", "confirm_own_head", "decode_workers"),
    "limits": ("max_body_bytes", *LIMITS),
    "peers": ("url", "node_id"),
    "console": ("idle_timeout_minutes", "session_hours"),
    "log": ("format",),
    "metrics": ("listen",),
    "web": ("self_service", "under_18", *WEB_TEXTS),
}
SECTIONS = "[node], [listen], [sync], [limits], [console], [log], [metrics], [web] and [[peers]]"


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """A peer node: where to reach it and the node id (public key) it must sign with."""

    url: str
    node_id: str


@dataclass(frozen=True, slots=True)
class Referral:
    """Where an under-18 is sent instead of self-service: words and a link (either may be empty)."""

    text: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The ``[web]`` table: the victim self-service pages a publisher node serves at ``/``."""

    self_service: bool = True
    helpline_name: str = ""  # empty: the node's name
    contact: str = ""
    website: str = ""
    quick_exit_url: str = DEFAULT_QUICK_EXIT
    default_language: str = "en"
    under_18: Referral = Referral()
    # Per language code (``[web.under_18.ar]``); a language without one uses ``under_18``.
    under_18_by_language: tuple[tuple[str, Referral], ...] = ()

    def referral(self, language: str) -> Referral:
        return dict(self.under_18_by_language).get(language, self.under_18)


@dataclass(frozen=True, slots=True)
class Config:
    """The settings in ``config.toml``."""

    name: str
    org_id: str = ""
    role: str = "publisher"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str = ""
    peers: tuple[PeerConfig, ...] = ()
    sync_interval_s: float = 30.0
    confirm_own_head: bool = True
    decode_workers: int = 1
    max_body_bytes: int = 8 * 1024 * 1024
    api_rate: float = 200.0
    api_burst: float = 1000.0
    peer_rate: float = 100.0
    peer_burst: float = 500.0
    request_timeout_s: float = 10.0
    max_connections: int = 1000
    # Reverse proxies whose X-Forwarded-For/-Proto the console believes (addresses/networks).
    trusted_proxies: tuple[str, ...] = ()
    console_idle_minutes: float = 30.0
    console_session_hours: float = 12.0
    log_format: str = "text"
    # "host:port" of a separate, token-free /metrics listener; "" serves none.
    metrics_listen: str = ""
    web: WebConfig = WebConfig()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 (RFC 3986 §3.2.2)
        return self.public_url or f"http://{host}:{self.port}"

    @property
    def self_service(self) -> bool:
        """Whether this node serves the victim self-service flow (publishers only)."""
        return self.role == "publisher" and self.web.self_service


def load_config(data: DataDir) -> Config:
    """Parse and check ``config.toml``; every problem names the file, the line and the setting."""
    try:
        text = data.config.read_text()
        raw = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read {data.config}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{data.config} is not valid TOML: {exc}") from None
    return parse_config(raw, str(data.config), text)


def parse_config(raw: dict[str, object], where: str, text: str | None = None) -> Config:
    """Check ``raw`` (from the file ``where``, whose ``text`` locates lines) into a Config."""
    at = Where(where, text)
    _refuse_unknown(raw, at)
    node = _table(raw, "node", at)
    listen = _table(raw, "listen", at)
    peers = tuple(_peer(p, i, at) for i, p in enumerate(_list(raw, "peers", at)))
    role = _choice(node, "role", ROLES, at) or "publisher"
    return Config(
        name=_name(node, at),
        org_id=_org_id(node, at),
        role=role,
        host=_host(listen, at),
        port=_port(listen, at),
        public_url=_url(listen, "public_url", at.at("listen", "public_url")) or "",
        peers=peers,
        **_sync(_table(raw, "sync", at), at),
        **_limits(_table(raw, "limits", at), at),
        **_observability(raw, listen, at),
        web=_web(raw, role, at),
    )


@dataclass(frozen=True, slots=True)
class Where:
    """The config file, for messages: ``path:line`` of a table, a key, or a peer's key."""

    path: str
    text: str | None = None

    def at(self, table: str, key: str | None = None, index: int | None = None) -> str:
        line = self.text and find_line(self.text, table, key, index)
        return f"{self.path}:{line}" if line else self.path


_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]\s]+)\s*\]")
_KEY = re.compile(r"""\s*["']?([A-Za-z0-9_-]+)["']?\s*=""")


def find_line(text: str, table: str, key: str | None, index: int | None = None) -> int | None:
    """The 1-based line of ``[table]`` (the ``index``-th ``[[table]]``) or of ``key`` in it.

    tomllib keeps no positions, so this scans the text: enough for the plain files people
    write; a setting it cannot place (a dotted key, an inline table) gets no line number.
    """
    current, seen, want = "", -1, index or 0
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            current = header.group(2)
            seen = seen + 1 if current == table and header.group(1) == "[[" else seen
            if key is None and current == table and (index is None or seen == want):
                return number
            continue
        found = _KEY.match(line)
        here = current == table and (index is None or seen == want)
        if key is not None and found and found.group(1) == key and here:
            return number
    return None


def _refuse_unknown(raw: dict[str, object], at: Where) -> None:
    """Unknown sections and settings are mistakes (a typo would silently keep a default)."""
    for name, value in raw.items():
        if name not in KNOWN:
            if isinstance(value, dict | list):
                raise ConfigError(
                    f"{at.at(name)}: unknown section [{name}]{_did_you_mean(name, KNOWN)}; "
                    f"the sections are {SECTIONS}"
                )
            homes = [f"[{table}]" for table, keys in KNOWN.items() if name in keys]
            hint = f"; it belongs under {homes[0]}" if homes else f"; the sections are {SECTIONS}"
            raise ConfigError(f"{at.at('', name)}: setting {name} is outside any section{hint}")
        tables = value if isinstance(value, list) else [value]
        for index, table in enumerate(tables):
            if not isinstance(table, dict):
                continue  # _table and _list say what is wrong with it
            for key in table:
                if key not in KNOWN[name]:
                    where = at.at(name, key, index if isinstance(value, list) else None)
                    raise ConfigError(
                        f"{where}: unknown setting {name}.{key}"
                        f"{_did_you_mean(key, KNOWN[name])}; [{name}] takes "
                        f"{', '.join(KNOWN[name])}"
                    )


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _table(raw: dict[str, object], name: str, at: Where) -> dict[str, object]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{at.at('', name)}: [{name}] must be a table")
    return value


def _list(raw: dict[str, object], name: str, at: Where) -> list[object]:
    value = raw.get(name, [])
    if not isinstance(value, list):
        raise ConfigError(f"{at.at(name)}: {name} must be an array of tables ([[{name}]])")
    return value


def _get(
    table: dict[str, object],
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    *,
    required: bool = False,
    setting: str = "",
) -> Any:
    value = table.get(key)
    setting = setting or key
    if value is None:
        if required:
            raise ConfigError(f"{where}: missing setting {setting!r}")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(
            f"{where}: setting {setting} has the wrong type: {value!r} is not {_kind(kind)}"
        )
    return value


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return "a number" if float in kinds else " or ".join(names.get(k, k.__name__) for k in kinds)


def _name(node: dict[str, object], at: Where) -> str:
    where = at.at("node", "name") if "name" in node else at.at("node")
    name = str(_get(node, "name", str, where, required=True, setting="node.name")).strip()
    if not 0 < len(name) <= 100 or not name.isprintable():
        raise ConfigError(f"{where}: node.name must be 1 to 100 printable characters")
    return name


def _org_id(node: dict[str, object], at: Where) -> str:
    where = at.at("node", "org_id")
    org_id = str(_get(node, "org_id", str, where, setting="node.org_id") or "")
    if org_id:
        try:
            parse_hex(org_id, 32, "node.org_id")
        except ProtocolError as exc:
            raise ConfigError(f"{where}: {exc.message}") from None
    return org_id


def _choice(table: dict[str, object], key: str, choices: tuple[str, ...], at: Where) -> str:
    where = at.at("node", key)
    value = str(_get(table, key, str, where, setting=f"node.{key}") or "")
    if value and value not in choices:
        raise ConfigError(f"{where}: node.{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _host(listen: dict[str, object], at: Where) -> str:
    where = at.at("listen", "host")
    host = _get(listen, "host", str, where, setting="listen.host")
    if host is not None and not host.strip():
        raise ConfigError(f"{where}: listen.host is empty (127.0.0.1 serves this machine only)")
    return str(host or "127.0.0.1")


def _port(listen: dict[str, object], at: Where) -> int:
    where = at.at("listen", "port")
    port = _get(listen, "port", int, where, setting="listen.port")
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"{where}: listen.port must be 0-65535, got {port}")
    return DEFAULT_PORT if port is None else int(port)


def _url(table: dict[str, object], key: str, where: str, setting: str = "") -> str | None:
    setting = setting or f"listen.{key}"
    url = _get(table, key, str, where, setting=setting)
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}: {setting} must be an http(s):// URL, got {url!r}")
    return None if url is None else str(url)


def _sync(sync: dict[str, object], at: Where) -> dict[str, Any]:
    values: dict[str, Any] = {}
    where = at.at("sync", "interval_seconds")
    interval = _get(sync, "interval_seconds", (int, float), where, setting="sync.interval_seconds")
    if interval is not None:
        if not 0 < interval <= MAX_INTERVAL_S:
            raise ConfigError(
                f"{where}: sync.interval_seconds must be more than 0 and at most "
                f"{MAX_INTERVAL_S} (a day), got {interval}"
            )
        values["sync_interval_s"] = float(interval)
    where = at.at("sync", "confirm_own_head")
    confirm = _get(sync, "confirm_own_head", bool, where, setting="sync.confirm_own_head")
    if confirm is not None:
        values["confirm_own_head"] = bool(confirm)
    where = at.at("sync", "decode_workers")
    workers = _get(sync, "decode_workers", int, where, setting="sync.decode_workers")
    if workers is not None:
        if not 0 <= workers <= MAX_DECODE_WORKERS:
            raise ConfigError(
                f"{where}: sync.decode_workers must be 0-{MAX_DECODE_WORKERS}, got {workers}"
            )
        values["decode_workers"] = int(workers)
    return values


def _limits(limits: dict[str, object], at: Where) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in ("max_body_bytes", *LIMITS):
        where = at.at("limits", setting)
        integral = setting in ("max_body_bytes", "max_connections")
        kind: type | tuple[type, ...] = int if integral else (int, float)
        value = _get(limits, setting, kind, where, setting=f"limits.{setting}")
        if value is None:
            continue
        if value <= 0:
            raise ConfigError(f"{where}: limits.{setting} must be positive, got {value}")
        if setting == "max_body_bytes" and value < MIN_BODY_BYTES:
            raise ConfigError(
                f"{where}: limits.max_body_bytes must be at least {MIN_BODY_BYTES} so a "
                "full-size entry can be pushed between nodes"
            )
        values[setting] = int(value) if integral else float(value)
    return values


def _observability(raw: dict[str, object], listen: dict[str, object], at: Where) -> dict[str, Any]:
    """The console's, the logs' and the metrics' settings (only those that are set)."""
    out: dict[str, Any] = {}
    proxies = listen.get("trusted_proxies")
    if proxies is not None:
        out["trusted_proxies"] = _networks(proxies, at.at("listen", "trusted_proxies"))
    console = _table(raw, "console", at)
    for key, field_name, most in (
        ("idle_timeout_minutes", "console_idle_minutes", MAX_IDLE_MINUTES),
        ("session_hours", "console_session_hours", MAX_SESSION_HOURS),
    ):
        where = at.at("console", key)
        value = _get(console, key, (int, float), where, setting=f"console.{key}")
        if value is not None:
            if not 0 < value <= most:
                raise ConfigError(f"{where}: console.{key} must be above 0 and at most {most}")
            out[field_name] = float(value)
    where = at.at("log", "format")
    fmt = _get(_table(raw, "log", at), "format", str, where, setting="log.format")
    if fmt is not None:
        if fmt not in LOG_FORMATS:
            raise ConfigError(f"{where}: log.format must be one of {', '.join(LOG_FORMATS)}")
        out["log_format"] = fmt
    where = at.at("metrics", "listen")
    metrics = _get(_table(raw, "metrics", at), "listen", str, where, setting="metrics.listen")
    if metrics:
        split_address(metrics, f"{where}: metrics.listen")
        out["metrics_listen"] = metrics
    return out


def _networks(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: listen.trusted_proxies must be an array of addresses")
    for text in value:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ConfigError(
                f"{where}: listen.trusted_proxies: {text!r} is not an IP address or network"
            ) from None
    return tuple(value)


def split_address(text: str, what: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as host and port; ConfigError naming ``what``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what} must be host:port (like 127.0.0.1:9750), got {text!r}")
    return host, int(port)


def _web(raw: dict[str, object], role: str, at: Where) -> WebConfig:
    """The ``[web]`` table: the self-service pages, and where under-18s are sent."""
    table = _table(raw, "web", at)
    where = at.at("web", "self_service")
    enabled = _get(table, "self_service", bool, where, setting="web.self_service")
    if enabled and role != "publisher":
        raise ConfigError(f'{where}: web.self_service = true needs node.role = "publisher"')
    texts = {key: _web_text(table, key, at.at("web", key), f"web.{key}") for key in WEB_TEXTS}
    for key in ("website", "quick_exit_url"):
        if texts[key] and not texts[key].startswith(("https://", "http://")):
            where = at.at("web", key)
            raise ConfigError(f"{where}: web.{key} must be an http(s) URL, got {texts[key]!r}")
    texts["quick_exit_url"] = texts["quick_exit_url"] or DEFAULT_QUICK_EXIT
    texts["default_language"] = texts["default_language"] or "en"
    under_18 = table.get("under_18", {})
    if not isinstance(under_18, dict):
        raise ConfigError(f"{at.at('web', 'under_18')}: web.under_18 must be a table")
    plain = {k: v for k, v in under_18.items() if not isinstance(v, dict)}
    default = _referral(plain, "", at.at("web.under_18"))
    by_language = tuple(
        (str(lang), _referral(value, f".{lang}", at.at(f"web.under_18.{lang}")))
        for lang, value in sorted(under_18.items())
        if isinstance(value, dict)
    )
    return WebConfig(
        self_service=role == "publisher" if enabled is None else enabled,
        under_18=default,
        under_18_by_language=by_language,
        **texts,
    )


def _web_text(table: dict[str, object], key: str, where: str, setting: str) -> str:
    value = str(_get(table, key, str, where, setting=setting) or "").strip()
    if len(value) > MAX_WEB_TEXT or not value.isprintable():
        raise ConfigError(f"{where}: {setting} must be at most {MAX_WEB_TEXT} printable characters")
    return value


def _referral(table: dict[str, object], suffix: str, where: str) -> Referral:
    if unknown := sorted(set(table) - {"text", "url"}):
        raise ConfigError(
            f"{where}: unknown setting web.under_18{suffix}.{unknown[0]} (known: text, url)"
        )
    text = _web_text(table, "text", where, f"web.under_18{suffix}.text")
    url = _web_text(table, "url", where, f"web.under_18{suffix}.url")
    if url and not url.startswith(("https://", "http://", "tel:", "mailto:")):
        raise ConfigError(
            f"{where}: web.under_18{suffix}.url must be an http(s), tel: or mailto: URL"
        )
    return Referral(text, url)


def _peer(raw: object, index: int, at: Where) -> PeerConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{at.at('peers', None, index)}: each [[peers]] entry must be a table")
    where = at.at("peers", None, index)
    url = _url(raw, "url", at.at("peers", "url", index), setting="peers.url")
    if url is None:
        raise ConfigError(f"{where}: missing setting 'url' in this [[peers]] entry")
    node_where = at.at("peers", "node_id", index)
    node_id = _get(raw, "node_id", str, node_where, required=True, setting="peers.node_id")
    try:
        key = PublicKey.from_text(node_id)
    except ProtocolError:
        raise ConfigError(
            f"{node_where}: peers.node_id must be the peer's node id (64 hex characters), "
            f"got {node_id!r}"
        ) from None
    return PeerConfig(url.rstrip("/"), str(key))


def render_config(config: Config) -> str:
    """``config.toml`` text for ``config`` (what ``init`` and ``peers add`` write)."""
    lines = [
        "# hashbank node configuration. See config.example.toml for every setting.",
        "[node]",
        f"name = {_toml_str(config.name)}",
        f"org_id = {_toml_str(config.org_id)}",
        f"role = {_toml_str(config.role)}",
        "",
        "[listen]",
        f"host = {_toml_str(config.host)}",
        f"port = {config.port}",
    ]
    if config.public_url:
        lines.append(f"public_url = {_toml_str(config.public_url)}")
    if config.trusted_proxies:
        proxies = ", ".join(_toml_str(p) for p in config.trusted_proxies)
        lines.append(f"trusted_proxies = [{proxies}]")
    lines += ["", "[sync]", f"interval_seconds = {config.sync_interval_s:g}"]
    if not config.confirm_own_head:
        lines.append("confirm_own_head = false")
    defaults = Config(name="x")
    if config.decode_workers != defaults.decode_workers:
        lines.append(f"decode_workers = {config.decode_workers}")
    limits = [
        f"{name} = {getattr(config, name)!r}"
        for name in ("max_body_bytes", *LIMITS)
        if getattr(config, name) != getattr(defaults, name)
    ]
    if limits:
        lines += ["", "[limits]", *limits]
    lines += _render_observability(config, defaults)
    lines += _render_web(config)
    for peer in config.peers:
        lines += ["", "[[peers]]", f"url = {_toml_str(peer.url)}"]
        lines.append(f"node_id = {_toml_str(peer.node_id)}")
    return "\n".join(lines) + "\n"


def _render_observability(config: Config, defaults: Config) -> list[str]:
    lines: list[str] = []
    console = [
        f"{key} = {getattr(config, name):g}"
        for key, name in (
            ("idle_timeout_minutes", "console_idle_minutes"),
            ("session_hours", "console_session_hours"),
        )
        if getattr(config, name) != getattr(defaults, name)
    ]
    if console:
        lines += ["", "[console]", *console]
    if config.log_format != defaults.log_format:
        lines += ["", "[log]", f"format = {_toml_str(config.log_format)}"]
    if config.metrics_listen:
        lines += ["", "[metrics]", f"listen = {_toml_str(config.metrics_listen)}"]
    return lines


def _render_web(config: Config) -> list[str]:
    """The ``[web]`` table, only where it differs from the defaults (kept by ``peers add``)."""
    web = config.web
    defaults = WebConfig(self_service=web.self_service)
    if web == defaults and (web.self_service or config.role != "publisher"):
        return []
    lines = ["", "[web]"]
    if not web.self_service and config.role == "publisher":
        lines.append("self_service = false")
    for key in WEB_TEXTS:
        if getattr(web, key) != getattr(defaults, key):
            lines.append(f"{key} = {_toml_str(getattr(web, key))}")
    referrals = [("", web.under_18)] if web.under_18 != Referral() else []
    for lang, referral in [*referrals, *((f".{k}", r) for k, r in web.under_18_by_language)]:
        lines += ["", f"[web.under_18{lang}]"]
        lines += [
            f"{k} = {_toml_str(getattr(referral, k))}"
            for k in ("text", "url")
            if getattr(referral, k)
        ]
    return lines


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_config(data: DataDir, config: Config) -> None:
    """Replace ``config.toml`` atomically (a crash never leaves half a file)."""
    tmp = data.config.with_suffix(".toml.tmp")
    tmp.write_text(render_config(config))
    os.replace(tmp, data.config)


def initialise(
    root: Path, *, name: str, role: str = "publisher", host: str = "127.0.0.1", port: int = 0
) -> tuple[DataDir, Config, SigningKey]:
    """Create a data directory: identity key, operator token, case secret and config.

    Refuses to replace an existing identity. The store is created when first opened.
    """
    data = DataDir(root)
    if data.identity.exists():
        raise ConfigError(f"{data.identity} already exists; refusing to replace an identity")
    name = name.strip()
    if not 0 < len(name) <= 100 or not name.isprintable():
        raise ConfigError("the organisation name must be 1 to 100 printable characters")
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    draft = Config(name=name, role=role, host=host, port=port)
    parse_config(tomllib.loads(render_config(draft)), "the settings given")  # before any file
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    key = SigningKey.generate()
    save_key(data, key)
    write_secret(data.token, new_token())
    write_secret(data.case_secret, secrets.token_hex(32))
    config = Config(
        name=name, org_id=org_id_for(key.public_key).hex(), role=role, host=host, port=port
    )
    write_config(data, config)
    return data, config, key
