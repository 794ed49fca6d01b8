"""What a user reads when the settings refuse a stack: each problem starts with the key to change, echoes the wrong
value, and names a concrete fix; each cross-field rule fires exactly when its condition holds; defaults take effect.

Fragments, not whole messages: a problem may be reworded, but not lose its key, the value or the fix. Pure: no engine.
"""

from __future__ import annotations

from typing import Any

import pytest

from components import settings, tuning
from components.settings import MAX_KEYS, MAX_TEXT, NODE_IMAGES, PROJECT, SECRET_KEYS, SECTION_KEYS, ConfigError, parse
from tests.test_settings import ALICLOUD, ENTERPRISE, EXISTING, ok, one_about, problems, with_changes

PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"
USERS = "alice:alice-password\nbob:bob-password-1"
LEGACY = with_changes(ENTERPRISE, emqx__version="4.4.19", emqx__replicants=0, emqx__cores=None)
OWN_ISSUER = {"issuerKind": "ClusterIssuer", "issuerName": "letsencrypt", "dnsNames": ["mqtt.example.com"]}
PUBLIC_API = {"public": True, "allowedCidrs": ["203.0.113.0/24"]}


def auth(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return with_changes(base, emqx__auth=fields)


def rule(**fields: Any) -> dict[str, Any]:
    return {"authorization": {"rules": [{"permission": "allow", "topics": ["t/#"], **fields}]}}


# (values, key of the one problem about it, fragments the problem holds: what is wrong with the value echoed, and the
# fix). Each case changes one thing of a valid stack.
REFUSALS: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    # -- the stack as a whole ---------------------------------------------------------------------------------------
    ("reserved tag", with_changes(EXISTING, tags={"component": "x", "team": "a"}), "tags",
     ("component are set by the program on every resource", "; use other tag keys")),
    ("clb tag room", with_changes(ALICLOUD, tags={f"t{i}": "v" for i in range(8)}), "tags",
     ("8 tags; the stack's CLB accepts at most 10 and the program sets 3 on it", "; use at most 7")),
    ("ambient region", {**ALICLOUD, "alicloud:region": "cn-shanghai"}, "alicloud:region",
     ("'cn-shanghai' differs from cloud.region (cn-hangzhou)", "remove alicloud:region, or set cloud.region")),
    ("nofile above nr_open", with_changes(EXISTING, tuning__nofile=tuning.NR_OPEN_MAX + 1), "tuning.nofile",
     (f"{tuning.NR_OPEN_MAX + 1} is above the maximum {tuning.NR_OPEN_MAX}", "the kernel's fs.nr_open ceiling")),
    ("unknown sysctl", with_changes(EXISTING, tuning__sysctls={"net.bogus.x": "1"}), 'tuning.sysctls["net.bogus.x"]',
     ("not a key this profile can classify", "known keys: fs.file-max")),
    ("existing on a cloud", with_changes(ALICLOUD, existing={"context": "x", "bogus": 1}), "existing",
     ("only applies when target is 'existing' (target is 'alicloud')", "; remove it")),
    ("licence on open source", {**ALICLOUD, "licenseKey": "k"}, "licenseKey",
     ("open-source EMQX 5.8.9 takes no licence", "or set emqx.edition to enterprise")),
    ("small essd", with_changes(ALICLOUD, emqx__coreStorage={"sizeGiB": 19}), "emqx.coreStorage.sizeGiB",
     ("19 GiB is below the 20 GiB minimum of an Alibaba Cloud ESSD disk", "; use at least 20")),
    ("kubeconfig on a cloud", {**ALICLOUD, "kubeconfig": "apiVersion: v1"}, "kubeconfig",
     ("only applies when target is 'existing'", "remove it: the stack makes its own")),
    ("alibaba region on aws", with_changes(ALICLOUD, target="aws"), "cloud.region",
     ("'cn-hangzhou' is not well formed", "an AWS region code such as us-east-1")),
    ("rebalance on open source",
     with_changes(EXISTING, emqx__edition="opensource", licenseKey=None, rebalance={"runs": [{"name": "r",
                                                                                               "connEvictRate": 5}]}),
     "rebalance.runs", ("rebalancing is Enterprise-only; opensource EMQX 5.8.9 has no rebalance API",
                        "remove the runs, or use edition enterprise")),
    ("no surge in production", with_changes(ENTERPRISE, nodePools__emqx__rolloutSurge=0),
     "nodePools.emqx.rolloutSurge", ("0 leaves no node for the operator's blue-green rollout", "; leave it unset")),
    ("unknown instance type", with_changes(ALICLOUD, nodePools__emqx__instanceTypes=["ecs.c7.huge"]),
     "nodePools.emqx.instanceTypes[0]", ("'ecs.c7.huge' is not in the sizing table", "INSTANCE_SHAPES")),
    ("not an instance type", with_changes(ALICLOUD, nodePools__system__instanceTypes=["c7"]),
     "nodePools.system.instanceTypes[0]", ("'c7' is not an ECS instance type", "; use a type such as ecs.c7.4xlarge")),
    # -- cloud and network ------------------------------------------------------------------------------------------
    ("region syntax", with_changes(ALICLOUD, cloud__region="CN_hangzhou"), "cloud.region",
     ("'CN_hangzhou'", "; use a region id such as cn-hangzhou")),
    ("zone of a region the table lacks", with_changes(ALICLOUD, cloud={"region": "xx-new-1",
                                                                     "zones": ["xx-new-1a!", "xx-new-1b"],
                                                                     "extraZones": ["xx-new-1a!", "xx-new-1b"]}),
     "cloud.zones[0]", ("'xx-new-1a!'", "use zone ids of xx-new-1 such as xx-new-1-a")),
    ("region not in the table", with_changes(ALICLOUD, cloud={"region": "cn-hangzou",
                                                              "zones": ["cn-hangzou-h", "cn-hangzou-i"]}),
     "cloud.region",
     ("'cn-hangzou' is not in the region table", "did you mean cn-hangzhou?",
      "list its zones in cloud.extraZones as well")),
    ("terway pod cidr", with_changes(ALICLOUD, network={"plugin": "terway", "podCidr": "172.20.0.0/16"}),
     "network.podCidr", ("does not apply to terway", "; remove it")),
    ("unknown plugin", with_changes(ALICLOUD, network={"plugin": "calico"}), "network.plugin",
     ("'calico' is not one of flannel, terway",)),
    ("no admin networks", with_changes(ALICLOUD, network={"adminCidrs": []}), "network.adminCidrs",
     ("needs at least 1",)),
    ("admin /7", with_changes(ALICLOUD, network={"adminCidrs": ["10.0.0.0/7"]}), "network.adminCidrs[0]",
     ("opens the dashboard and REST API (18083)", "(a /8 or narrower)")),
    ("private clients of an internet lb",
     with_changes(ALICLOUD, loadBalancer={"addressType": "internet"}, network={"clientCidrs": ["10.0.0.0/8"]}),
     "network.clientCidrs", ("10.0.0.0/8 are private ranges", "or set loadBalancer.addressType: intranet")),
    ("plain text to a /7",
     with_changes(ALICLOUD, loadBalancer={"addressType": "internet", "allowPlainText": True},
                  network={"clientCidrs": ["0.0.0.0/7", "203.0.113.0/24"]}),
     "network.clientCidrs", ("0.0.0.0/7 opens plain-text MQTT (1883, 8083)", "remove loadBalancer.allowPlainText")),
    ("no region", with_changes(ALICLOUD, cloud__region=None), "cloud.region",
     ("is required but not set", "an Alibaba Cloud region id such as cn-hangzhou")),
    ("extra zone syntax", with_changes(ALICLOUD, cloud__extraZones=["cn-hangzhou-h!"]), "cloud.extraZones[0]",
     ("'cn-hangzhou-h!'", "use zone ids of cn-hangzhou such as")),
    ("no instance types", with_changes(ALICLOUD, nodePools__emqx__instanceTypes=[]), "nodePools.emqx.instanceTypes",
     ("needs at least 1",)),
    ("negative surge", with_changes(ALICLOUD, nodePools__emqx__rolloutSurge=-1), "nodePools.emqx.rolloutSurge",
     ("-1 is below the minimum 0",)),
    # -- cluster ----------------------------------------------------------------------------------------------------
    ("unlisted minor", with_changes(ALICLOUD, cluster__kubernetesVersion="1.34.3-aliyun.1"),
     "cluster.kubernetesVersion", ("'1.34.3-aliyun.1' is not on a minor ACK creates clusters on (1.35, 1.36",
                                   "set cluster.allowUnlistedVersion: true")),
    ("version syntax", with_changes(ALICLOUD, cluster__kubernetesVersion="v1.35"), "cluster.kubernetesVersion",
     ("'v1.35' is not well formed", "an ACK version such as 1.35.7-aliyun.1")),
    ("renamed key", with_changes(ALICLOUD, cluster__apiServerPublic=True), "cluster.apiServerPublic",
     ("was renamed to cluster.apiServer.public", "write `cluster: {apiServer: {public:")),
    ("api open to all", with_changes(ENTERPRISE, cluster__apiServer={"allowedCidrs": ["0.0.0.0/0"]}),
     "cluster.apiServer.allowedCidrs", ("0.0.0.0/0 lets anyone reach the Kubernetes API of a production stack",
                                        "list the networks pulumi and kubectl run from")),
    ("public api without a list", with_changes(ENTERPRISE, cluster__apiServer={"public": True}),
     "cluster.apiServer.public", ("needs an access list", "set cluster.apiServer.allowedCidrs")),
    ("public api list not bound", with_changes(ENTERPRISE, cluster__apiServer=PUBLIC_API),
     "cluster.apiServer.public", ("cannot bind it", "then set cluster.apiServer.accessListBound: true")),
    ("bound without a list", with_changes(ALICLOUD, cluster__apiServer={"accessListBound": True}),
     "cluster.apiServer.accessListBound", ("is true but there is no access list",
                                           "set cluster.apiServer.allowedCidrs, or remove accessListBound")),
    ("cgroup v1 image", with_changes(ALICLOUD, cluster__nodeImage="AliyunLinux3"), "cluster.nodeImage",
     ("AliyunLinux3 cannot run Kubernetes 1.35", "or a cluster.kubernetesVersion of 1.34 or older")),
    ("existing minor", with_changes(EXISTING, cluster={}), "cluster.kubernetesMinor",
     ("is required but not set", "`kubectl version`")),
    ("cluster spec", with_changes(ALICLOUD, cluster__spec="ack.pro.large"), "cluster.spec",
     ("'ack.pro.large' is not one of ack.pro.small, ack.standard",)),
    ("node image", with_changes(ALICLOUD, cluster__nodeImage="Ubuntu"), "cluster.nodeImage",
     ("'Ubuntu' is not one of AliyunLinux3ContainerOptimized",)),
    # -- emqx -------------------------------------------------------------------------------------------------------
    ("no cores", with_changes(EXISTING, emqx__cores=0), "emqx.cores", ("0 is below the minimum 1",)),
    ("cores past the field", with_changes(EXISTING, emqx__cores=32), "emqx.cores", ("32 is above the maximum 31",)),
    ("no connections", with_changes(EXISTING, emqx__capacity={"connections": 0}), "emqx.capacity.connections",
     ("0 is below the minimum 1",)),
    ("message rate", with_changes(EXISTING, emqx__capacity={"messageRate": 100_000_001}),
     "emqx.capacity.messageRate", ("100000001 is above the maximum 100000000",)),
    ("keepalive", with_changes(EXISTING, emqx__keepaliveSeconds=3601), "emqx.keepaliveSeconds",
     ("3601 is above the maximum 3600",)),
    ("headroom", with_changes(EXISTING, emqx__capacity={"headroom": 0.95}), "emqx.capacity.headroom",
     ("0.95 is outside 0.0..0.9", "the share of capacity kept free")),
    ("edition", with_changes(EXISTING, emqx__edition="enterprize"), "emqx.edition",
     ("'enterprize' is not one of opensource, enterprise", "did you mean 'enterprise'?")),
    ("name", with_changes(EXISTING, emqx__name="EMQX"), "emqx.name", ("'EMQX' is not well formed", "36 characters")),
    ("storage class", with_changes(EXISTING, emqx__coreStorage={"storageClass": "Fast_SSD"}),
     "emqx.coreStorage.storageClass", ("'Fast_SSD' is not well formed", "a StorageClass name")),
    ("issuer name", with_changes(EXISTING, emqx__tls={**OWN_ISSUER, "issuerName": "Lets_Encrypt"}),
     "emqx.tls.issuerName", ("'Lets_Encrypt' is not well formed",)),
    ("dns name", with_changes(EXISTING, emqx__tls={**OWN_ISSUER, "dnsNames": ["MQTT.example.com"]}),
     "emqx.tls.dnsNames[0]", ("'MQTT.example.com' is not a DNS name", "use lower-case names")),
    ("issuer without names", with_changes(EXISTING, emqx__tls={**OWN_ISSUER, "dnsNames": []}), "emqx.tls.dnsNames",
     ("is empty, but your issuer signs only the names listed here", "list the names clients dial")),
    ("issuer half set", with_changes(EXISTING, emqx__tls={"issuerKind": "Issuer", "dnsNames": ["a.example.com"]}),
     "emqx.tls", ("issuerKind and issuerName go together", "or neither for a self-signed CA")),
    ("version syntax", with_changes(EXISTING, emqx__version="5.8"), "emqx.version",
     ("'5.8' is not well formed", "an EMQX release such as 5.8.9 or 5.10.3")),
    ("repository hint", with_changes(EXISTING, emqx__imageRepository="Emqx/emqx"), "emqx.imageRepository",
     ("'Emqx/emqx' is not well formed", "a registry path such as registry.example.com/emqx/emqx")),
    ("negative replicants", with_changes(EXISTING, emqx__replicants=-1), "emqx.replicants",
     ("-1 is below the minimum 0",)),
    ("issuer kind", with_changes(EXISTING, emqx__tls={**OWN_ISSUER, "issuerKind": "CertIssuer"}), "emqx.tls.issuerKind",
     ("'CertIssuer' is not one of Issuer, ClusterIssuer",)),
    # -- load balancer ----------------------------------------------------------------------------------------------
    ("lb spec", with_changes(ALICLOUD, loadBalancer={"spec": "slb.s3.large"}), "loadBalancer.spec",
     ("pay-by-specification CLBs are no longer sold", "set loadBalancer.type: nlb")),
    ("nlb least connections", with_changes(ALICLOUD, loadBalancer={"type": "nlb", "scheduler": "wlc"}),
     "loadBalancer.scheduler", ("an NLB server group has no least-connections scheduler", "use wrr or rr")),
    ("nlb health interval", with_changes(ALICLOUD, loadBalancer={"type": "nlb", "healthCheck": {"intervalSeconds": 4}}),
     "loadBalancer.healthCheck.intervalSeconds", ("4 is below the minimum 5", "a NLB checks every 5 to 50 s")),
    ("clb health interval", with_changes(ALICLOUD, loadBalancer={"healthCheck": {"intervalSeconds": 0}}),
     "loadBalancer.healthCheck.intervalSeconds", ("0 is below the minimum 1", "a CLB checks every 1 to 50 s")),
    ("idle timeout", with_changes(ALICLOUD, emqx__keepaliveSeconds=100, loadBalancer={"idleTimeoutSeconds": 150}),
     "loadBalancer.idleTimeoutSeconds", ("150s is not above 1.5 x emqx.keepaliveSeconds (100s) = 150s",
                                         "use at least 151, or lower emqx.keepaliveSeconds")),
    ("production plain text",
     with_changes(ENTERPRISE, loadBalancer={"addressType": "internet", "allowPlainText": True}),
     "loadBalancer.allowPlainText", ("would take passwords and messages in plain text (1883, 8083)",
                                     "clients connect with TLS on 8883")),
    ("lb capacity", with_changes(ENTERPRISE, emqx__capacity__connections=2_000_000, loadBalancer={"type": "clb"}),
     "loadBalancer.type", ("set loadBalancer.type: nlb (",)),
    ("lb type", with_changes(ALICLOUD, loadBalancer={"type": "alb"}), "loadBalancer.type", ("'alb' is not one of",)),
    ("lb address", with_changes(ALICLOUD, loadBalancer={"addressType": "public"}), "loadBalancer.addressType",
     ("'public' is not one of internet, intranet",)),
    ("idle timeout floor", with_changes(ALICLOUD, loadBalancer={"idleTimeoutSeconds": 9}),
     "loadBalancer.idleTimeoutSeconds", ("9 is below the minimum 10",)),
    # -- monitoring, rebalance, charts, existing --------------------------------------------------------------------
    ("scrape interval", with_changes(EXISTING, monitoring={"scrapeInterval": "11m"}), "monitoring.scrapeInterval",
     ("11m is longer than 10 minutes, so series go stale", "; use 10s to 1m")),
    ("scrapes past 600 s", with_changes(EXISTING, monitoring={"scrapeInterval": "601s"}), "monitoring.scrapeInterval",
     ("601s is longer than 10 minutes",)),
    ("run conn ratio", with_changes(EXISTING, rebalance={"runs": [{"name": "r", "connEvictRate": 5,
                                                                   "relConnThreshold": 1.0}]}),
     "rebalance.runs[0].relConnThreshold", ("1 is not above 1.0, which EMQX refuses",)),
    ("existing vcpu", with_changes(EXISTING, existing={"nodeShape": {"vcpu": 0}}), "existing.nodeShape.vcpu",
     ("0 is below the minimum 1",)),
    ("image registry", with_changes(EXISTING, charts={"imageRegistry": "Registry.Example"}), "charts.imageRegistry",
     ("'Registry.Example' is not well formed", "a registry host and optional path")),
    ("topic wildcard in the middle", auth(EXISTING, **rule(topics=["t/#/x"])),
     "emqx.auth.authorization.rules[0].topics[0]", ("'t/#/x' is not an MQTT topic filter",)),
    ("scrape syntax", with_changes(EXISTING, monitoring={"scrapeInterval": "15"}), "monitoring.scrapeInterval",
     ("'15' is not well formed", "a duration such as 15s")),
    ("dashboard namespace", with_changes(EXISTING, monitoring={"dashboardNamespace": "Grafana"}),
     "monitoring.dashboardNamespace", ("'Grafana' is not well formed", "your Grafana's dashboard sidecar watches")),
    ("run name", with_changes(EXISTING, rebalance={"runs": [{"name": "Run 1", "connEvictRate": 5}]}),
     "rebalance.runs[0].name", ("'Run 1' is not well formed", "a short DNS label naming this run")),
    ("run rate", with_changes(EXISTING, rebalance={"runs": [{"name": "r"}]}), "rebalance.runs[0].connEvictRate",
     ("is required but not set", "connections evicted per second per source node")),
    ("run ratio", with_changes(EXISTING, rebalance={"runs": [{"name": "r", "connEvictRate": 5,
                                                              "relSessThreshold": 1.0}]}),
     "rebalance.runs[0].relSessThreshold", ("1 is not above 1.0, which EMQX refuses", "use a ratio above 1.0")),
    ("run ratio range", with_changes(EXISTING, rebalance={"runs": [{"name": "r", "connEvictRate": 5,
                                                                    "relSessThreshold": 0.5}]}),
     "rebalance.runs[0].relSessThreshold", ("0.5 is outside 1.0..100.0", "a ratio above 1.0")),
    ("run names", with_changes(EXISTING, rebalance={"runs": [{"name": "r", "connEvictRate": 5},
                                                             {"name": "r", "connEvictRate": 5}]}),
     "rebalance.runs[1].name", ("'r' is used by another run", "give each run its own name")),
    ("old cert-manager", with_changes(EXISTING, charts={"certManagerVersion": "v1.14.5"}),
     "charts.certManagerVersion", ("v1.14.5 is older than v1.15", "use v1.15.0 or later")),
    ("cert-manager syntax", with_changes(EXISTING, charts={"certManagerVersion": "1.21.1"}),
     "charts.certManagerVersion", ("'1.21.1' is not well formed", "a cert-manager release such as v1.21.1")),
    ("operator line", with_changes(EXISTING, charts={"emqxOperatorVersion": "2.3.0"}), "charts.emqxOperatorVersion",
     ("'2.3.0' is not well formed", "an EMQX Operator 2.2 release such as 2.2.29")),
    ("existing storage class", with_changes(EXISTING, existing={"storageClass": "SSD"}), "existing.storageClass",
     ("'SSD' is not well formed", "a StorageClass name: a DNS subdomain")),
    ("existing memory", with_changes(EXISTING, existing={"nodeShape": {"memoryGiB": 32769}}),
     "existing.nodeShape.memoryGiB", ("32769 is outside 1.0..32768.0",)),
    # -- auth -------------------------------------------------------------------------------------------------------
    ("anonymous in production", auth(ENTERPRISE, allowAnonymous=True), "emqx.auth.allowAnonymous",
     ("a production broker would admit any client without credentials",
      "mqttUsers, emqx.auth.jwt, emqx.auth.http or emqx.auth.x509 (README, MQTT authentication)")),
    ("anonymous beside jwt", auth(ALICLOUD, allowAnonymous=True, jwt={"publicKey": PEM}), "emqx.auth.allowAnonymous",
     ("only when no authenticator is configured", "remove allowAnonymous, or the authenticators")),
    ("superuser name", auth(ALICLOUD, builtInDatabase={"superusers": ["a b"]}),
     "emqx.auth.builtInDatabase.superusers[0]", ("'a b' is not a user name", "without spaces or ':'")),
    ("user id type", auth(ALICLOUD, builtInDatabase={"userIdType": "ip"}), "emqx.auth.builtInDatabase.userIdType",
     ("'ip' is not one of username, clientid",)),
    ("jwt both", auth(ALICLOUD, jwt={"publicKey": PEM, "jwksEndpoint": "https://idp.example.com/jwks"}),
     "emqx.auth.jwt", ("needs exactly one of jwksEndpoint and publicKey", "or publicKey to a PEM public key")),
    ("jwt neither", auth(ALICLOUD, jwt={"from": "username"}), "emqx.auth.jwt",
     ("needs exactly one of jwksEndpoint and publicKey",)),
    ("jwt not pem", auth(ALICLOUD, jwt={"publicKey": "MFkw"}), "emqx.auth.jwt.publicKey",
     ("is not a PEM public key", "paste the key with its -----BEGIN PUBLIC KEY----- line")),
    ("jwks url", auth(ALICLOUD, jwt={"jwksEndpoint": "ftp://idp/jwks"}), "emqx.auth.jwt.jwksEndpoint",
     ("'ftp://idp/jwks' is not well formed", "an http(s):// URL of the JWKS")),
    ("jwt from", auth(ALICLOUD, jwt={"publicKey": PEM, "from": "clientid"}), "emqx.auth.jwt.from",
     ("'clientid' is not one of password, username",)),
    ("jwks over http in production", auth(ENTERPRISE, jwt={"jwksEndpoint": "http://idp.example.com/jwks"}),
     "emqx.auth.jwt.jwksEndpoint", ("fetches the signing keys unencrypted", "; use an https:// URL")),
    ("http url", auth(ALICLOUD, http={}), "emqx.auth.http.url",
     ("is required but not set", "the http(s):// URL EMQX posts username, password and clientid to")),
    ("http in production", auth(ENTERPRISE, http={"url": "http://auth.example.com/check"}), "emqx.auth.http.url",
     ("sends every client's password over plain http", "; use an https:// URL")),
    ("x509 ca with own issuer", with_changes(auth(EXISTING, x509={}), emqx__tls=OWN_ISSUER),
     "emqx.auth.x509.caSecretName", ("is not set, and with emqx.tls.issuerKind the listener Secret has no ca.crt",
                                     "name the Secret of the CA")),
    ("x509 ca name", auth(EXISTING, x509={"caSecretName": "Client_CA"}), "emqx.auth.x509.caSecretName",
     ("'Client_CA' is not well formed", "whose ca.crt signs client certificates")),
    ("x509 username", auth(EXISTING, x509={"usernameFrom": "CN"}), "emqx.auth.x509.usernameFrom",
     ("'CN' is not one of cn, dn, disabled",)),
    ("no match", auth(EXISTING, authorization={"noMatch": "permit"}), "emqx.auth.authorization.noMatch",
     ("'permit' is not one of deny, allow",)),
    ("deny action", auth(EXISTING, authorization={"denyAction": "drop"}), "emqx.auth.authorization.denyAction",
     ("'drop' is not one of ignore, disconnect",)),
    ("rule permission", auth(EXISTING, **rule(permission="permit")), "emqx.auth.authorization.rules[0].permission",
     ("'permit' is not one of allow, deny",)),
    ("rule action", auth(EXISTING, **rule(action="pub")), "emqx.auth.authorization.rules[0].action",
     ("'pub' is not one of publish, subscribe, all",)),
    ("rule topics", auth(EXISTING, **rule(topics=[])), "emqx.auth.authorization.rules[0].topics",
     ("needs at least 1", "list topic filters")),
    ("rule wildcard", auth(EXISTING, **rule(topics=["t/+b"])), "emqx.auth.authorization.rules[0].topics[0]",
     ("'t/+b' is not an MQTT topic filter", "'+' for one level and '#' only as the last")),
    ("rule who", auth(EXISTING, **rule(username="u", clientid="c")), "emqx.auth.authorization.rules[0]",
     ("names username and clientid; a rule is about one of them", "split it into one rule each")),
    ("rule address", auth(EXISTING, **rule(ipaddr="10.0.0.1/8")), "emqx.auth.authorization.rules[0].ipaddr",
     ("'10.0.0.1/8' has host bits set", "did you mean 10.0.0.0/8?")),
    ("4.4 jwt", with_changes(LEGACY, emqx__auth={"jwt": {"publicKey": PEM}}), "emqx.auth.jwt",
     ("is not supported for EMQX 4.4.19", "configure the 4.4 auth plugins in its dashboard, or use EMQX 5")),
    ("4.4 database", with_changes(LEGACY, emqx__auth={"builtInDatabase": {"enabled": True}}),
     "emqx.auth.builtInDatabase", ("is not supported for EMQX 4.4.19",)),
    ("4.4 rules", with_changes(LEGACY, emqx__auth=rule()), "emqx.auth.authorization.rules",
     ("is not supported for EMQX 4.4.19",)),
    ("users without a database", {**auth(EXISTING, builtInDatabase={"enabled": False}), "mqttUsers": USERS},
     "mqttUsers", ("is set, but emqx.auth.builtInDatabase is off, so nobody would read it",
                   "turn the built-in database on")),
    ("users on 4.4", {**LEGACY, "mqttUsers": USERS}, "mqttUsers",
     ("is set, but EMQX 4.4 has no built-in database here",)),
    ("users text", {**EXISTING, "mqttUsers": "alice"}, "mqttUsers",
     ("line 1 has no ':'", "`pulumi config set --secret mqttUsers")),
    ("superuser unknown", {**auth(EXISTING, builtInDatabase={"superusers": ["carol"]}), "mqttUsers": USERS},
     "emqx.auth.builtInDatabase.superusers[0]", ("is not a user in mqttUsers", "add the user to mqttUsers")),
]


