"""``config.toml``: the settings an operator edits, parsed and checked, and ``init``."""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.datadir import DataDir, new_token, save_key, write_secret
from node.errors import ConfigError
from protocol.errors import ProtocolError
from protocol.identity import SigningKey, org_id_for, parse_hex

ROLES = ("publisher", "subscriber")
DEFAULT_PORT = 8750
MIN_BODY_BYTES = 5 * 1024 * 1024
MAX_DECODE_WORKERS = 16
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
    web: WebConfig = WebConfig()

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def self_service(self) -> bool:
        """Whether this node serves the victim self-service flow (publishers only)."""
        return self.role == "publisher" and self.web.self_service


def load_config(data: DataDir) -> Config:
    """Parse and check ``config.toml``; every problem names the setting."""
    try:
        raw = tomllib.loads(data.config.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {data.config}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{data.config} is not valid TOML: {exc}") from None
    return parse_config(raw, str(data.config))


def parse_config(raw: dict[str, object], where: str) -> Config:
    node = _table(raw, "node", where)
    name = _get(node, "name", str, where, required=True)
    role = _get(node, "role", str, where) or "publisher"
    if role not in ROLES:
        raise ConfigError(f"{where}: node.role must be one of {', '.join(ROLES)}, got {role!r}")
    listen = _table(raw, "listen", where)
    port = _get(listen, "port", int, where)
    port = DEFAULT_PORT if port is None else port
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: listen.port must be 0-65535, got {port}")
    peers = tuple(_peer(p, where) for p in _list(raw, "peers", where))
    sync = _table(raw, "sync", where)
    interval = _get(sync, "interval_seconds", (int, float), where)
    confirm = _get(sync, "confirm_own_head", bool, where)
    workers = _get(sync, "decode_workers", int, where)
    if workers is not None and not 0 <= workers <= MAX_DECODE_WORKERS:
        raise ConfigError(
            f"{where}: sync.decode_workers must be 0-{MAX_DECODE_WORKERS}, got {workers}"
        )
    limits = _table(raw, "limits", where)
    max_body = _get(limits, "max_body_bytes", int, where)
    numbers = {setting: _get(limits, setting, (int, float), where) for setting in LIMITS}
    for setting, value in numbers.items():
        if value is not None and value <= 0:
            raise ConfigError(f"{where}: limits.{setting} must be positive, got {value}")
    if max_body is not None and max_body < MIN_BODY_BYTES:
        raise ConfigError(
            f"{where}: limits.max_body_bytes must be at least {MIN_BODY_BYTES} so a full-size "
            "entry can be pushed between nodes"
        )
    limit_values = {k: v for k, v in numbers.items() if v is not None}
    if "max_connections" in limit_values:
        limit_values["max_connections"] = int(limit_values["max_connections"])
    org_id = str(_get(node, "org_id", str, where) or "")
    if org_id:
        try:
            parse_hex(org_id, 32, "node.org_id")
        except ProtocolError as exc:
            raise ConfigError(f"{where}: {exc.message}") from None
    return Config(
        name=str(name),
        org_id=org_id,
        role=str(role),
        host=str(_get(listen, "host", str, where) or "127.0.0.1"),
        port=int(port),
        public_url=str(_get(listen, "public_url", str, where) or ""),
        peers=peers,
        sync_interval_s=float(interval) if interval is not None else 30.0,
        confirm_own_head=True if confirm is None else bool(confirm),
        decode_workers=1 if workers is None else int(workers),
        max_body_bytes=int(max_body) if max_body is not None else 8 * 1024 * 1024,
        web=_web(raw, str(role), where),
        **limit_values,
    )


def _web(raw: dict[str, object], role: str, where: str) -> WebConfig:
    """The ``[web]`` table; unknown keys are refused (a typo would silently show nothing)."""
    table = _table(raw, "web", where)
    known = {"self_service", "under_18", *WEB_TEXTS}
    if unknown := sorted(set(table) - known):
        raise ConfigError(
            f"{where}: unknown setting web.{unknown[0]} (known: {', '.join(sorted(known))})"
        )
    enabled = _get(table, "self_service", bool, where)
    if enabled and role != "publisher":
        raise ConfigError(f'{where}: web.self_service = true needs node.role = "publisher"')
    texts = {key: _web_text(table, key, where) for key in WEB_TEXTS}
    for key in ("website", "quick_exit_url"):
        if texts[key] and not texts[key].startswith(("https://", "http://")):
            raise ConfigError(f"{where}: web.{key} must be an http(s) URL, got {texts[key]!r}")
    if not texts["quick_exit_url"]:
        texts["quick_exit_url"] = DEFAULT_QUICK_EXIT
    texts["default_language"] = texts["default_language"] or "en"
    under_18 = table.get("under_18", {})
    if not isinstance(under_18, dict):
        raise ConfigError(f"{where}: web.under_18 must be a table")
    default = _referral({k: v for k, v in under_18.items() if not isinstance(v, dict)}, "", where)
    by_language = tuple(
        (str(lang), _referral(value, f".{lang}", where))
        for lang, value in sorted(under_18.items())
        if isinstance(value, dict)
    )
    return WebConfig(
        self_service=role == "publisher" if enabled is None else enabled,
        under_18=default,
        under_18_by_language=by_language,
        **texts,
    )


def _web_text(table: dict[str, object], key: str, where: str) -> str:
    value = str(_get(table, key, str, where) or "").strip()
    if len(value) > MAX_WEB_TEXT or not value.isprintable():
        raise ConfigError(f"{where}: web.{key} must be at most {MAX_WEB_TEXT} printable characters")
    return value


def _referral(table: dict[str, object], suffix: str, where: str) -> Referral:
    if unknown := sorted(set(table) - {"text", "url"}):
        raise ConfigError(
            f"{where}: unknown setting web.under_18{suffix}.{unknown[0]} (known: text, url)"
        )
    text = _web_text(table, "text", where)
    url = _web_text(table, "url", where)
    if url and not url.startswith(("https://", "http://", "tel:", "mailto:")):
        raise ConfigError(
            f"{where}: web.under_18{suffix}.url must be an http(s), tel: or mailto: URL"
        )
    return Referral(text, url)


def _table(raw: dict[str, object], name: str, where: str) -> dict[str, object]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def _list(raw: dict[str, object], name: str, where: str) -> list[object]:
    value = raw.get(name, [])
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {name} must be an array of tables ([[{name}]])")
    return value


def _get(
    table: dict[str, object],
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    *,
    required: bool = False,
) -> Any:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: missing setting {key!r}")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}: setting {key!r} has the wrong type ({value!r})")
    return value


def _peer(raw: object, where: str) -> PeerConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each [[peers]] entry must be a table")
    url = _get(raw, "url", str, where, required=True)
    node_id = _get(raw, "node_id", str, where, required=True)
    return PeerConfig(str(url), str(node_id))


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
    lines += _render_web(config)
    for peer in config.peers:
        lines += ["", "[[peers]]", f"url = {_toml_str(peer.url)}"]
        lines.append(f"node_id = {_toml_str(peer.node_id)}")
    return "\n".join(lines) + "\n"


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
