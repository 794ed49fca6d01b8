"""Pure renderers for MQTT client authentication and authorization: EMQX 5's `authentication` chain and
`authorization` sources as HOCON lines, the built-in database's bootstrap file, the file ACL, and the few
settings EMQX 4.4 takes in `emqxConfig`.

Sources (EMQX v5.8.9 and e5.10.3, identical in what is used here):
- apps/emqx_auth_mnesia/src/emqx_authn_mnesia_schema.erl: password_based + built_in_database takes
  user_id_type, password_hash_algorithm, bootstrap_file and bootstrap_type (hash | plain).
- apps/emqx_auth_mnesia/src/emqx_authn_mnesia.erl: the bootstrap file is read whenever the authenticator is
  created or updated (node start, config change); a `.json` file is a list of objects with user_id,
  password_hash, salt and is_superuser; users already in the database are never overwritten (override => false).
- apps/emqx/src/emqx_passwd.erl: sha256 with salt_position prefix is lowercase hex(sha256(Salt ++ Password)),
  compared case-insensitively; the salt is used as the bytes of the text stored (EMQX's own salts are 32 hex
  characters, emqx_authn_password_hashing.erl gen_salt/1).
- apps/emqx_auth_jwt/src/emqx_authn_jwt_schema.erl: jwt with use_jwks + endpoint, or algorithm public-key +
  public_key; `from` password | username.
- apps/emqx_auth_http/src/emqx_authn_http_schema.erl: http with method, url, body, headers; an https url
  needs ssl.enable (check_ssl_opts).
- apps/emqx_auth/src/emqx_authz/sources/emqx_authz_file_schema.erl: in the config a file source takes only
  `path` (its validator reads the file); `rules` is the REST API's form.
- apps/emqx/src/emqx_schema.erl: authorization.no_match (allow | deny), deny_action (ignore | disconnect);
  ssl_options.verify / fail_if_no_peer_cert; mqtt.peer_cert_as_username (disabled | cn | dn | ...).

With no authenticator in the chain EMQX 5 admits every client; with one or more, a client every authenticator
ignores is refused. So anonymous access is exactly an empty chain, written out (`authentication = []`). The EMQX
resource's config is pushed with `mode: Replace` (render/emqx.py): EMQX then replaces each root the config names
(emqx_conf_cli.erl update_config_cluster), so an authenticator or ACL source removed from the stack is removed from
the running cluster; Merge would keep it (authenticators merge by id, emqx_authn_config.erl).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.settings import AclRule, AuthSettings

AUTH_MOUNT = "/opt/emqx/etc/auth"
USERS_FILE = "users.json"  # the extension tells EMQX the format (emqx_authn_mnesia.erl reader_fn)
SECRET_USERS = "mqtt-users.json"
ACL_MOUNT = "/opt/emqx/etc/acl"
CLIENT_CA_MOUNT = "/opt/emqx/etc/certs/clients"
# EMQX's default algorithm for the built-in database, and cheap: every CONNECT of a reconnect storm hashes once.
HASH_ALGORITHM = "sha256"
USER_NAME = r"[!-9;-~]{1,128}"  # printable ASCII without space or ':' (the separator of the secret's lines)
MIN_PASSWORD = 8


@dataclass(frozen=True)
class AuthInputs:
    """What the EMQX renderer needs beyond the settings: the names of the objects that hold the auth files."""

    settings: AuthSettings
    users_secret: str | None  # the Secret with SECRET_USERS, when the stack bootstraps users
    acl_config_map: str


# ----------------------------------------------------------------------------------------------- users


def parse_users(text: str) -> list[tuple[str, str]]:
    """`user:password` lines (blank lines and `#` comments skipped); the caller has checked them."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        user, _, password = stripped.partition(":")
        out.append((user, password))
    return out