@pytest.mark.parametrize(("values", "key", "fragments"), [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])
def test_each_refusal_names_its_key_the_wrong_value_and_the_fix(values: dict[str, Any], key: str,
                                                                  fragments: tuple[str, ...]) -> None:
    secrets = {k for k in SECRET_KEYS if k in values}
    problem = one_about(problems(values, secrets), key)
    for fragment in fragments:
        assert fragment in problem, (fragment, problem)


# -- where a rule stops: the same stack just inside it is accepted ------------------------------------------------


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("seven tags on a cloud", with_changes(ALICLOUD, tags={f"t{i}": "v" for i in range(7)})),
    ("the same ambient region", {**ALICLOUD, "alicloud:region": "cn-hangzhou"}),
    ("admin /8", with_changes(ALICLOUD, network={"adminCidrs": ["10.0.0.0/8"]})),
    ("plain text to a /8", with_changes(ALICLOUD, loadBalancer={"addressType": "internet", "allowPlainText": True},
                                        network={"clientCidrs": ["11.0.0.0/8"]})),
    ("terway", with_changes(ALICLOUD, network={"plugin": "terway"})),
    ("unlisted minor allowed", with_changes(ALICLOUD, cluster={"kubernetesVersion": "1.37.1-aliyun.1",
                                                               "allowUnlistedVersion": True})),
    ("unlisted minor on an existing cluster", with_changes(EXISTING, cluster__kubernetesVersion="1.30.1")),
    ("public api bound", with_changes(ENTERPRISE, cluster__apiServer={**PUBLIC_API, "accessListBound": True})),
    ("cgroup v1 image on 1.34", with_changes(ALICLOUD, cluster={"nodeImage": "AliyunLinux3",
                                                                "kubernetesVersion": "1.34.3-aliyun.1",
                                                                "allowUnlistedVersion": True})),
    ("idle timeout just above", with_changes(ALICLOUD, emqx__keepaliveSeconds=100,
                                             loadBalancer={"idleTimeoutSeconds": 151})),
    ("ten minute scrapes", with_changes(EXISTING, monitoring={"scrapeInterval": "10m"})),
    ("600 s scrapes", with_changes(EXISTING, monitoring={"scrapeInterval": "600s"})),
    ("cert-manager 1.15", with_changes(EXISTING, charts={"certManagerVersion": "v1.15.0"})),
    ("charts not installed on an existing cluster",
     with_changes(EXISTING, charts={"installCertManager": False, "installOperator": False})),
    ("jwks over http outside production", auth(ALICLOUD, jwt={"jwksEndpoint": "http://idp.example.com/jwks"})),
    ("http outside production", auth(ALICLOUD, http={"url": "http://auth.example.com/check"})),
    ("anonymous alone", auth(ALICLOUD, allowAnonymous=True)),
    ("one level wildcards", auth(EXISTING, **rule(topics=["+", "t/+/x", "#", "t/#"]))),
    ("one subject", auth(EXISTING, **rule(username="u"))),
    ("an image mirror", with_changes(EXISTING, charts={"imageRegistry": "registry.example.com:5000/mirror"})),
    ("a licence longer than any plain value", {**ENTERPRISE, "licenseKey": "k" * (MAX_TEXT + 1)}),
    ("existing memory at the limit", with_changes(EXISTING, existing={"nodeShape": {"memoryGiB": 32768}})),
]


