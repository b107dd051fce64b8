#!/usr/bin/env python3
"""Copies of deploy/kubernetes/ that `podman kube play` (podman 4.3) can run
on one machine, for scripts/engine-check.sh. Only what one machine and
podman need is changed; every change is printed:

* the ConfigMap: the Services' names become the pods' names (podman has no
  Services; a pod answers to its own name on the network), one Redis
  instead of the Redis Cluster (GATEWAY_REDIS__CLUSTER_NODES empty), the
  `log` mail transport (no SMTP server here);
* the Secret: random values; written as podman 4.3 reads a secret for
  `envFrom: secretRef` (JSON, base64 values: it cannot read back the
  Secret kind it stores itself), plus a second one for the stand-in
  MySQL's root password;
* the Deployments: one replica each (podman runs every replica as a pod on
  this one machine, and publishes each declared container port on the
  host: a second replica's ports would collide), and each container port
  published on 127.0.0.1 at a free port given here (hostIP/hostPort);
* the gateway-migrate Job: its pod template as a Pod (podman runs no Jobs).

    kube.py OUTDIR gateway=PORT verification=PORT balance=PORT metrics=PORT
"""
import base64
import json
import secrets
import sys
from pathlib import Path

import yaml

SOURCE = Path("deploy/kubernetes")


def load(name):
    return [d for d in yaml.safe_load_all((SOURCE / name).read_text()) if d]


def dump(path, documents):
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def main():
    out = Path(sys.argv[1])
    ports = dict(arg.split("=") for arg in sys.argv[2:])
    out.mkdir(parents=True, exist_ok=True)
    changes = []

    # ConfigMap and Secret.
    for document in load("config.yaml"):
        if document["kind"] == "ConfigMap":
            data = document["data"]
            for key, value in {
                "GATEWAY_VERIFICATION__HOST": "gateway-verification-pod-0",
                "GATEWAY_BALANCE__HOST": "gateway-balance-pod-0",
                "GATEWAY_REDIS__CLUSTER_NODES": "",
                "GATEWAY_MAIL__TRANSPORT": "log",
            }.items():
                changes.append(f"ConfigMap {key}: {data.get(key)!r} -> {value!r}")
                data[key] = value
            dump(out / "configmap.yaml", [document])
        elif document["kind"] == "Secret":
            values = {key: secrets.token_hex(16) for key in document["stringData"]}
            changes.append(f"Secret {document['metadata']['name']}: random values for {', '.join(values)}")
            (out / "secret.json").write_text(json.dumps(
                {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}))
    root = secrets.token_hex(16)
    (out / "backends-secret.json").write_text(json.dumps(
        {"MYSQL_ROOT_PASSWORD": base64.b64encode(root.encode()).decode()}))

    # The Deployments (Services, autoscalers and disruption budgets are left
    # in: podman passes over kinds it does not run).
    for name in ("verification.yaml", "balance.yaml", "gateway.yaml"):
        documents = load(name)
        for document in documents:
            if document["kind"] != "Deployment":
                continue
            deployment = document["metadata"]["name"]
            changes.append(f"Deployment {deployment}: replicas {document['spec']['replicas']} -> 1")
            document["spec"]["replicas"] = 1
            for container in document["spec"]["template"]["spec"]["containers"]:
                for port in container.get("ports", []):
                    key = {"http": "gateway", "grpc": name.split(".")[0]}.get(port["name"], port["name"])
                    port["hostIP"] = "127.0.0.1"
                    port["hostPort"] = int(ports[key])
                    changes.append(f"Deployment {deployment}: port {port['name']} "
                                   f"{port['containerPort']} published on 127.0.0.1:{port['hostPort']}")
        dump(out / name, documents)

    # The migration Job's pod.
    job = load("migrate.yaml")[0]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": job["metadata"]["name"], "labels": job["spec"]["template"]["metadata"]["labels"]},
        "spec": job["spec"]["template"]["spec"],
    }
    changes.append(f"Job {job['metadata']['name']}: its pod template run as a Pod")
    dump(out / "migrate.yaml", [pod])

    for change in changes:
        print(f"   {change}")


if __name__ == "__main__":
    main()