def user_problems(text: str) -> list[str]:
    """What is wrong with the secret's lines, by line number only: the value is secret, nothing of it is echoed."""
    out: list[str] = []
    seen: set[str] = set()
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        count += 1
        user, sep, password = stripped.partition(":")
        if not sep:
            out.append(f"line {number} has no ':' between the user name and the password")
            continue
        if not re.fullmatch(USER_NAME, user, re.ASCII):
            out.append(f"line {number}: the user name must be 1-128 printable ASCII characters without spaces or ':'")
        if len(password) < MIN_PASSWORD:
            out.append(f"line {number}: the password is shorter than {MIN_PASSWORD} characters")
        if user in seen:
            out.append(f"line {number}: the user name is on an earlier line too")
        seen.add(user)
    if count == 0:
        out.append("lists no user")
    return out


def salt_for(seed: str, user: str) -> str:
    """A per-user salt, stable for the stack (the seed is a random value kept in its state), so the Secret does not
    change on every update; 32 hex characters like EMQX's own."""
    return hmac.new(seed.encode(), user.encode(), hashlib.sha256).hexdigest()[:32]


def password_hash(salt: str, password: str) -> str:
    """EMQX's sha256 with the salt as prefix (emqx_passwd.erl hash/2 and hash_data/2)."""
    return hashlib.sha256(salt.encode() + password.encode()).hexdigest()


def bootstrap_users(text: str, superusers: tuple[str, ...], seed: str) -> str:
    """The bootstrap file (JSON) of hashed users: bootstrap_type = hash, so no password is stored in clear."""
    users = []
    for user, password in parse_users(text):
        salt = salt_for(seed, user)
        users.append({"user_id": user, "password_hash": password_hash(salt, password), "salt": salt,
                      "is_superuser": user in superusers})
    return json.dumps(users, indent=1)


# ------------------------------------------------------------------------------------------------ ACL


def _erlang_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _who(rule: AclRule) -> str:
    if rule.username is not None:
        return f"{{username, {_erlang_string(rule.username)}}}"
    if rule.clientid is not None:
        return f"{{clientid, {_erlang_string(rule.clientid)}}}"
    if rule.ipaddr is not None:
        return f"{{ipaddr, {_erlang_string(rule.ipaddr)}}}"
    return "all"


def acl_file(rules: tuple[AclRule, ...]) -> str:
    """acl.conf: one Erlang term per rule, `{Permission, Who, Action, Topics}.` (emqx_authz_file's format); the
    rules are checked in order and the first match decides."""
    lines = ["%% Rendered by emqx-platform from emqx.auth.authorization.rules; edit the stack, not this file."]
    for rule in rules:
        topics = ", ".join(_erlang_string(t) for t in rule.topics)
        lines.append(f"{{{rule.permission}, {_who(rule)}, {rule.action}, [{topics}]}}.")
    return "\n".join(lines) + "\n"


def acl_file_name(rules: tuple[AclRule, ...]) -> str:
    """Named by its content: EMQX reads a file source when the source is created or changed, so a new rule set
    must change the path for running nodes to read it. Until the kubelet has written the new file into the pods,
    EMQX refuses the config (the path validator reads the file) and the operator retries the push (operator 2.2.29
    sync_emqx_config.go returns the error, so the reconcile is requeued, and keeps the last config annotation)."""
    return f"acl-{hashlib.sha256(acl_file(rules).encode()).hexdigest()[:10]}.conf"


# ---------------------------------------------------------------------------------------------- HOCON


def _quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a HOCON quoted string


