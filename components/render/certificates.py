"""cert-manager objects for the MQTT TLS listeners (8883, 8084): a self-signed CA per stack by default, or the
user's own issuer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

API = "cert-manager.io/v1"


def listener_tls(*, emqx_name: str, namespace: str, secret_name: str, issuer_kind: str | None,
                 issuer_name: str | None, dns_names: Sequence[str], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Objects in apply order. Our own CA's certificate also names the in-cluster Service; a user's issuer (often a
    public CA, which refuses internal names and private addresses) gets exactly the names the user listed."""

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": dict(labels)}

    own_ca = issuer_kind is None or issuer_name is None
    objects: list[dict[str, Any]] = []
    if own_ca:
        bootstrap, ca_name = f"{emqx_name}-selfsigned", f"{emqx_name}-ca"
        objects += [
            {"apiVersion": API, "kind": "Issuer", "metadata": meta(bootstrap), "spec": {"selfSigned": {}}},
            {
                "apiVersion": API,
                "kind": "Certificate",
                "metadata": meta(ca_name),
                "spec": {
                    "isCA": True,
                    "commonName": f"{emqx_name} MQTT CA",
                    "secretName": ca_name,
                    "duration": "87600h",
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                    "issuerRef": {"name": bootstrap, "kind": "Issuer", "group": "cert-manager.io"},
                },
            },
            {"apiVersion": API, "kind": "Issuer", "metadata": meta(ca_name), "spec": {"ca": {"secretName": ca_name}}},
        ]
        issuer_kind, issuer_name = "Issuer", ca_name
    service_names = [
        f"{emqx_name}-listeners.{namespace}.svc",
        f"{emqx_name}-listeners.{namespace}.svc.cluster.local",
    ] if own_ca else []
    objects.append(
        {
            "apiVersion": API,
            "kind": "Certificate",
            "metadata": meta(secret_name),
            "spec": {
                "secretName": secret_name,
                "commonName": (list(dns_names) or service_names)[0],
                "dnsNames": [*dns_names, *service_names],
                "duration": "2160h",
                "renewBefore": "360h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "usages": ["server auth", "digital signature", "key encipherment"],
                "issuerRef": {"name": issuer_name, "kind": issuer_kind, "group": "cert-manager.io"},
            },
        }
    )
    return objects