@pytest.mark.parametrize("values", [case[1] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED])
def test_just_inside_each_rule_the_stack_is_accepted(values: dict[str, Any]) -> None:
    ok(values, {k for k in SECRET_KEYS if k in values})


@pytest.mark.parametrize("toggle", ["installCertManager", "installOperator"])
def test_a_cloud_cluster_needs_the_charts_installed(toggle: str) -> None:
    problem = one_about(problems(with_changes(ALICLOUD, charts={toggle: False})), f"charts.{toggle}")
    assert "false only makes sense on an existing cluster; the alicloud cluster" in problem
    assert problem.endswith("; remove it")


@pytest.mark.parametrize("section", ["cloud", "network", "nodePools", "loadBalancer"])
def test_cloud_sections_on_an_existing_cluster_are_one_problem_each(section: str) -> None:
    found = problems({**EXISTING, section: {"bogus": {"deeper": 1}}})
    assert found == [f"{section}: has no effect when target is 'existing'; remove it, or set target to a cloud"]


def test_the_keys_of_a_refused_existing_section_are_not_listed_one_by_one() -> None:
    found = problems(with_changes(ALICLOUD, existing={"bogus": 1}))
    assert [p.split(":")[0] for p in found] == ["existing"]


@pytest.mark.parametrize("section", ["cloud", "network", "nodePools", "loadBalancer", "existing"])
def test_without_a_valid_target_only_the_target_is_reported(section: str) -> None:
    found = problems({**with_changes(EXISTING, target="exisitng", cluster=None), section: {"bogus": 1}})
    assert [p.split(":")[0] for p in found] == ["target"]
    assert "did you mean 'existing'?" in found[0]