def hocon_lines(auth: AuthInputs) -> list[str]:
    """The `authentication`, `authorization`, mutual-TLS and `mqtt` lines of the EMQX 5 config."""
    s = auth.settings
    chain: list[str] = []
    if s.built_in_database:
        fields = [
            'mechanism = password_based', 'backend = built_in_database', f"user_id_type = {s.user_id_type}",
            f'password_hash_algorithm {{name = {HASH_ALGORITHM}, salt_position = prefix}}',
        ]
        if auth.users_secret:
            fields += [f'bootstrap_file = "{AUTH_MOUNT}/{USERS_FILE}"', "bootstrap_type = hash"]
        else:
            # EMQX's default path holds the image's example file: nothing is bootstrapped unless the stack says so.
            fields += ['bootstrap_file = ""']
        chain.append("{" + ", ".join(fields) + "}")
    if s.jwt is not None:
        fields = ["mechanism = jwt", f"from = {s.jwt.token_from}"]
        if s.jwt.jwks_endpoint:
            fields += ["use_jwks = true", f"endpoint = {_quoted(s.jwt.jwks_endpoint)}"]
            if s.jwt.jwks_endpoint.startswith("https://"):
                fields.append("ssl {enable = true}")
        else:
            # use_jwks picks the schema member (emqx_authn_jwt_schema.erl select_union_member): without it EMQX
            # refuses the config at boot ("expected true | false").
            fields += ["use_jwks = false", 'algorithm = "public-key"',
                       f"public_key = {_quoted(s.jwt.public_key or '')}"]
        chain.append("{" + ", ".join(fields) + "}")
    if s.http is not None:
        fields = ["mechanism = password_based", "backend = http", "method = post", f"url = {_quoted(s.http.url)}",
                  'headers {"content-type" = "application/json"}',
                  'body {username = "${username}", password = "${password}", clientid = "${clientid}"}']
        if s.http.url.startswith("https://"):
            fields.append("ssl {enable = true}")
        chain.append("{" + ", ".join(fields) + "}")
    lines = ["authentication = [" + (", ".join(chain)) + "]"]
    lines.append(f"authorization.no_match = {s.no_match}")
    lines.append(f"authorization.deny_action = {s.deny_action}")
    if s.acl_rules:
        path = f"{ACL_MOUNT}/{acl_file_name(s.acl_rules)}"
        lines.append(f'authorization.sources = [{{type = file, enable = true, path = "{path}"}}]')
    else:
        # Written out: left out, EMQX's default file source (etc/acl.conf, which allows everything at its end)
        # would decide instead of no_match.
        lines.append("authorization.sources = []")
    if s.x509 is not None:
        for kind in ("ssl", "wss"):
            prefix = f"listeners.{kind}.default.ssl_options"
            lines.append(f"{prefix}.verify = verify_peer")
            lines.append(f"{prefix}.fail_if_no_peer_cert = true")
            if s.x509.ca_secret_name:
                lines.append(f'{prefix}.cacertfile = "{CLIENT_CA_MOUNT}/ca.crt"')
        if s.x509.username_from != "disabled":
            lines.append(f"mqtt.peer_cert_as_username = {s.x509.username_from}")
        if s.certificates_only:
            # The certificate is then the only credential, and an empty chain admits every client: the plain-text
            # listeners, where no certificate is asked for, are switched off.
            lines.append("listeners.tcp.default.enable = false")
            lines.append("listeners.ws.default.enable = false")
    return lines


def pod_files(auth: AuthInputs) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) of the EMQX pods for the auth files. Directory mounts, not subPath: the kubelet then
    replaces a file when its Secret or ConfigMap changes."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    s = auth.settings
    if auth.users_secret:
        volumes.append({"name": "mqtt-users", "secret": {
            "secretName": auth.users_secret, "items": [{"key": SECRET_USERS, "path": USERS_FILE}]}})
        mounts.append({"name": "mqtt-users", "mountPath": AUTH_MOUNT, "readOnly": True})
    if s.acl_rules:
        volumes.append({"name": "mqtt-acl", "configMap": {"name": auth.acl_config_map}})
        mounts.append({"name": "mqtt-acl", "mountPath": ACL_MOUNT, "readOnly": True})
    if s.x509 is not None and s.x509.ca_secret_name:
        volumes.append({"name": "client-ca", "secret": {
            "secretName": s.x509.ca_secret_name, "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
        mounts.append({"name": "client-ca", "mountPath": CLIENT_CA_MOUNT, "readOnly": True})
    return volumes, mounts


def legacy_config(settings: AuthSettings) -> dict[str, str]:
    """EMQX 4.4's emqxConfig (etc/emqx.conf v4.4.19: allow_anonymous, acl_nomatch, acl_deny_action). 4.4 does
    authentication through plugins the program does not configure; the settings refuse what needs them."""
    return {
        "allow_anonymous": "true" if settings.allow_anonymous else "false",
        "acl_nomatch": settings.no_match,
        "acl_deny_action": settings.deny_action,
        # 4.4's etc/emqx.conf sets zone.external.acl_deny_action = ignore, which wins over the global key for every
        # client of the external listeners.
        "zone.external.acl_deny_action": settings.deny_action,
    }
