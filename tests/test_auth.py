"""MQTT authentication and authorization (emqx.auth, mqttUsers) and the secure-by-default load balancer: the settings
refuse an open production broker, the renderers write only keys EMQX's schema has, and the program delivers the
users as a hashed file from a Secret, never in the custom resource."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pyhocon import ConfigFactory

from components.render import auth
from components.render.emqx import emqx_enterprise_v4_spec, emqx_spec, hocon
from components.settings import AclRule, AuthSettings, HttpAuthSettings, JwtSettings, X509Settings
from tests.test_emqx_render import INPUTS, hocon_leaves
from tests.test_settings import ALICLOUD, ENTERPRISE, ok, one_about, problems, with_changes
from tests.validators import validate_manifest

EMQX = "kubernetes:apps.emqx.io/v2beta1:EMQX"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CLB_LISTENER = "alicloud:slb/listener:Listener"
NLB_LISTENER = "alicloud:nlb/listener:Listener"
RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
USERS = "user-1:s3cret-pass!\n# a comment\n\nuser-2:another-password\n"
PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"


def _auth(**changes: Any) -> dict[str, Any]:
    return with_changes(ALICLOUD, **{f"emqx__auth__{k}": v for k, v in changes.items()})


# --- settings ----------------------------------------------------------------------------------------------------


def test_by_default_clients_need_credentials_and_authorization_denies() -> None:
    a = ok(ALICLOUD).emqx.auth
    assert a.built_in_database and not a.allow_anonymous
    assert (a.no_match, a.deny_action, a.acl_rules) == ("deny", "ignore", ())


def test_production_refuses_anonymous_access_with_the_fix() -> None:
    values = with_changes(ENTERPRISE, emqx__auth__allowAnonymous=True)
    msg = one_about(problems(values), "emqx.auth.allowAnonymous")
    assert "production" in msg and "mqttUsers" in msg
    assert ok(_auth(allowAnonymous=True)).emqx.auth.allow_anonymous  # outside production it is a choice


def test_anonymous_access_and_an_authenticator_contradict_each_other() -> None:
    msg = one_about(problems(_auth(allowAnonymous=True, jwt={"jwksEndpoint": "https://idp.example.com/jwks"})),
                    "emqx.auth.allowAnonymous")
    assert "no authenticator" in msg


def test_mqtt_users_are_a_secret_checked_line_by_line_without_echoing_them() -> None:
    bad = "alice:tiny1\nno-separator\nbob:long-enough-1\nbob:long-enough-2\nsp ace:long-enough-3\n"
    found = problems({**ALICLOUD, "mqttUsers": bad}, secret_keys={"mqttUsers"})
    about = [p for p in found if p.startswith("mqttUsers:")]
    assert any("line 1" in p and "shorter than 8" in p for p in about)
    assert any("line 2" in p and "no ':'" in p for p in about)
    assert any("line 4" in p and "earlier line" in p for p in about)
    assert any("line 5" in p and "user name" in p for p in about)
    for secret_part in ("alice", "tiny1", "long-enough", "bob", "sp ace"):
        assert not any(secret_part in p for p in found), secret_part
    plain = problems({**ALICLOUD, "mqttUsers": USERS}, secret_keys=set())
    assert "stored in plain text" in one_about(plain, "mqttUsers")
    s = ok({**ALICLOUD, "mqttUsers": USERS}, secret_keys={"mqttUsers"})
    assert s.mqtt_users is not None


def test_mqtt_users_need_the_built_in_database_and_superusers_must_be_users() -> None:
    values = {**_auth(builtInDatabase={"enabled": False}), "mqttUsers": USERS}
    assert "nobody would read it" in one_about(problems(values, secret_keys={"mqttUsers"}), "mqttUsers")
    values = {**_auth(builtInDatabase={"superusers": ["user-1", "root"]}), "mqttUsers": USERS}
    msg = one_about(problems(values, secret_keys={"mqttUsers"}), "emqx.auth.builtInDatabase.superusers[1]")
    assert "not a user in mqttUsers" in msg


def test_jwt_needs_exactly_one_key_source_and_https_in_production() -> None:
    assert "exactly one" in one_about(problems(_auth(jwt={})), "emqx.auth.jwt")
    both = _auth(jwt={"jwksEndpoint": "https://idp.example.com/jwks", "publicKey": PEM})
    assert "exactly one" in one_about(problems(both), "emqx.auth.jwt")
    assert "PEM" in one_about(problems(_auth(jwt={"publicKey": "abc"})), "emqx.auth.jwt.publicKey")
    insecure = with_changes(ENTERPRISE, emqx__auth__jwt={"jwksEndpoint": "http://idp.example.com/jwks"})
    assert "https://" in one_about(problems(insecure), "emqx.auth.jwt.jwksEndpoint")
    insecure = with_changes(ENTERPRISE, emqx__auth__http={"url": "http://auth.example.com/mqtt"})
    assert "https://" in one_about(problems(insecure), "emqx.auth.http.url")
    jwt = ok(_auth(jwt={"publicKey": PEM, "from": "username"})).emqx.auth.jwt
    assert jwt == JwtSettings(jwks_endpoint=None, public_key=PEM, token_from="username")


def test_client_certificates_need_a_ca_when_the_listener_certificate_comes_from_your_issuer() -> None:
    values = with_changes(ALICLOUD, emqx__tls={"issuerKind": "ClusterIssuer", "issuerName": "letsencrypt",
                                               "dnsNames": ["mqtt.example.com"]}, emqx__auth__x509={})
    assert "ca.crt" in one_about(problems(values), "emqx.auth.x509.caSecretName")
    assert ok(_auth(x509={})).emqx.auth.x509 == X509Settings(ca_secret_name=None, username_from="cn")


def test_acl_rules_are_checked() -> None:
    rules = [{"permission": "allow", "topics": ["a/#/b"]},
             {"permission": "allow", "username": "u", "clientid": "c", "topics": ["t"]},
             {"permission": "maybe", "topics": ["t"]},
             {"permission": "deny", "ipaddr": "10.0.0.1/8", "topics": ["t"]}]
    found = problems(_auth(authorization={"rules": rules}))
    assert "not an MQTT topic filter" in one_about(found, "emqx.auth.authorization.rules[0].topics[0]")
    assert "one of them" in one_about(found, "emqx.auth.authorization.rules[1]")
    assert "not one of" in one_about(found, "emqx.auth.authorization.rules[2].permission")
    assert "host bits" in one_about(found, "emqx.auth.authorization.rules[3].ipaddr")


def test_emqx_4_4_takes_only_the_switches() -> None:
    legacy = with_changes(ENTERPRISE, emqx__version="4.4.19", emqx__replicants=0, emqx__cores=None,
                          emqx__auth__jwt={"jwksEndpoint": "https://idp.example.com/jwks"})
    found = problems(legacy)
    assert "plugins" in one_about(found, "emqx.auth.jwt")
    spec = emqx_enterprise_v4_spec(replace(INPUTS, auth=_inputs(AuthSettings())), "4.4.19", "emqx/emqx-ee")
    config = spec["template"]["spec"]["emqxContainer"]["emqxConfig"]
    # etc/emqx.conf v4.4.19 ships allow_anonymous = true and acl_nomatch = allow.
    assert (config["allow_anonymous"], config["acl_nomatch"], config["acl_deny_action"]) == ("false", "deny", "ignore")
    assert validate_manifest({"apiVersion": "apps.emqx.io/v1beta4", "kind": "EmqxEnterprise",
                              "metadata": {"name": "emqx", "namespace": "emqx"}, "spec": spec}) == []


# --- hashing, as EMQX checks it ------------------------------------------------------------------------------------


def test_password_hash_is_emqxs_salted_sha256() -> None:
    # printf '%s' '0123456789abcdef0123456789abcdefs3cret-pass!' | openssl dgst -sha256
    assert auth.password_hash("0123456789abcdef0123456789abcdef", "s3cret-pass!") == (
        "1bdde6869447e36a8e42a303f84b52cafb22f8321bde34fbdac4db286fedaec0")
    # printf '%s' user-1 | openssl dgst -sha256 -hmac seed-of-the-stack, first 32 hex digits
    assert auth.salt_for("seed-of-the-stack", "user-1") == "35821c23900a5122514886660abdd182"


def test_bootstrap_file_holds_hashes_emqx_imports() -> None:
    users = json.loads(auth.bootstrap_users(USERS, ("user-2",), "seed-of-the-stack"))
    assert [u["user_id"] for u in users] == ["user-1", "user-2"]
    first = users[0]
    assert set(first) == {"user_id", "password_hash", "salt", "is_superuser"}  # emqx_authn_mnesia convert_user
    assert first["salt"] == "35821c23900a5122514886660abdd182"
    assert first["password_hash"] == auth.password_hash(first["salt"], "s3cret-pass!")
    assert (users[0]["is_superuser"], users[1]["is_superuser"]) == (False, True)
    assert "s3cret-pass!" not in json.dumps(users) and "another-password" not in json.dumps(users)
    # Stable across updates (same seed), different across stacks.
    assert auth.bootstrap_users(USERS, (), "seed-of-the-stack") == auth.bootstrap_users(USERS, (), "seed-of-the-stack")
    assert auth.bootstrap_users(USERS, (), "another-seed") != auth.bootstrap_users(USERS, (), "seed-of-the-stack")


# --- rendering -----------------------------------------------------------------------------------------------------

# Keys transcribed from EMQX's schema, the same in v5.8.9 and e5.10.3 (module names in components/render/auth.py):
# emqx_authn_mnesia_schema builtin_db, emqx_authn_jwt_schema jwt_jwks / jwt_public_key, emqx_authn_http_schema
# http_post (ssl from emqx_schema ssl_client_opts), emqx_authn_schema common_fields (enable).
AUTHENTICATOR_KEYS = {
    "built_in_database": {"mechanism", "backend", "user_id_type", "password_hash_algorithm.name",
                          "password_hash_algorithm.salt_position", "bootstrap_file", "bootstrap_type", "enable"},
    "jwks": {"mechanism", "use_jwks", "endpoint", "headers", "pool_size", "refresh_interval", "ssl.enable",
             "acl_claim_name", "verify_claims", "disconnect_after_expire", "from", "enable"},
    "public-key": {"mechanism", "use_jwks", "algorithm", "public_key", "acl_claim_name", "verify_claims",
                   "disconnect_after_expire", "from", "enable"},
    "http": {"mechanism", "backend", "method", "url", "headers.content-type", "body.username", "body.password",
             "body.clientid", "request_timeout", "ssl.enable", "enable"},
}
# emqx_schema authz_fields (no_match, deny_action) and emqx_authz_file_schema fields(file) (type, enable, path);
# listener ssl_options verify / fail_if_no_peer_cert / cacertfile, listener enable, mqtt.peer_cert_as_username.
OTHER_KEYS = {"authorization.no_match", "authorization.deny_action", "authorization.sources",
              "mqtt.peer_cert_as_username"} | {
    f"listeners.{k}.default.ssl_options.{f}" for k in ("ssl", "wss")
    for f in ("verify", "fail_if_no_peer_cert", "cacertfile")} | {
    f"listeners.{k}.default.enable" for k in ("tcp", "ws")}
SOURCE_KEYS = {"type", "enable", "path"}


def _inputs(settings: AuthSettings, users: bool = False) -> auth.AuthInputs:
    return auth.AuthInputs(settings=settings, users_secret="emqx-secrets" if users else None, acl_config_map="emqx-acl")


def _kind(authenticator: Any) -> str:
    if authenticator.get("use_jwks", False):
        return "jwks"
    return authenticator.get("algorithm", None) or authenticator["backend"]


EVERYTHING = AuthSettings(
    user_id_type="clientid", superusers=("root",),
    jwt=JwtSettings(jwks_endpoint="https://idp.example.com/jwks", public_key=None),
    http=HttpAuthSettings(url="https://auth.example.com/mqtt"), x509=X509Settings(ca_secret_name="client-ca"),
    no_match="deny", deny_action="disconnect",
    acl_rules=(AclRule(permission="allow", action="publish", topics=("devices/${username}/#",), username="u"),))


@pytest.mark.parametrize("settings", [
    AuthSettings(), EVERYTHING, replace(EVERYTHING, jwt=JwtSettings(jwks_endpoint=None, public_key=PEM)),
    AuthSettings(allow_anonymous=True, built_in_database=False, no_match="allow"),
    AuthSettings(built_in_database=False, x509=X509Settings(ca_secret_name=None, username_from="dn")),
], ids=["default", "everything", "jwt-public-key", "anonymous", "x509-only"])
def test_every_auth_key_exists_in_emqxs_schema(settings: AuthSettings) -> None:
    for users in (False, True):
        conf: Any = ConfigFactory.parse_string(hocon(replace(INPUTS, auth=_inputs(settings, users))))
        for authenticator in conf.get_list("authentication"):
            leaves = hocon_leaves(authenticator)
            assert leaves <= AUTHENTICATOR_KEYS[_kind(authenticator)], leaves - AUTHENTICATOR_KEYS[_kind(authenticator)]
        for source in conf.get_list("authorization.sources"):
            assert set(source) <= SOURCE_KEYS
        ours = {leaf for leaf in hocon_leaves(conf) if not leaf.startswith(("authentication", "license."))}
        ours = {leaf for leaf in ours if not (leaf.startswith("listeners.") and leaf.split(".", 3)[3] in (
            "bind", "acceptors", "max_connections", "max_conn_rate", "tcp_options.backlog", "ssl_options.certfile",
            "ssl_options.keyfile"))}
        assert ours <= OTHER_KEYS, ours - OTHER_KEYS


def test_the_chain_follows_the_settings() -> None:
    conf: Any = ConfigFactory.parse_string(hocon(replace(INPUTS, auth=_inputs(EVERYTHING, users=True))))
    chain = conf.get_list("authentication")
    assert [_kind(a) for a in chain] == ["built_in_database", "jwks", "http"]
    db = chain[0]
    assert (db["bootstrap_type"], db["bootstrap_file"]) == ("hash", "/opt/emqx/etc/auth/users.json")
    assert db["user_id_type"] == "clientid"
    assert db["password_hash_algorithm"] == {"name": "sha256", "salt_position": "prefix"}
    assert chain[2]["body"]["password"] == "${password}"  # quoted: a placeholder EMQX fills, not a substitution
    assert conf.get_string("authorization.deny_action") == "disconnect"
    (source,) = conf.get_list("authorization.sources")
    assert source["path"] == f"/opt/emqx/etc/acl/{auth.acl_file_name(EVERYTHING.acl_rules)}"
    for kind in ("ssl", "wss"):
        tls: Any = conf.get_config(f"listeners.{kind}.default.ssl_options")
        assert (tls["verify"], tls["fail_if_no_peer_cert"]) == ("verify_peer", True)
        assert tls["cacertfile"] == "/opt/emqx/etc/certs/clients/ca.crt"
    assert conf.get_string("mqtt.peer_cert_as_username") == "cn"
    # Without bootstrap users EMQX's example file is not read either.
    plain: Any = ConfigFactory.parse_string(hocon(replace(INPUTS, auth=_inputs(AuthSettings()))))
    assert plain.get_list("authentication")[0]["bootstrap_file"] == ""
    assert plain.get_list("authorization.sources") == []


def test_anonymous_is_an_empty_chain_written_out() -> None:
    text = hocon(replace(INPUTS, auth=_inputs(AuthSettings(allow_anonymous=True, built_in_database=False))))
    assert "authentication = []" in text
    # A certificate as the only credential: the listeners that ask for none are off.
    x509_only = AuthSettings(built_in_database=False, x509=X509Settings(ca_secret_name=None))
    conf: Any = ConfigFactory.parse_string(hocon(replace(INPUTS, auth=_inputs(x509_only))))
    assert conf.get_bool("listeners.tcp.default.enable") is False
    assert conf.get_bool("listeners.ws.default.enable") is False


def test_acl_file_is_erlang_terms_first_match_wins() -> None:
    rules = (AclRule(permission="allow", action="subscribe", topics=('a"b', "c\\d"), clientid="dev-1"),
             AclRule(permission="deny", action="all", topics=("#",)))
    text = auth.acl_file(rules)
    assert text.splitlines()[1:] == ['{allow, {clientid, "dev-1"}, subscribe, ["a\\"b", "c\\\\d"]}.',
                                     '{deny, all, all, ["#"]}.']
    assert auth.acl_file_name(rules) != auth.acl_file_name(rules[:1])


def test_pods_mount_the_users_acl_and_client_ca_and_the_cr_still_validates() -> None:
    spec = emqx_spec(replace(INPUTS, auth=_inputs(EVERYTHING, users=True)))
    for template in ("coreTemplate", "replicantTemplate"):
        pod = spec[template]["spec"]
        volumes = {v["name"]: v for v in pod["extraVolumes"]}
        assert volumes["mqtt-users"]["secret"] == {"secretName": "emqx-secrets",
                                                   "items": [{"key": "mqtt-users.json", "path": "users.json"}]}
        assert volumes["mqtt-acl"]["configMap"] == {"name": "emqx-acl"}
        assert volumes["client-ca"]["secret"]["secretName"] == "client-ca"
        mounts = {m["name"]: m["mountPath"] for m in pod["extraVolumeMounts"]}
        assert mounts["mqtt-users"] == "/opt/emqx/etc/auth" and mounts["mqtt-acl"] == "/opt/emqx/etc/acl"
    assert validate_manifest({"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX",
                              "metadata": {"name": "emqx", "namespace": "emqx"}, "spec": spec}) == []


# --- the program -----------------------------------------------------------------------------------------------------


def test_prod_bootstraps_hashed_users_from_a_secret_never_the_cr(run_stack) -> None:
    rec = run_stack({**ENTERPRISE, "licenseKey": {"secure": "x"}, "mqttUsers": {"secure": "x"},
                     "emqx": {**ENTERPRISE["emqx"], "auth": {"authorization": {"rules": [
                         {"permission": "allow", "topics": ["devices/${username}/#"]}]}}}})
    (secret,) = [r for r in rec.by_type(SECRET) if r.inputs["metadata"]["name"] == "emqx-secrets"]
    users = json.loads(secret.raw_inputs["stringData"]["mqtt-users.json"])
    # The placeholder the preview puts in place of the secret reads as one `user:password` line.
    (user,) = users
    assert user["user_id"] == "offline-secret-emqx-platform"
    assert user["password_hash"] == auth.password_hash(user["salt"], "mqttUsers")
    assert secret.inputs["stringData"]["mqtt-users.json"] == "[secret]"
    cr = rec.one(EMQX)
    assert "mqttUsers" not in json.dumps(cr.raw_inputs) and user["password_hash"] not in json.dumps(cr.raw_inputs)
    assert "bootstrap_type = hash" in cr.inputs["spec"]["config"]["data"]
    (acl,) = [r for r in rec.by_type(CONFIG_MAP) if r.inputs["metadata"]["name"] == "emqx-acl"]
    ((name, text),) = acl.inputs["data"].items()
    assert text.splitlines()[1:] == ['{allow, all, all, ["devices/${username}/#"]}.']
    assert f'path = "/opt/emqx/etc/acl/{name}"' in cr.inputs["spec"]["config"]["data"]
    assert acl.name in cr.dependencies


def test_shipped_stacks_say_how_clients_authenticate(run_stack) -> None:
    prod = run_stack("prod").one(EMQX).inputs["spec"]["config"]["data"]
    assert "bootstrap_type = hash" in prod and "authorization.no_match = deny" in prod
    for name in ("dev", "local"):
        data = run_stack(name).one(EMQX).inputs["spec"]["config"]["data"]
        assert "authentication = []" in data and "authorization.no_match = allow" in data


# --- the load balancer ---------------------------------------------------------------------------------------------

INTERNET = with_changes(ALICLOUD, loadBalancer__addressType="internet")


def test_an_internet_load_balancer_serves_tls_only(run_stack) -> None:
    assert ok(INTERNET).load_balancer.served_ports == (8883, 8084)
    assert ok(ALICLOUD).load_balancer.served_ports == (1883, 8883, 8083, 8084)  # intranet: as before
    rec = run_stack(INTERNET)
    assert {r.inputs["frontendPort"] for r in rec.by_type(CLB_LISTENER)} == {8883, 8084, 18083}
    node_ports = {int(r.inputs["portRange"].split("/")[0]) for r in rec.by_type(RULE)
                  if r.inputs["description"] == "MQTT clients"}
    assert node_ports == {31884, 31084}  # flannel: the TLS listeners' node ports only
    annotations = rec.one(EMQX).inputs["spec"]["listenersServiceTemplate"]["metadata"]["annotations"]
    vgroups = annotations["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-vgroup-port"]
    assert {item.split(":")[1] for item in vgroups.split(",")} == {"8883", "8084"}
    assert set(rec.outputs["mqtt_endpoints"]) == {"mqtts", "wss"}


def test_plain_text_on_the_internet_is_explicit_never_in_production_never_to_everyone(run_stack) -> None:
    allowed = with_changes(INTERNET, loadBalancer__allowPlainText=True, network__clientCidrs=["203.0.113.0/24"])
    assert ok(allowed).load_balancer.served_ports == (1883, 8883, 8083, 8084)
    wide = with_changes(allowed, network__clientCidrs=["0.0.0.0/0"])
    msg = one_about(problems(wide), "network.clientCidrs")
    assert "0.0.0.0/0" in msg and "plain-text" in msg and "allowPlainText" in msg
    prod = with_changes(ENTERPRISE, loadBalancer__addressType="internet", loadBalancer__allowPlainText=True,
                        network__clientCidrs=["203.0.113.0/24"])
    assert "production" in one_about(problems(prod), "loadBalancer.allowPlainText")
    nlb = run_stack(with_changes(ENTERPRISE, loadBalancer__addressType="internet", licenseKey={"secure": "x"}))
    assert {r.inputs["listenerPort"] for r in nlb.by_type(NLB_LISTENER)} == {8883, 8084, 18083}


def test_private_client_ranges_cannot_reach_an_internet_load_balancer() -> None:
    values = with_changes(INTERNET, network__clientCidrs=["10.0.0.0/8", "192.168.1.0/24"])
    msg = one_about(problems(values), "network.clientCidrs")
    assert "private" in msg and "addressType: intranet" in msg
    assert ok(with_changes(INTERNET, network__clientCidrs=["10.0.0.0/8", "198.51.100.0/24"]))


# --- review findings ------------------------------------------------------------------------------------------------


def test_turning_every_mechanism_off_is_anonymous_access_and_needs_saying_so() -> None:
    off = {"builtInDatabase": {"enabled": False}, "authorization": {"noMatch": "allow"}}
    prod = with_changes(ENTERPRISE, emqx__auth=off)
    msg = one_about(problems(prod), "emqx.auth")
    assert "without credentials" in msg and "allowAnonymous" not in msg  # production: no anonymous way out
    msg = one_about(problems(_auth(builtInDatabase={"enabled": False})), "emqx.auth")
    assert "allowAnonymous: true" in msg
    # A certificate alone is a credential.
    x509_only = _auth(builtInDatabase={"enabled": False}, x509={})
    assert ok(x509_only).emqx.auth.certificates_only


def test_a_public_key_jwt_selects_its_schema_member() -> None:
    # emqx_authn_jwt_schema.erl picks the union member by use_jwks: without it EMQX refuses the config at boot.
    for jwt in (JwtSettings(jwks_endpoint=None, public_key=PEM),
                JwtSettings(jwks_endpoint="https://idp.example.com/jwks", public_key=None)):
        settings = AuthSettings(built_in_database=False, jwt=jwt)
        conf: Any = ConfigFactory.parse_string(hocon(replace(INPUTS, auth=_inputs(settings))))
        (authenticator,) = conf.get_list("authentication")
        assert authenticator["use_jwks"] is (jwt.jwks_endpoint is not None)


def test_the_config_replaces_what_the_stack_renders() -> None:
    # Merge would keep an authenticator or ACL source the stack dropped (EMQX merges authenticators by id).
    assert emqx_spec(INPUTS)["config"]["mode"] == "Replace"


def test_an_enterprise_5_licence_stays_in_the_one_secret(run_stack) -> None:
    values = with_changes(ENTERPRISE, production=False, emqx__auth={
        "builtInDatabase": {"enabled": False}, "jwt": {"jwksEndpoint": "https://idp.example.com/jwks"}})
    values["licenseKey"] = {"secure": "a-licence-key"}
    rec = run_stack(values)
    names = [r.inputs["metadata"]["name"] for r in rec.by_type(SECRET)]
    assert names == ["emqx-secrets"], names


def test_emqx_4_4_denies_on_its_external_zone_too() -> None:
    spec = emqx_enterprise_v4_spec(replace(INPUTS, auth=_inputs(AuthSettings(deny_action="disconnect"))), "4.4.19",
                                   "emqx/emqx-ee")
    config = spec["template"]["spec"]["emqxContainer"]["emqxConfig"]
    # etc/emqx.conf v4.4.19 sets zone.external.acl_deny_action = ignore, which wins for external clients.
    assert config["zone.external.acl_deny_action"] == config["acl_deny_action"] == "disconnect"


def test_certificates_only_serves_no_plain_text_ports(run_stack) -> None:
    values = _auth(builtInDatabase={"enabled": False}, x509={})
    assert ok(values).load_balancer.served_ports == (8883, 8084)
    rec = run_stack(values)
    assert {r.inputs["frontendPort"] for r in rec.by_type(CLB_LISTENER)} == {8883, 8084, 18083}
    assert not [r for r in rec.by_type(RULE) if r.inputs["description"] == "MQTT clients"
                and int(r.inputs["portRange"].split("/")[0]) in (1883, 8083, 31883, 31083)]
