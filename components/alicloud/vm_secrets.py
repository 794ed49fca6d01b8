"""The secrets of a VM-mode EMQX cluster, kept out of user data: the node cookie (generated), the dashboard password
(generated), the licence, the listener TLS key pair and the MQTT users file, as KMS-encrypted OOS encryption
parameters that each node reads at boot with an instance RAM role allowed to read exactly those parameters.

Why not in user data: it is readable through the ECS API (DescribeUserData) by anyone with ECS read access and from
inside the instance through the metadata service (VM.md §3; Alibaba doc-detail/150575).

Why OOS parameters read by an instance RAM role rather than Cloud Assistant pushing them: a node must come up on its
own at first boot, after a reboot, and when it is replaced, without a deployer in the loop; Cloud Assistant only
runs when someone invokes a command (ecs.Invocation). Cloud Assistant can also resolve `{{oos-secret:name}}` in a
command (ECS 'Use custom parameters in Cloud Assistant commands'), but that needs the same parameters and puts the
decrypted value into a script on the node, so the day-two commands (vm_rollout) read the parameters the way the
boot does, with the same role.

Permissions: GetSecretParameter is authorised on `acs:oos:{region}:{account}:secretparameter/{name}`, and the caller
also needs KMS GetSecretValue (OOS API GetSecretParameter, 'RAM authorization'; OOS 'Control access to different
encryption parameters from a RAM user' (doc-detail/200116) grants oos:GetSecretParameter and kms:GetSecretValue in
one statement scoped to the parameters). The role's policy names each parameter's ARN, no wildcard, so a node can
read this cluster's parameters and nothing else. The role trusts ecs.aliyuncs.com only (an instance RAM role).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud
import pulumi_random as random

from components.alicloud.vm_spec import SecretNames

# An Erlang cookie is an atom: letters and digits avoid quoting anywhere it is written (vm.args, emqx.conf, env).
COOKIE_LENGTH = 32
TRUST_POLICY = json.dumps({
    "Version": "1",
    "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}],
}, sort_keys=True)


# OOS encryption parameter values: 1 to 4096 characters (pulumi-alicloud oos.SecretParameter `value`).
MAX_VALUE = 4096


def _fits(what: str, value: str) -> str:
    # Says which parameter and how long, never the value: a PEM chain or users file past the limit.
    if not 1 <= len(value) <= MAX_VALUE:
        raise ValueError(f"the {what.replace('-', ' ')} is {len(value)} characters; an OOS encryption parameter "
                         f"holds 1 to {MAX_VALUE}")
    return value


def parameter_arn(region: str, account_id: str, name: str) -> str:
    """An OOS encryption parameter's ARN, as GetSecretParameter authorises it (OOS API reference)."""
    return f"acs:oos:{region}:{account_id}:secretparameter/{name}"


def read_policy(arns: Sequence[str]) -> str:
    """The instance role's only permission: read (and decrypt) exactly these parameters."""
    if not arns:
        raise ValueError("the policy needs at least one parameter ARN")
    return json.dumps({
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": ["oos:GetSecretParameter"], "Resource": sorted(arns)},
            # OOS checks the caller's right to KMS GetSecretValue for an encryption parameter (doc-detail/200116),
            # scoped to the same parameters as in Alibaba's example.
            {"Effect": "Allow", "Action": ["kms:GetSecretValue"], "Resource": sorted(arns)},
        ],
    }, sort_keys=True)


