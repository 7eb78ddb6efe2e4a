"""``config.toml``: the settings an operator edits, parsed and checked, and ``init``."""

from __future__ import annotations

import ipaddress
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
# The positive numbers of the [limits] table (besides max_body_bytes).
LOG_FORMATS = ("text", "json")
MAX_IDLE_MINUTES = 24 * 60
MAX_SESSION_HOURS = 7 * 24
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

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


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
        **limit_values,
        **_observability(raw, listen, where),
    )


def _observability(raw: dict[str, object], listen: dict[str, object], where: str) -> dict[str, Any]:
    """The console's, the logs' and the metrics' settings (only those that are set)."""
    out: dict[str, Any] = {}
    proxies = listen.get("trusted_proxies")
    if proxies is not None:
        out["trusted_proxies"] = _networks(proxies, where)
    console = _table(raw, "console", where)
    for key, field_name, most in (
        ("idle_timeout_minutes", "console_idle_minutes", MAX_IDLE_MINUTES),
        ("session_hours", "console_session_hours", MAX_SESSION_HOURS),
    ):
        value = _get(console, key, (int, float), where)
        if value is not None:
            if not 0 < value <= most:
                raise ConfigError(f"{where}: console.{key} must be above 0 and at most {most}")
            out[field_name] = float(value)
    fmt = _get(_table(raw, "log", where), "format", str, where)
    if fmt is not None:
        if fmt not in LOG_FORMATS:
            raise ConfigError(f"{where}: log.format must be one of {', '.join(LOG_FORMATS)}")
        out["log_format"] = fmt
    metrics = _get(_table(raw, "metrics", where), "listen", str, where)
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
