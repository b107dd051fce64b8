#!/usr/bin/env python3
"""Worst-case memory of each gateway-server role, from its Kubernetes
manifest, against the container's memory limit (README, "Capacity").

For every container that runs the gateway-server image it resolves the
settings the process will see (Settings.toml, then the ConfigMap and
Secret it takes with envFrom, then its own env), the thread counts (a
count of 0 means one per core, which is the CPU limit rounded up: without
a CPU limit it is every core of the node, and the check fails), and then:

  serve:         base + workers x per_worker
                 + hash_threads x max(19 MiB, security.max_hash_memory_kib)
                 + connections x (per_connection + head_buffer + http.max_body_bytes)
  verification:  base + mail.pool_size x per_smtp_session
  balance:       base
  migrate:       base

with the constants below, measured on a release build (bench/memory.sh).
Usage: scripts/deploy-memory.py [MANIFEST_DIR]   (default deploy/kubernetes)

Fails (exit 1) when a role's worst case exceeds its limit, or when a limit
or a bound the formula needs is missing. Prints the table either way.
"""
import base64
import math
import sys
import tomllib
from pathlib import Path

import yaml

MIB = 1024 * 1024
# Measured with bench/memory.sh on 2026-11-27 (README, "Capacity"), rounded
# up: serve 34 MiB started (1, 2 or 4 workers alike), verification 9,
# balance 10; an idle keep-alive connection 8 KiB; a hashing thread its
# argon2 memory (19 MiB for ours, up to security.max_hash_memory_kib for a
# stored hash that asks for more).
BASE_MIB = {"serve": 40, "verification": 12, "balance": 12, "migrate": 12}
PER_WORKER_MIB = 1
PER_CONNECTION_KIB = 8
# What actix-http may buffer of a request head still arriving
# (h1 MAX_BUFFER_SIZE), per connection, on top of the body.
HEAD_BUFFER_KIB = 128
PER_SMTP_SESSION_KIB = 256
OWN_HASH_KIB = 19 * 1024
ACTIX_CONNECTIONS_PER_WORKER = 25_000

root = Path(__file__).resolve().parent.parent
defaults = tomllib.loads((root / "Settings.toml").read_text())


def quantity(text, unit):
    """Kubernetes quantities: memory in bytes, CPU in cores."""
    text = str(text)
    suffixes = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB, "K": 1000, "M": 10**6, "G": 10**9}
    if unit == "cpu":
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def documents():
    manifests = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "deploy" / "kubernetes"
    for path in sorted(manifests.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path.name, document


class Unknown(Exception):
    pass


def setting(env, section, key):
    variable = f"GATEWAY_{section.upper()}__{key.upper()}"
    if variable in env:
        if env[variable] is None:
            raise Unknown(f"{variable} comes from valueFrom; this check cannot see it")
        return env[variable]
    return defaults.get(section, {}).get(key)


def values(document):
    """A ConfigMap's or Secret's keys and values (Secret `data` decoded)."""
    data = dict(document.get("data") or {})
    if document["kind"] == "Secret":
        data = {key: base64.b64decode(value).decode() for key, value in data.items()}
    return {**data, **(document.get("stringData") or {})}


def container_env(container, sources):
    """What the process sees: envFrom sources in order (with their prefix),
    then the container's own env; a valueFrom value is unknown (None)."""
    env = {}
    for source in container.get("envFrom", []):
        for kind, reference in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if reference in source:
                prefix = source.get("prefix", "")
                found = sources.get((kind, source[reference]["name"]), {})
                env.update({prefix + key: value for key, value in found.items()})
    for item in container.get("env", []):
        env[item["name"]] = str(item["value"]) if "value" in item else None
    return env


def size(role, env, cores, name, failures):
    """(worst case in bytes, what it is made of), or None after a failure."""

    def threads(section, key):
        count = int(setting(env, section, key))
        if count == 0 and cores is None:
            failures.append(
                f"{name}: {section}.{key} = 0 (one per core) and no CPU limit: "
                "as many as the node has cores; set it, or a CPU limit"
            )
            return None
        return count or cores

    base = BASE_MIB.get(role, BASE_MIB["serve"])
    worst = base * MIB
    detail = [f"base {base} MiB"]
    if role == "serve":
        workers = threads("http", "workers")
        hashers = threads("security", "hash_threads")
        if workers is None or hashers is None:
            return None
        hash_kib = max(OWN_HASH_KIB, int(setting(env, "security", "max_hash_memory_kib")))
        maximum = int(setting(env, "http", "max_connections"))
        # Each worker takes its share, rounded up.
        per_worker = math.ceil(maximum / workers) if maximum else ACTIX_CONNECTIONS_PER_WORKER
        connections = workers * per_worker
        body = int(setting(env, "http", "max_body_bytes"))
        per_connection = (PER_CONNECTION_KIB + HEAD_BUFFER_KIB) * 1024 + body
        worst += workers * PER_WORKER_MIB * MIB
        worst += hashers * hash_kib * 1024
        worst += connections * per_connection
        detail += [
            f"{workers} workers x {PER_WORKER_MIB} MiB",
            f"{hashers} hash threads x {hash_kib // 1024} MiB",
            f"{connections} connections x ({PER_CONNECTION_KIB} KiB + {HEAD_BUFFER_KIB} KiB head"
            f" + {body // 1024} KiB body)",
        ]
    elif role == "verification":
        sessions = int(setting(env, "mail", "pool_size"))
        worst += sessions * PER_SMTP_SESSION_KIB * 1024
        detail.append(f"{sessions} SMTP sessions x {PER_SMTP_SESSION_KIB} KiB")
    return worst, detail


def main():
    all_documents = list(documents())
    sources = {
        (document["kind"], document["metadata"]["name"]): values(document)
        for _, document in all_documents
        if document["kind"] in ("ConfigMap", "Secret")
    }
    failures = []
    rows = []
    for file, document in all_documents:
        spec = document.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            if "gateway-server" not in container.get("image", ""):
                continue
            role = (container.get("args") or ["serve"])[0]
            name = f"{file}:{container['name']} ({role})"
            limits = container.get("resources", {}).get("limits", {})
            if "memory" not in limits:
                failures.append(f"{name}: no memory limit")
                continue
            limit = quantity(limits["memory"], "memory")
            cores = math.ceil(quantity(limits["cpu"], "cpu")) if "cpu" in limits else None
            try:
                row = size(role, container_env(container, sources), cores, name, failures)
            except Unknown as unknown:
                failures.append(f"{name}: {unknown}")
                continue
            if row is None:
                continue
            worst, detail = row
            rows.append((name, worst / MIB, limit / MIB, "ok" if worst <= limit else "OVER", " + ".join(detail)))
            if worst > limit:
                failures.append(f"{name}: worst case {worst / MIB:.0f} MiB over its {limit / MIB:.0f} MiB limit")
    print(f"{'container (role)':44} {'worst MiB':>9} {'limit MiB':>9}  verdict  from")
    for name, worst, limit, verdict, detail in rows:
        print(f"{name:44} {worst:9.0f} {limit:9.0f}  {verdict:7}  {detail}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