# -- the stack as a whole --------------------------------------------------------------------------------------------


def test_a_bad_stack_name_says_what_is_wrong_then_how_to_fix_it() -> None:
    for stack, what in (("", "is empty"), ("bad_name", "'bad_name' has characters Alibaba Cloud names do not accept")):
        with pytest.raises(ConfigError) as err:
            parse(EXISTING, stack=stack)
        assert err.value.problems == [f"stack name: {what}; use a stack name of 1-24 letters, digits and hyphens "
                                      "(not at the ends), e.g. `pulumi stack init prod`"]


def test_the_key_count_limit_accepts_the_limit_and_refuses_one_more() -> None:
    # Keys of a provider's namespace are left to the provider, so they fill a stack without other problems.
    filler = MAX_KEYS - len(EXISTING)
    values = {**EXISTING, **{f"kubernetes:k{i}": "v" for i in range(filler)}}
    assert len(ok(values).emqx.name) > 0
    with pytest.raises(ConfigError) as err:
        ok({**values, "kubernetes:one-more": "v"})
    (problem,) = err.value.problems
    assert problem.startswith(f"config: {MAX_KEYS + 1:,} keys; the project reads "
                              f"{len(SECTION_KEYS) + len(SECRET_KEYS)} and providers a few more")


@pytest.mark.parametrize("tag", ["stack", "project", "component", "pool"])
def test_every_tag_the_program_sets_is_reserved(tag: str) -> None:
    assert f"tags: {tag} are set by the program" in one_about(problems(with_changes(EXISTING, tags={tag: "x"})),
                                                              "tags")


