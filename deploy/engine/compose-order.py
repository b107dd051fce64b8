#!/usr/bin/env python3
"""The services of a compose file in the order their depends_on asks, one
line each: `service dependency:condition ...` (condition service_started,
service_healthy or service_completed_successfully), and `+healthcheck`
when the service has a health check of its own. scripts/engine-check.sh
starts them one by one and waits for each condition itself: podman-compose
on podman 4.3 cannot (see there).

    compose-order.py compose.yaml
"""
import sys

import yaml

services = yaml.safe_load(open(sys.argv[1]))["services"]


def dependencies(service):
    depends = services[service].get("depends_on") or {}
    if isinstance(depends, list):
        depends = {name: {} for name in depends}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


done, order = set(), []


def visit(service, path=()):
    if service in done:
        return
    if service in path:
        sys.exit(f"depends_on cycle: {' -> '.join(path + (service,))}")
    for dependency in dependencies(service):
        visit(dependency, path + (service,))
    done.add(service)
    order.append(service)


for name in services:
    visit(name)
for name in order:
    words = [name] + [f"{d}:{c}" for d, c in dependencies(name).items()]
    test = (services[name].get("healthcheck") or {}).get("test")
    if test and test != ["NONE"] and not (services[name]["healthcheck"].get("disable")):
        words.append("+healthcheck")
    print(" ".join(words))
