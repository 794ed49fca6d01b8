"""loadTest: emqtt-bench runs and their verdicts, checked against the capacity the cluster is sized for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from components import loadtest
from components.config_reader import Section
from components.render import auth as auth_render
from components.settings.emqx import EmqxSettings
from components.settings.existing import ExistingClusterSettings


@dataclass(frozen=True)
class LoadTestRun:
    """loadTest.runs[]: one emqtt-bench run and the verdict on it (components/loadtest.py, workloads/loadtest.py)."""

    name: str
    connections: int  # clients held, publishers and subscribers included
    connect_rate: int
    publishers: int
    subscribers: int
    topic: str
    message_rate: int  # messages/s all publishers send together
    payload_bytes: int
    qos: int
    duration_seconds: int  # the measured window, after every client has connected
    target: Literal["loadBalancer", "inCluster"]
    username: str | None  # a user of mqttUsers, when the built-in database authenticates
    rate_tolerance: float
    max_dropped_ratio: float
    # Where the run is in the config (loadTest.runs[i]), for problems found once the tuning profile is known. Not
    # part of the run's content: moving a run in the list is not a new run (workloads/loadtest.py leaves it out).
    key: str = field(default="", compare=False)

    def plan(self, per_source_limit: int) -> loadtest.RunPlan:
        return loadtest.plan_run(connections=self.connections, publishers=self.publishers,
                                 subscribers=self.subscribers, connect_rate=self.connect_rate,
                                 message_rate=self.message_rate, per_source_limit=per_source_limit)


def parse_load_test(section: Section, emqx: EmqxSettings | None, existing: ExistingClusterSettings | None,
               mqtt_users: object) -> tuple[LoadTestRun, ...]:
    """loadTest.runs[]: each a one-shot emqtt-bench run (components/loadtest.py), refused when it asks more of the
    cluster than emqx.capacity was sized for, or more than the generators and the verifier can do.

    Whether a run's username is one of mqttUsers is checked where the secret is opened (workloads/loadtest.py): an
    offline preview sees a placeholder for the secret, never its users."""
    runs: list[LoadTestRun] = []
    names: set[str] = set()
    problems = section.problems
    for item in section.items("runs"):
        key = item.key
        reported = len(problems.items)
        # At most 40 characters: Job names lt-<name>-<digest>-verify must stay within 63 (the job-name label).
        name = item.string("name", None, required=True, pattern=r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?",
                           hint="a DNS label of at most 40 characters naming this run, e.g. one-million")
        connections = item.integer("connections", None, minimum=1, maximum=200_000_000, required=True,
                                   hint="the clients to hold, e.g. 1000000")
        connect_rate = item.integer("connectRate", 1000, minimum=1, maximum=1_000_000) or 1000
        publishers = item.integer("publishers", 0, minimum=0, maximum=200_000_000) or 0
        subscribers = item.integer("subscribers", 0, minimum=0, maximum=200_000_000) or 0
        # Printable ASCII without spaces; emqtt-bench fills in %i (the client's number), %c, %u, %rand_N.
        topic = item.string("topic", "bench/%i", pattern=r"[!-~]{1,200}",
                            hint="a topic of printable ASCII without spaces, e.g. bench/%i") or "bench/%i"
        message_rate = item.integer("messageRate", 0, minimum=0, maximum=100_000_000) or 0
        payload = item.integer("payloadBytes", 256, minimum=1, maximum=268_435_455) or 256
        qos = item.integer("qos", 1, minimum=0, maximum=2)
        duration = item.integer("durationSeconds", 300, minimum=60, maximum=86_400) or 300
        target = item.string("target", "loadBalancer", choices=("loadBalancer", "inCluster")) or "loadBalancer"
        username = item.string("username", None, pattern=auth_render.USER_NAME,
                               hint="a user listed in mqttUsers")
        tolerance = item.number("rateTolerance", 0.1, minimum=0.01, maximum=0.5,
                                hint="the share the measured message rate may differ by, e.g. 0.1")
        dropped = item.number("maxDroppedRatio", 0.001, minimum=0.0, maximum=0.1,
                              hint="dropped messages per received message allowed, e.g. 0.001")
        if name in names:
            problems.add(f"{key}.name", f"{name!r} is used by another run", "give each run its own name")
        if connections is not None and publishers + subscribers > connections:
            problems.add(f"{key}.connections", f"{connections:,} is fewer than its {publishers:,} publishers and "
                         f"{subscribers:,} subscribers", f"use at least {publishers + subscribers:,}")
        if publishers and not subscribers:
            # EMQX drops a message nobody subscribed to (messages.dropped.no_subscribers), and the verdict counts
            # dropped messages.
            problems.add(f"{key}.subscribers", "is 0, so every published message would be dropped",
                         "add subscribers whose topic matches the publishers' (the same pattern with %i)")
        if publishers > subscribers and "%i" in topic:
            # Publisher n publishes to the topic of subscriber n (both numbered from 1, components/loadtest.py): the
            # publishers above the subscribers' count publish to topics nobody subscribes to, and EMQX counts those
            # messages as dropped, which fails the verdict.
            problems.add(f"{key}.publishers", f"{publishers:,} publishers but {subscribers:,} subscribers on a %i "
                         "topic: the extra publishers' messages reach nobody and count as dropped",
                         f"use at most {subscribers:,} publishers, or at least {publishers:,} subscribers")
        if connections is not None and connect_rate > 1000 * connections:
            # emqtt-bench 0.6.2 asserts a connect interval of at least 1 ms per worker (start/2: Interval =
            # 1000 * NoWorkers div ConnRate, `true = (Interval >= 1)`, schemas/emqtt-bench/0.6.2/emqtt_bench.erl), so
            # a pod may open at most 1000 connections per second per client it holds (loadtest.connect_rate_fits).
            problems.add(f"{key}.connectRate", f"{connect_rate:,} connections/s for {connections:,} clients: "
                         "emqtt-bench refuses to open more than 1,000 per second per client it holds",
                         f"use at most {1000 * connections:,}")
        if bool(publishers) != bool(message_rate):
            problems.add(f"{key}.messageRate", f"{message_rate:,} messages/s with {publishers:,} publishers",
                         "set both publishers and messageRate, or neither")
        elif publishers:
            interval = loadtest.publish_interval_ms(publishers, message_rate)
            planned = publishers * 1000 / interval if interval else 0.0
            if interval < 1 or abs(planned - message_rate) > 0.01 * message_rate:
                # emqtt-bench paces each publisher in whole milliseconds (--interval_of_msg).
                problems.add(f"{key}.messageRate", f"{message_rate:,} messages/s from {publishers:,} publishers is "
                             "not a whole number of milliseconds between one publisher's messages",
                             f"use a rate where 1000 x publishers / rate is a whole number (at most "
                             f"{publishers * 1000:,}), e.g. {publishers * 1000 // max(1, interval):,}")
        if emqx is not None:
            capacity = emqx.capacity
            if connections is not None and connections > capacity.connections:
                problems.add(f"{key}.connections", f"{connections:,} is above emqx.capacity.connections "
                             f"({capacity.connections:,}), which the cluster is sized for",
                             f"set emqx.capacity.connections to at least {connections:,}, or test fewer")
            if message_rate > capacity.message_rate:
                problems.add(f"{key}.messageRate", f"{message_rate:,} messages/s is above emqx.capacity.messageRate "
                             f"({capacity.message_rate:,})", f"set emqx.capacity.messageRate to at least "
                             f"{message_rate:,}, or test less")
            if emqx.release.legacy:
                problems.add(key, f"EMQX {emqx.release.version} serves the v4 REST API, and the verifier reads "
                             "EMQX 5's /api/v5", "remove the run, or use EMQX 5")
            auth = emqx.auth
            if username is None and not auth.allow_anonymous and auth.built_in_database:
                problems.add(f"{key}.username", "is not set, and the broker admits only known users",
                             "name a user listed in mqttUsers")
            elif username is not None and not auth.built_in_database:
                problems.add(f"{key}.username", "is set, but the built-in database is off", "remove it")
            elif username is not None and mqtt_users is None:
                problems.add(f"{key}.username", "names a user, but mqttUsers is not set", "add the user to mqttUsers "
                             "(`pulumi config set --secret mqttUsers ...`)")
            if not auth.allow_anonymous and not auth.built_in_database:
                problems.add(key, "the generators log in with a user of the built-in database, which is off",
                             "turn emqx.auth.builtInDatabase on for the test, or run it with allowAnonymous on a "
                             "stack that is not production")
        if target == "loadBalancer" and existing is not None:
            # The program knows the address only of a load balancer it made (components/alicloud/loadbalancer.py).
            problems.add(f"{key}.target", "is loadBalancer, but on an existing cluster the program does not know "
                         "the address clients dial", "use target: inCluster")
        if name is not None:
            names.add(name)
        if name is None or connections is None or qos is None or len(problems.items) > reported:
            # A run with a problem is not planned: its numbers may contradict each other.
            continue
        runs.append(LoadTestRun(name=name, connections=connections, connect_rate=connect_rate, publishers=publishers,
                                subscribers=subscribers, topic=topic, message_rate=message_rate,
                                payload_bytes=payload, qos=qos, duration_seconds=duration,
                                target=target,  # type: ignore[arg-type]
                                username=username, rate_tolerance=tolerance, max_dropped_ratio=dropped, key=key))
    return tuple(runs)