def test_the_error_lists_each_problem_on_its_own_line() -> None:
    found = problems(with_changes(EXISTING, emqx__cores=0, production="yes"))
    with pytest.raises(ConfigError) as err:
        ok(with_changes(EXISTING, emqx__cores=0, production="yes"))
    assert str(err.value).splitlines()[1:] == [f"  - {p}" for p in found]


def test_a_target_the_sizing_cannot_meet_is_a_config_error_naming_the_capacity() -> None:
    # No cores given: the sizing derives the plan, fails, and the rules that read the plan must not run.
    found = problems(with_changes(ALICLOUD, emqx__capacity__connections=200_000_000))
    assert found and all(p.startswith(("emqx", "loadBalancer")) for p in found)


def test_a_derived_all_core_cluster_past_three_nodes_names_the_target_not_the_cores() -> None:
    # Enterprise with no replicants asked for, and open source, which has none: the sizing derives all-core plans.
    values = with_changes(EXISTING, emqx={"edition": "enterprise", "version": "5.8.9", "replicants": 0,
                                          "capacity": {"connections": 400_000}}, licenseKey="k")
    problem = one_about(problems(values), "emqx.capacity")
    assert "an all-core cluster stops at 3" in problem and "3 cores plus replicants (emqx.replicants)" in problem
    open_source = with_changes(values, emqx__edition="opensource", emqx__replicants=None, licenseKey=None)
    assert "which need EMQX 5 Enterprise" in one_about(problems(open_source), "emqx.capacity")


