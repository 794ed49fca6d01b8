"""emqx.auth and mqttUsers: who may connect and what they may do."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from components.config_reader import Problems, Section, cidr_problem, shown
from components.emqx_versions import EmqxRelease
from components.render import auth as auth_render
from components.settings.common import STORAGE_CLASS

if TYPE_CHECKING:
    from components.settings.emqx import EmqxSettings


@dataclass(frozen=True)
class AclRule:
    permission: Literal["allow", "deny"]
    action: Literal["publish", "subscribe", "all"]
    topics: tuple[str, ...]
    # At most one of these; none: the rule is about every client.
    username: str | None = None
    clientid: str | None = None
    ipaddr: str | None = None


@dataclass(frozen=True)
class JwtSettings:
    jwks_endpoint: str | None  # one of the two
    public_key: str | None
    token_from: Literal["password", "username"] = "password"


@dataclass(frozen=True)
class HttpAuthSettings:
    url: str


@dataclass(frozen=True)
class X509Settings:
    ca_secret_name: str | None  # None: the stack's own CA (the listener Secret's ca.crt)
    username_from: Literal["cn", "dn", "disabled"] = "cn"


@dataclass(frozen=True)
class AuthSettings:
    """emqx.auth: who may connect (the authentication chain, in order) and what they may do (authorization)."""

    allow_anonymous: bool = False
    built_in_database: bool = True
    user_id_type: Literal["username", "clientid"] = "username"
    superusers: tuple[str, ...] = ()
    jwt: JwtSettings | None = None
    http: HttpAuthSettings | None = None
    x509: X509Settings | None = None
    no_match: Literal["allow", "deny"] = "deny"
    deny_action: Literal["ignore", "disconnect"] = "ignore"
    acl_rules: tuple[AclRule, ...] = ()

    @property
    def certificates_only(self) -> bool:
        """Client certificates are the only credential: the plain-text listeners (no certificate asked) are off."""
        return (self.x509 is not None and not self.allow_anonymous
                and not (self.built_in_database or self.jwt or self.http))


URL = r"https?://[!-~]{1,2000}"


def parse_auth(section: Section, production: bool, *, release: EmqxRelease | None, own_ca: bool) -> AuthSettings:
    """emqx.auth: components/render/auth.py renders it, and cites EMQX's schema for every key."""
    problems = section.problems
    legacy = release is not None and release.legacy
    anonymous = section.boolean("allowAnonymous", False)
    if production and anonymous:
        problems.add("emqx.auth.allowAnonymous", "a production broker would admit any client without credentials",
                     "remove it and give clients credentials: mqttUsers, emqx.auth.jwt, emqx.auth.http or "
                     "emqx.auth.x509 (README, MQTT authentication)")
    db = section.section("builtInDatabase")
    db_enabled = db.boolean("enabled", not anonymous and not legacy)
    id_type = db.string("userIdType", "username", choices=("username", "clientid")) or "username"
    superusers = db.strings("superusers", ())
    for i, name in enumerate(superusers):
        if not re.fullmatch(auth_render.USER_NAME, name, re.ASCII):
            problems.add(f"emqx.auth.builtInDatabase.superusers[{i}]", f"{shown(name)} is not a user name",
                         "use 1-128 printable ASCII characters without spaces or ':'")
    jwt: JwtSettings | None = None
    jwt_section = section.section("jwt")
    if jwt_section.present:
        endpoint = jwt_section.string("jwksEndpoint", None, pattern=URL, hint="an http(s):// URL of the JWKS")
        key = jwt_section.string("publicKey", None)
        token_from = jwt_section.string("from", "password", choices=("password", "username")) or "password"
        if (endpoint is None) == (key is None):
            problems.add("emqx.auth.jwt", "needs exactly one of jwksEndpoint and publicKey",
                         "set jwksEndpoint to your identity provider's JWKS URL, or publicKey to a PEM public key")
        if key is not None and "-----BEGIN PUBLIC KEY-----" not in key:
            problems.add("emqx.auth.jwt.publicKey", "is not a PEM public key",
                         "paste the key with its -----BEGIN PUBLIC KEY----- line")
        if production and endpoint is not None and endpoint.startswith("http://"):
            problems.add("emqx.auth.jwt.jwksEndpoint", "fetches the signing keys unencrypted, so anyone on the path "
                         "could read or swap them", "use an https:// URL")
        jwt = JwtSettings(jwks_endpoint=endpoint, public_key=key, token_from=token_from)  # type: ignore[arg-type]
    http: HttpAuthSettings | None = None
    http_section = section.section("http")
    if http_section.present:
        url = http_section.string("url", None, required=True, pattern=URL,
                                  hint="the http(s):// URL EMQX posts username, password and clientid to")
        if production and url is not None and url.startswith("http://"):
            problems.add("emqx.auth.http.url", "sends every client's password over plain http", "use an https:// URL")
        http = HttpAuthSettings(url=url) if url else None
    x509: X509Settings | None = None
    x509_section = section.section("x509")
    if x509_section.present:
        ca_secret = x509_section.string("caSecretName", None, pattern=STORAGE_CLASS,
                                        hint="the Secret in the EMQX namespace whose ca.crt signs client certificates")
        username_from = x509_section.string("usernameFrom", "cn", choices=("cn", "dn", "disabled")) or "cn"
        if not own_ca and ca_secret is None:
            problems.add("emqx.auth.x509.caSecretName", "is not set, and with emqx.tls.issuerKind the listener "
                         "Secret has no ca.crt to verify client certificates with", "name the Secret of the CA "
                         "that signs your clients' certificates, e.g. the Secret of a cert-manager CA Certificate")
        x509 = X509Settings(ca_secret_name=ca_secret, username_from=username_from)  # type: ignore[arg-type]
    if anonymous and (db_enabled or jwt or http):
        problems.add("emqx.auth.allowAnonymous", "EMQX 5 admits clients without credentials only when no "
                     "authenticator is configured", "remove allowAnonymous, or the authenticators "
                     "(builtInDatabase.enabled: false, jwt, http)")
    elif (not anonymous and not legacy and not (db_enabled or jwt or http or x509)
          and not problems.about("emqx.auth")):
        # An empty chain is how EMQX 5 admits everyone: turning every mechanism off is anonymous access by another
        # name, so it needs the same explicit setting (and is refused in production like it).
        problems.add("emqx.auth", "turns every authentication mechanism off, which lets any client in without "
                     "credentials", "configure one (builtInDatabase, jwt, http or x509)"
                     + ("" if production else ", or say so with emqx.auth.allowAnonymous: true"))
    authz = section.section("authorization")
    no_match = authz.string("noMatch", "deny", choices=("deny", "allow")) or "deny"
    deny_action = authz.string("denyAction", "ignore", choices=("ignore", "disconnect")) or "ignore"
    rules: list[AclRule] = []
    for item in authz.items("rules"):
        permission = item.string("permission", None, required=True, choices=("allow", "deny"))
        action = item.string("action", "all", choices=("publish", "subscribe", "all")) or "all"
        topics = item.strings("topics", (), min_items=1, hint="list topic filters, e.g. ['devices/${username}/#']")
        for i, topic in enumerate(topics):
            levels = topic.split("/")
            if not topic or len(topic) > 1024 or not topic.isprintable() or "#" in levels[:-1] or any(
                    ("#" in lv or "+" in lv) and len(lv) > 1 for lv in levels):
                problems.add(f"{item.key}.topics[{i}]", f"{shown(topic)} is not an MQTT topic filter",
                             "use levels separated by '/', '+' for one level and '#' only as the last")
        who = {k: item.string(k, None) for k in ("username", "clientid", "ipaddr")}
        chosen = [k for k, v in who.items() if v is not None]
        if len(chosen) > 1:
            problems.add(item.key, f"names {' and '.join(chosen)}; a rule is about one of them",
                         "split it into one rule each")
        if who["ipaddr"] is not None and (bad := cidr_problem(who["ipaddr"])):
            problems.add(f"{item.key}.ipaddr", bad[0], bad[1])
        if permission is not None:
            rules.append(AclRule(permission=permission, action=action, topics=topics,  # type: ignore[arg-type]
                                 username=who["username"], clientid=who["clientid"], ipaddr=who["ipaddr"]))
    if legacy:
        # 4.4 authenticates through plugins (emqx_auth_mnesia, _jwt, _http) configured outside emqxConfig, and
        # reads its ACL from a file the v1beta4 template does not mount: only the switches are rendered.
        for key, used in (("builtInDatabase", db.present), ("jwt", jwt is not None), ("http", http is not None),
                          ("x509", x509 is not None), ("authorization.rules", bool(rules))):
            if used:
                problems.add(f"emqx.auth.{key}", f"is not supported for EMQX {release.version if release else '4.4'} "
                             "(4.4 authenticates through plugins this program does not configure)",
                             "remove it and configure the 4.4 auth plugins in its dashboard, or use EMQX 5")
        db_enabled = False
    return AuthSettings(allow_anonymous=anonymous, built_in_database=db_enabled,
                        user_id_type=id_type, superusers=superusers,  # type: ignore[arg-type]
                        jwt=jwt, http=http, x509=x509, no_match=no_match,  # type: ignore[arg-type]
                        deny_action=deny_action, acl_rules=tuple(rules))  # type: ignore[arg-type]


def mqtt_users_problems(values: Mapping[str, Any], emqx: EmqxSettings | None, problems: Problems) -> None:
    """mqttUsers against the auth settings; the value is secret, so no message quotes it."""
    text = values.get("mqttUsers")
    if emqx is None or not isinstance(text, str):
        return
    auth = emqx.auth
    if not auth.built_in_database:
        why = ("EMQX 4.4 has no built-in database here" if emqx.release.legacy
               else "emqx.auth.builtInDatabase is off")
        problems.add("mqttUsers", f"is set, but {why}, so nobody would read it",
                     "remove it" if emqx.release.legacy else "remove it, or turn the built-in database on")
        return
    for what in auth_render.user_problems(text):
        problems.add("mqttUsers", what, "set it again with `pulumi config set --secret mqttUsers "
                     "\"$(cat users.txt)\"`, one `user:password` line per user")
    names = {user for user, _ in auth_render.parse_users(text)}
    for i, name in enumerate(auth.superusers):
        if name not in names:
            problems.add(f"emqx.auth.builtInDatabase.superusers[{i}]", "is not a user in mqttUsers",
                         "add the user to mqttUsers, or remove it here")
