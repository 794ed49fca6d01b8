"""components/settings/auth.py: emqx.auth's parser and mqttUsers against it."""

from __future__ import annotations

from typing import Any

from components.config_reader import Problems, Section
from components.emqx_versions import parse_release
from components.settings.auth import AuthSettings, mqtt_users_problems, parse_auth
from components.settings.emqx import parse_emqx


def auth(raw: Any, production: bool = False, *, version: str = "5.8.9",
         own_ca: bool = True) -> tuple[AuthSettings, list[str]]:
    problems = Problems()
    edition = "enterprise" if version.startswith("4.") else "opensource"
    release, _ = parse_release(edition, version, None, key="emqx")
    section = Section("emqx.auth", raw, problems)
    parsed = parse_auth(section, production, release=release, own_ca=own_ca)
    section.finish()
    return parsed, problems.items


def keys(found: list[str]) -> list[str]:
    return [p.split(":", 1)[0] for p in found]


def test_the_default_is_the_built_in_database_denying_what_no_rule_allows() -> None:
    parsed, found = auth(None)
    assert found == [] and parsed == AuthSettings()
    assert parsed.built_in_database and parsed.no_match == "deny" and not parsed.certificates_only


def test_anonymous_access_is_refused_in_production_and_beside_authenticators() -> None:
    _, found = auth({"allowAnonymous": True}, production=True)
    assert keys(found) == ["emqx.auth.allowAnonymous"] and "production" in found[0]
    parsed, found = auth({"allowAnonymous": True})
    assert found == [] and parsed.allow_anonymous and not parsed.built_in_database
    _, found = auth({"allowAnonymous": True, "builtInDatabase": {"enabled": True}})
    assert keys(found) == ["emqx.auth.allowAnonymous"] and "only when no authenticator" in found[0]


def test_turning_everything_off_is_anonymous_access_by_another_name() -> None:
    _, found = auth({"builtInDatabase": {"enabled": False}})
    assert keys(found) == ["emqx.auth"] and "allowAnonymous" in found[0]


def test_jwt_needs_exactly_one_key_source_and_https_in_production() -> None:
    _, found = auth({"jwt": {}})
    assert keys(found) == ["emqx.auth.jwt"]
    _, found = auth({"jwt": {"publicKey": "not a key"}})
    assert keys(found) == ["emqx.auth.jwt.publicKey"]
    _, found = auth({"jwt": {"jwksEndpoint": "http://idp.example.com/jwks"}}, production=True)
    assert keys(found) == ["emqx.auth.jwt.jwksEndpoint"]
    parsed, found = auth({"jwt": {"jwksEndpoint": "https://idp.example.com/jwks", "from": "username"}}, production=True)
    assert found == [] and parsed.jwt is not None and parsed.jwt.token_from == "username"


def test_http_auth_needs_https_in_production() -> None:
    _, found = auth({"http": {"url": "http://auth.example.com"}}, production=True)
    assert keys(found) == ["emqx.auth.http.url"]
    _, found = auth({"http": {}})
    assert keys(found) == ["emqx.auth.http.url"] and "required" in found[0]


def test_x509_with_an_own_issuer_needs_the_clients_ca() -> None:
    _, found = auth({"x509": {}}, own_ca=False)
    assert keys(found) == ["emqx.auth.x509.caSecretName"]
    parsed, found = auth({"x509": {}, "builtInDatabase": {"enabled": False}})
    assert found == [] and parsed.certificates_only


def test_acl_rules_are_checked() -> None:
    parsed, found = auth({"authorization": {"rules": [
        {"permission": "allow", "action": "publish", "topics": ["devices/${username}/#"], "username": "a"}]}})
    assert found == [] and len(parsed.acl_rules) == 1 and parsed.acl_rules[0].username == "a"
    _, found = auth({"authorization": {"rules": [
        {"permission": "maybe", "topics": ["a/#/b"], "username": "a", "clientid": "b", "ipaddr": "10.0.0.1/8"}]}})
    assert keys(found) == ["emqx.auth.authorization.rules[0].permission", "emqx.auth.authorization.rules[0].topics[0]",
                           "emqx.auth.authorization.rules[0]", "emqx.auth.authorization.rules[0].ipaddr"]


def test_emqx_4_4_takes_only_the_switches() -> None:
    _, found = auth({"jwt": {"jwksEndpoint": "https://idp.example.com/jwks"}}, version="4.4.19")
    assert keys(found) == ["emqx.auth.jwt"] and "4.4" in found[0]


def test_mqtt_users_against_the_built_in_database() -> None:
    problems = Problems()
    emqx = parse_emqx(Section("emqx", {"auth": {"builtInDatabase": {"superusers": ["admin"]}}}, problems), False)
    assert problems.items == []
    ok = Problems()
    mqtt_users_problems({"mqttUsers": "admin:a-long-password-1"}, emqx, ok)
    assert ok.items == []
    missing = Problems()
    mqtt_users_problems({"mqttUsers": "someone:a-long-password-1"}, emqx, missing)
    assert keys(missing.items) == ["emqx.auth.builtInDatabase.superusers[0]"]
    off = parse_emqx(Section("emqx", {"auth": {"allowAnonymous": True}}, Problems()), False)
    unread = Problems()
    mqtt_users_problems({"mqttUsers": "admin:a-long-password-1"}, off, unread)
    assert keys(unread.items) == ["mqttUsers"] and "nobody would read it" in unread.items[0]
    # The value is secret: no message quotes it.
    assert all("a-long-password-1" not in p for p in missing.items + unread.items)