def test_a_surge_below_the_peak_names_the_peak() -> None:
    values = with_changes(ENTERPRISE, nodePools__emqx__rolloutSurge=1)
    peak = ok(with_changes(ENTERPRISE)).sizing
    problem = one_about(problems(values), "nodePools.emqx.rolloutSurge")
    # The cores have their own pool beside replicants: the EMQX pool's peak is the replicants.
    assert peak.core_shape is not None
    assert f"use at least {peak.replicants}, or 0 for a fixed pool" in problem


def test_a_sysctl_that_contradicts_the_open_file_limit_keeps_its_own_key() -> None:
    found = problems(with_changes(EXISTING, tuning__sysctls={"fs.file-max": 65536}))
    assert any(p.startswith("tuning.sysctls[") for p in found), found
    assert not any(p.startswith("tuning.nofile: tuning.") for p in found), found


def test_licence_rule_offers_one_node_only_outside_production() -> None:
    values = with_changes(EXISTING, emqx__edition="enterprise", emqx__cores=3)
    assert one_about(problems(values), "licenseKey").endswith(", or use 1 node")
    prod = with_changes(ENTERPRISE, licenseKey=None)
    assert not one_about(problems(prod), "licenseKey").endswith(", or use 1 node")


# -- defaults take effect ------------------------------------------------------------------------------------------


