"""Stream keys, group names and key prefixes: named once, used everywhere."""
from __future__ import annotations

import functools
import zlib

from redis.crc import REDIS_CLUSTER_HASH_SLOTS as CLUSTER_SLOTS
from redis.crc import key_slot

PROCESSOR_GROUP = "processor"
ALERTS_GROUP = "general"
PUSH_GROUP = "api"
ANALYTICS_GROUP = "analytics"  # processor: candles, large trades, spikes (beside storage, never slowing it)
ACCOUNTS_GROUP = "accounts"  # processor: the user's accounts (th:account), stored and reconciled
TRADERS_GROUP = "traders"  # processor: trader discovery (th:trades) and position changes (th:positions)
DLQ_SUFFIX = ":dlq"
TRIMMED_SUFFIX = ":trimmed"
LOST_SUFFIX = ":lost"
ENTRY_VERSION = b"1"
FIELD_VERSION = b"v"
FIELD_EVENTS = b"e"  # msgpack array of events
SERVICES = ("receivers", "processor", "general", "api")
ALL_FAMILIES = (
    "trades", "candles", "funding", "prices", "oi", "liquidations", "large_trades",
    "account", "positions", "alerts", "gaps", "status",
)


def stream_key(prefix: str, family: str, partition: int | None = None, partitions: int = 1) -> str:
    """th:{<family>}, or th:{<family>:<n>} when the family is partitioned in `partitions` streams.

    The braces are a Redis Cluster hash tag: every key made from the stream (its DLQ, its trimmed
    counter) hashes to the stream's slot, so no command crosses slots. A partition's tag may carry
    a suffix (th:{candles:1.1}) that aims each partition of a family at its own N-th of the slot
    space: with N partitions on a cluster of N masters, one partition per master (docs/scaling.md)."""
    if partition is None:
        return f"{prefix}:{{{family}}}"
    if not 0 <= partition < partitions:
        raise ValueError(f"partition {partition} of {partitions}")
    return f"{prefix}:{{{partition_tags(family, partitions)[partition]}}}"