class VmSecrets(pulumi.ComponentResource):
    cookie: pulumi.Output[str]
    dashboard_password: pulumi.Output[str]
    parameter_names: list[str]
    parameter_arns: pulumi.Output[list[str]]
    role_name: pulumi.Output[str]
    policy_document: pulumi.Output[str]
    # What must exist before a node boots: the parameters and the role with its policy attached.
    ready: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        *,
        names: SecretNames,
        region: str,
        account_id: pulumi.Input[str],
        role_name: str,
        license_key: pulumi.Input[str] | None,
        kms_key_id: str | None,
        tags: Mapping[str, str],
        protect: bool,
        tls_certificate: pulumi.Input[str] | None = None,
        tls_private_key: pulumi.Input[str] | None = None,
        mqtt_users_file: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("emqx-platform:alicloud:VmSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A new cookie splits the cluster until every node has it: kept with the stack, never regenerated.
        kept = pulumi.ResourceOptions(parent=self, protect=protect)
        tagged = {**tags, "component": "vm-secrets"}
        if (names.license is None) != (license_key is None):
            raise ValueError("a licence parameter name and a licence key go together")
        if ((names.tls_cert is None) != (tls_certificate is None)
                or (names.tls_key is None) != (tls_private_key is None)):
            raise ValueError("the TLS parameter names and the certificate and key go together")
        if (names.mqtt_users is None) != (mqtt_users_file is None):
            raise ValueError("an MQTT users parameter name and the users file go together")

        cookie = random.RandomPassword(f"{name}-cookie", length=COOKIE_LENGTH, special=False, opts=kept)
        # EMQX applies the default dashboard password only when its database is first created (emqx_cluster.py).
        password = random.RandomPassword(f"{name}-dashboard-password", length=24, special=False, opts=kept)
        self.cookie = pulumi.Output.secret(cookie.result)
        self.dashboard_password = pulumi.Output.secret(password.result)

        values: list[tuple[str, str, pulumi.Input[str]]] = [
            ("cookie", names.cookie, self.cookie),
            ("dashboard-password", names.dashboard_password, self.dashboard_password),
        ]
        if names.license is not None and license_key is not None:
            values.append(("license", names.license, pulumi.Output.secret(license_key)))
        if names.tls_cert is not None and tls_certificate is not None:
            values.append(("tls-cert", names.tls_cert, pulumi.Output.secret(tls_certificate)))
        if names.tls_key is not None and tls_private_key is not None:
            values.append(("tls-key", names.tls_key, pulumi.Output.secret(tls_private_key)))
        if names.mqtt_users is not None and mqtt_users_file is not None:
            values.append(("mqtt-users", names.mqtt_users, pulumi.Output.secret(mqtt_users_file)))
        self.ready = []
        for label, parameter_name, value in values:
            self.ready.append(alicloud.oos.SecretParameter(
                f"{name}-{label}",
                secret_parameter_name=parameter_name,
                type="Secret",
                value=pulumi.Output.secret(pulumi.Output.from_input(value).apply(
                    lambda v, what=label: _fits(what, v))),
                # None: OOS encrypts with its default KMS service key.
                key_id=kms_key_id,
                description=f"EMQX {label.replace('-', ' ')}",
                tags=tagged,
                opts=kept,
            ))
        self.parameter_names = [n for _, n, _ in values]
        self.parameter_arns = pulumi.Output.from_input(account_id).apply(
            lambda account: [parameter_arn(region, account, n) for n in self.parameter_names])
        self.policy_document = self.parameter_arns.apply(read_policy)

        role = alicloud.ram.Role(f"{name}-role", role_name=role_name, assume_role_policy_document=TRUST_POLICY,
                                 description="EMQX VM nodes: read this cluster's OOS encryption parameters",
                                 tags=tagged, opts=child)
        policy = alicloud.ram.Policy(f"{name}-read", policy_name=f"{role_name}-read-secrets",
                                     policy_document=self.policy_document,
                                     description="Read exactly the EMQX cluster's OOS encryption parameters",
                                     tags=tagged, opts=child)
        attachment = alicloud.ram.RolePolicyAttachment(f"{name}-read", role_name=role.role_name,
                                                       policy_name=policy.policy_name, policy_type="Custom",
                                                       opts=child)
        self.role_name = role.role_name
        self.ready += [role, attachment]
        self.register_outputs({"role_name": self.role_name, "parameter_arns": self.parameter_arns})