def test_cloud_defaults() -> None:
    s = ok(ALICLOUD)
    assert s.project == PROJECT
    assert s.loadgen_pool is not None and (s.loadgen_pool.enabled, s.loadgen_pool.count) == (False, 0)
    assert s.system_pool is not None and s.system_pool.rollout_surge == 0
    assert s.emqx_pool is not None and (s.emqx_pool.disk_gib, s.emqx_pool.disk_category) == (120, "cloud_essd")
    assert (s.cluster.spec, s.cluster.node_image) == ("ack.pro.small", "AliyunLinux3ContainerOptimized")
    assert s.cluster.api_server.public is False and s.cluster.api_server.allowed_cidrs == ()
    lb = s.load_balancer
    assert (lb.type, lb.address_type, lb.scheduler, lb.idle_timeout_seconds) == ("clb", "intranet", "wrr", 900)
    assert (lb.health_check.interval_seconds, lb.health_check.timeout_seconds) == (2, 5)
    assert (lb.health_check.healthy_threshold, lb.health_check.unhealthy_threshold) == (5, 2)
    assert lb.allow_plain_text is True
    assert s.network is not None and s.network.plugin == "flannel" and s.network.admin_cidrs == ("10.0.0.0/16",)
    assert (s.charts.cert_manager_version, s.charts.emqx_operator_version) == ("v1.21.1", "2.2.29")


