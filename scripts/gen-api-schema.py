#!/usr/bin/env python3
"""Writes Sources/APIServer/APISchemaData.swift: the field schema of the kinds swiftlet master serves.

The facts (field names as they appear in JSON, their types, which are required) come from the official
Kubernetes Python client's generated models (`pip install kubernetes`), which describe the API of the
Kubernetes release they were generated from. Only names and types are taken: no descriptions.

    /opt/swiftlet-py/bin/python3 scripts/gen-api-schema.py > Sources/APIServer/APISchemaData.swift

Type grammar of the output: string | integer | boolean | number | date-time | byte | any | #<definition>,
prefixed by [] (array of) or {} (map of string to).
"""
import json
import re
import sys

import kubernetes
import kubernetes.client.models as models

# (apiVersion, kind) served by swiftlet master, including subresource and option kinds.
ROOTS = [
    ("v1", "Pod"), ("v1", "Namespace"), ("v1", "Node"), ("v1", "Service"), ("v1", "Endpoints"),
    ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "ServiceAccount"), ("v1", "Event"),
    ("v1", "ReplicationController"), ("v1", "LimitRange"), ("v1", "ResourceQuota"), ("v1", "PodTemplate"),
    ("v1", "Binding"),
    ("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"), ("apps/v1", "DaemonSet"), ("apps/v1", "StatefulSet"),
    ("apps/v1", "ControllerRevision"),
    ("batch/v1", "Job"), ("batch/v1", "CronJob"),
    ("coordination.k8s.io/v1", "Lease"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("events.k8s.io/v1", "Event"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"), ("autoscaling/v1", "Scale"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "Eviction"),
    ("authentication.k8s.io/v1", "TokenRequest"), ("authentication.k8s.io/v1", "TokenReview"),
    ("authentication.k8s.io/v1", "SelfSubjectReview"),
    ("authorization.k8s.io/v1", "SubjectAccessReview"), ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"), ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("v1", "DeleteOptions"),
]

META = {"ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
        "ManagedFieldsEntry", "Condition", "DeleteOptions", "Preconditions", "Status", "StatusDetails",
        "StatusCause", "WatchEvent"}

PREFIX = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z].*)$")


def package(api_version):
    group, _, version = api_version.rpartition("/")
    return (group.split(".")[0] if group else "core"), version


def python_class(api_version, kind):
    group, version = package(api_version)
    for name in (version.capitalize() + kind, group.capitalize() + version.capitalize() + kind):
        if hasattr(models, name):
            return name
    sys.exit(f"no model for {api_version} {kind}")


definitions = {}
owner = {}          # python class -> definition name
roots = {}
queue = []


def definition_name(cls, parent_pkg):
    m = PREFIX.match(cls)
    if not m:
        sys.exit(f"unexpected class name {cls}")
    group, version, kind = m.group(1), m.group(2).lower(), m.group(3)
    if kind in META and not group and version == "v1":
        return f"io.k8s.apimachinery.pkg.apis.meta.v1.{kind}"
    pkg = group.lower() if group else parent_pkg[0]
    return f"io.k8s.api.{pkg}.{version}.{kind}"


def visit(cls, parent_pkg):
    if cls in owner:
        return owner[cls]
    name = definition_name(cls, parent_pkg)
    if name in definitions.values() or any(v == name for v in owner.values()):
        sys.exit(f"two models map to {name}")
    owner[cls] = name
    queue.append((cls, name))
    return name


def field_type(t, pkg):
    if t.startswith("List["):
        return "[]" + field_type(t[5:-1], pkg)
    if t.startswith("Dict[str, "):
        return "{}" + field_type(t[10:-1], pkg)
    simple = {"str": "string", "int": "integer", "bool": "boolean", "float": "number", "datetime": "date-time",
              "date": "date-time", "bytearray": "byte", "bytes": "byte", "object": "any"}
    if t in simple:
        return simple[t]
    if not hasattr(models, t):
        sys.exit(f"unknown type {t}")
    return "#" + visit(t, pkg)


def main():
    out = {}
    for api_version, kind in ROOTS:
        cls = python_class(api_version, kind)
        pkg = package(api_version)
        name = visit(cls, pkg)
        roots[f"{api_version}/{kind}"] = name
        while queue:
            c, n = queue.pop(0)
            model = getattr(models, c)
            npkg = tuple(n.split(".")[3:5]) if n.startswith("io.k8s.api.") else pkg
            props = {}
            required = []
            fields = {f.serialization_alias or k: f for k, f in model.model_fields.items()}
            for attr, jname in model.attribute_map.items():
                props[jname] = field_type(model.openapi_types[attr], npkg)
                if fields[jname].is_required():
                    required.append(jname)
            out[n] = {"p": props, "r": required} if required else {"p": props}
    data = {"source": f"kubernetes Python client {kubernetes.__version__}", "roots": roots,
            "definitions": dict(sorted(out.items()))}
    text = json.dumps(data, separators=(",", ":"), sort_keys=False)
    print("// Generated by scripts/gen-api-schema.py from the official Kubernetes Python client's models")
    print("// (field names, types, required fields; no descriptions). Do not edit by hand.")
    print()
    print("enum APISchemaData {")
    print("    static let json = #\"\"\"")
    # one definition per line keeps diffs readable
    print(text.replace(',"io.k8s.', ',\n"io.k8s.'))
    print("\"\"\"#")
    print("}")


main()