@functools.cache
def partition_tags(family: str, partitions: int) -> tuple[str, ...]:
    """`<family>:<n>`, or `<family>:<n>.<k>` with the smallest k that puts partition n in an N-th of
    the 16384 slots no earlier partition of the family holds: the same answer in every process."""
    taken: set[int] = set()
    tags = []
    for n in range(partitions):
        tag, k = f"{family}:{n}", 0
        while (section := key_slot(tag.encode()) * partitions // CLUSTER_SLOTS) in taken:
            k += 1
            tag = f"{family}:{n}.{k}"
        taken.add(section)
        tags.append(tag)
    return tuple(tags)


def family_of(stream: str) -> str:
    """The family of a stream key: th:{trades:2} -> trades."""
    start, end = stream.find("{"), stream.find("}")
    if start < 0 or end < start:
        raise ValueError(f"not a stream key: {stream!r}")
    return stream[start + 1 : end].split(":")[0]


def plain_name(stream: str) -> str:
    """A stream key as the docs and people name it: th:{trades:2.1} -> th:trades:2."""
    head, _, rest = stream.partition("{")
    tag, _, tail = rest.partition("}")
    family, _, partition = tag.partition(":")
    named = f"{head}{family}:{partition.split('.')[0]}" if partition else f"{head}{family}"
    return named + tail


def stream_named(prefix: str, text: str, partitions: int) -> str:
    """The stream key a person means: th:{trades:1} as it is, or th:trades:1, trades:1, th:trades,
    trades (the names of the docs, without the hash tag)."""
    if "{" in text:
        return text
    name = text.removeprefix(prefix + ":")
    family, _, partition = name.partition(":")
    if not partition:
        return stream_key(prefix, family)
    if not partition.isdigit():
        raise ValueError(f"not a stream: {text!r} (e.g. {prefix}:trades or {prefix}:trades:0)")
    return stream_key(prefix, family, int(partition), partitions)


def family_streams(prefix: str, family: str, partitions: int) -> list[str]:
    """Every stream key of a family."""
    if partitions == 1:
        return [stream_key(prefix, family)]
    return [stream_key(prefix, family, n, partitions) for n in range(partitions)]


def partition_stream(prefix: str, family: str, partitions: int, partition: int) -> str:
    """The stream of partition `partition` of a family (its only stream when it is not partitioned)."""
    return family_streams(prefix, family, partitions)[partition]


def partition_of(exchange: str, symbol: str, partitions: int) -> int | None:
    """Stable partition by exchange+symbol (crc32, the same in every process)."""
    if partitions == 1:
        return None
    return zlib.crc32(f"{exchange}|{symbol}".encode()) % partitions


def dlq_key(stream: str) -> str:
    return stream + DLQ_SUFFIX


def trimmed_key(stream: str) -> str:
    """A hash group -> entries trimmed from `stream` before that group read them (a running total)."""
    return stream + TRIMMED_SUFFIX


def lost_key(stream: str) -> str:
    """A hash producer -> entries Redis acknowledged that later vanished from `stream` (a failover
    to a replica the writes had not reached): a running total, in the stream's slot."""
    return stream + LOST_SUFFIX


def heartbeat_key(prefix: str, service: str, instance: str) -> str:
    return f"{prefix}:hb:{service}:{instance}"


def heartbeat_pattern(prefix: str) -> str:
    return f"{prefix}:hb:*"


def partition_lease_key(prefix: str, partition: int) -> str:
    """The lease of partition n (stream n of every family): the owner's instance name, with a TTL."""
    return f"{prefix}:owners:lease:{partition}"


def processor_members_key(prefix: str) -> str:
    """A sorted set instance -> when its membership lapses (ms): the processors sharing the partitions."""
    return f"{prefix}:owners:members"


def poll_status_key(prefix: str, function: str, venue: str) -> str:
    """A REST poller's last outcome for one venue: a hash read by /ready."""
    return f"{prefix}:poll:{function}:{venue}"


def poll_status_pattern(prefix: str) -> str:
    return f"{prefix}:poll:*"


def alert_sent_key(prefix: str, chat: str, alert_key: str) -> str:
    """What the general service last sent one chat for an alert key (deduplication, with a TTL)."""
    return f"{prefix}:alerts:sent:{chat}:{alert_key}"


def backup_status_key(prefix: str) -> str:
    """The general service's last backup outcome: a hash read by /status and the backup watcher."""
    return f"{prefix}:general:backup"


def feed_status_key(prefix: str, feed: str) -> str:
    """A websocket feed's state (connected, last data, reconnects): JSON written by the receivers."""
    return f"{prefix}:feed:{feed}"


def feed_status_pattern(prefix: str) -> str:
    return f"{prefix}:feed:*"


def traders_rotation_key(prefix: str) -> str:
    """A sorted set address -> time last tracked (ms; 0 = never): the tracker's fair rotation.
    The processor adds each address it discovers (NX, 0); the tracker rescores what it polled."""
    return f"{prefix}:traders:rotation"


def traders_watch_key(prefix: str) -> str:
    """A set of watched addresses: tracked every cycle, ahead of the rotation."""
    return f"{prefix}:traders:watch"


def portfolio_status_key(prefix: str) -> str:
    """A hash: account id -> its last portfolio sync's outcome (json), written by the general
    service (services/general/portfolio.py), read by /ready."""
    return f"{prefix}:general:portfolio"


def tracker_status_key(prefix: str) -> str:
    """A hash: the tracker's figures (weight used per minute, traders tracked per minute, largest
    staleness), read by /ready."""
    return f"{prefix}:traders:tracker"


def trader_cursors_key(prefix: str) -> str:
    """A hash address -> the tracker's cursor of that trader (JSON: newest fill read, fills coverage,
    when fills and equity were last read), so a restarted tracker resumes where it was."""
    return f"{prefix}:traders:cursors"


def account_cursors_key(prefix: str) -> str:
    """A hash "<exchange>:<account>" -> the newest stored fill's time (µs), written by the processor:
    the receivers' reconciliation asks the venue for fills from there."""
    return f"{prefix}:account:cursors"