def test_chosen_values_are_the_ones_used() -> None:
    s = ok(with_changes(ALICLOUD, loadBalancer={"addressType": "internet", "scheduler": "rr", "type": "nlb"},
                        nodePools={"emqx": {"diskCategory": "cloud_auto", "rolloutSurge": 7},
                                   "loadgen": {"enabled": True, "count": 0}},
                        cluster={"spec": "ack.standard"}))
    lb = s.load_balancer
    assert (lb.type, lb.address_type, lb.scheduler) == ("nlb", "internet", "rr")
    assert lb.health_check.interval_seconds == 5  # an NLB checks every 5 s at the fastest
    assert lb.allow_plain_text is False  # an internet load balancer serves TLS only unless told
    assert s.emqx_pool is not None and (s.emqx_pool.disk_category, s.emqx_pool.rollout_surge) == ("cloud_auto", 7)
    assert s.loadgen_pool is not None and s.loadgen_pool.enabled and s.loadgen_pool.count == 0
    assert s.cluster.spec == "ack.standard"


@pytest.mark.parametrize("category", ["cloud_essd", "cloud_essd_entry", "cloud_auto", "cloud_efficiency"])
def test_every_disk_category_is_accepted(category: str) -> None:
    s = ok(with_changes(ALICLOUD, nodePools={"system": {"diskCategory": category}}))
    assert s.system_pool is not None and s.system_pool.disk_category == category


def test_a_pool_count_of_zero_is_only_for_load_generators() -> None:
    assert "0 is below the minimum 1" in one_about(
        problems(with_changes(ALICLOUD, nodePools={"emqx": {"count": 0}})), "nodePools.emqx.count")


def test_existing_cluster_defaults_and_choices() -> None:
    s = ok(EXISTING)
    assert s.existing is not None and s.existing.listener_service_type == "NodePort"
    assert (s.existing.node_shape.vcpu, s.existing.node_shape.memory_gib) == (4, 8.0)
    for service_type in ("ClusterIP", "LoadBalancer"):
        chosen = ok(with_changes(EXISTING, existing={"listenerServiceType": service_type}))
        assert chosen.existing is not None and chosen.existing.listener_service_type == service_type


def test_auth_defaults_and_choices() -> None:
    a = ok(EXISTING).emqx.auth
    assert (a.user_id_type, a.no_match, a.deny_action, a.built_in_database) == ("username", "deny", "ignore", True)
    a = ok(auth(EXISTING, builtInDatabase={"userIdType": "clientid"}, jwt={"publicKey": PEM},
                x509={"usernameFrom": "dn"},
                authorization={"noMatch": "allow", "denyAction": "disconnect",
                               "rules": [{"permission": "deny", "topics": ["t"]},
                                         {"permission": "allow", "action": "subscribe", "topics": ["s"]}]})).emqx.auth
    assert a.user_id_type == "clientid" and (a.no_match, a.deny_action) == ("allow", "disconnect")
    assert a.jwt is not None and (a.jwt.public_key, a.jwt.token_from) == (PEM, "password")
    assert a.x509 is not None and (a.x509.ca_secret_name, a.x509.username_from) == (None, "dn")
    assert [(r.permission, r.action) for r in a.acl_rules] == [("deny", "all"), ("allow", "subscribe")]
    jwt = ok(auth(EXISTING, jwt={"jwksEndpoint": "https://idp.example.com/jwks", "from": "username"})).emqx.auth.jwt
    assert jwt is not None and (jwt.jwks_endpoint, jwt.token_from) == ("https://idp.example.com/jwks", "username")
    assert ok(auth(EXISTING, x509={})).emqx.auth.x509.username_from == "cn"  # type: ignore[union-attr]


def test_the_certificate_settings_are_kept() -> None:
    c = ok(with_changes(EXISTING, emqx__tls=OWN_ISSUER)).emqx.certificates
    assert (c.issuer_kind, c.issuer_name, c.dns_names) == ("ClusterIssuer", "letsencrypt", ("mqtt.example.com",))


def test_every_node_image_is_a_choice() -> None:
    for image in NODE_IMAGES:
        values = with_changes(EXISTING, cluster__nodeImage=image)
        assert ok(values).cluster.node_image == image


def test_rule_subjects_and_http_auth_are_kept() -> None:
    a = ok(auth(EXISTING, http={"url": "https://auth.example.com/check"},
                authorization={"rules": [{"permission": "allow", "topics": ["t"], "ipaddr": "10.0.0.0/8"},
                                         {"permission": "deny", "topics": ["t"], "clientid": "c1"}]})).emqx.auth
    assert a.http is not None and a.http.url == "https://auth.example.com/check"
    assert [(r.ipaddr, r.clientid, r.username) for r in a.acl_rules] == [("10.0.0.0/8", None, None), (None, "c1", None)]
    pools = ok(ALICLOUD)
    assert [p.name for p in (pools.system_pool, pools.emqx_pool, pools.loadgen_pool) if p] == ["system", "emqx",
                                                                                                "loadgen"]


def test_config_text_is_decoded_only_where_it_is_json_structure_or_a_scalar() -> None:
    decode = settings._decode  # pyright: ignore[reportPrivateUsage]
    assert (decode("true"), decode("null"), decode(" 42 "), decode("[1]")) == (True, None, 42, [1])
    assert decode('"quoted"') == '"quoted"' and decode("hello") == "hello" and decode("007") == "007"


def test_nesting_is_accepted_to_the_depth_limit() -> None:
    bounds = settings._bounds_problem  # pyright: ignore[reportPrivateUsage]
    value: object = "leaf"
    for _ in range(settings.MAX_DEPTH - 1):
        value = {"k": value}
    assert bounds(value, secret=False) is None
    assert bounds({"k": value}, secret=False) == f"is nested more than {settings.MAX_DEPTH} levels deep"
