#!/usr/bin/env python3
"""Cross-checks of the rendered Kubernetes manifests that no schema can see (run by
tools/check_deploy):

- the workers' --kvstore (worker.flags) lists exactly the shards of the kvstore
  StatefulSet, mxgrid-kvstore-0 .. mxgrid-kvstore-<replicas-1>, in order;
- the training Job's ranks: completions == parallelism == MXGRID_NUM_WORKERS, and no more
  than the workers' replicas;
- every file a container's flags or environment name under /etc/mxgrid is a key of the
  ConfigMap or Secret mounted there (the Secrets as deploy/k8s/make-secrets makes them), and
  --state_dir is on a writable volume (the root filesystems are read-only);
- the probes: every probe of a server is the kubelet's gRPC probe on the port of its
  --health_address, which listens on every interface (the kubelet dials the pod's IP); the
  container declares that port, no Service exposes it, and a NetworkPolicy admits it from
  any source or an ipBlock (the kubelet is not a pod);
- the images (--dockerfiles): each server's CMD has --health_address on the same port, the
  Dockerfile EXPOSEs it, and its HEALTHCHECK, mxgrid-health, checks that port by default.

    deploy_consistency.py --secrets SECRETS.yaml --job JOB.yaml [--dockerfiles F...]
                          [--health-script mxgrid-health] NAME=RENDERED.yaml...
    deploy_consistency.py --compare LABEL NAME=RENDERED.yaml NAME=RENDERED.yaml

--compare: the two renders (by two kustomize versions) hold the same objects, apart from
the names of generated ConfigMaps and Secrets (`<name>-<10-character hash>`): kustomize v2
hashes a generated object's name with its data, v5 its data alone, so the suffixes differ.
Those names are replaced by `<name>-<hash>` in both, wherever they occur, before comparing;
a reference to a name that is not the generated object's own stays and fails the check.

Prints `ok: ...` or `FAILED: ...` per check; exits 1 when any failed.
"""
import argparse
import json
import re
import shlex
import sys

import yaml


def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def flag_lines(text):
    """`--name=value` pairs of a flag file, comments and blank lines skipped."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("--") and "=" in line:
            name, value = line[2:].split("=", 1)
            pairs.append((name, value))
    return pairs


def check_shards(name, docs, report):
    replicas = find(docs, "StatefulSet", "mxgrid-kvstore")["spec"]["replicas"]
    config = next(d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].startswith("mxgrid-flags"))
    listed = dict(flag_lines(config["data"]["worker.flags"]))["kvstore"].split(",")
    want = ["mxgrid-kvstore-%d.mxgrid-kvstore:50051" % i for i in range(replicas)]
    report(listed == want, "%s: worker --kvstore lists the %d kvstore shards in order%s"
           % (name, replicas, "" if listed == want else " (it lists %s)" % listed))


def check_job(job_docs, overlays, report):
    job = find(job_docs, "Job", "mxgrid-train-digits")
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    ranks = {job["spec"]["completions"], job["spec"]["parallelism"],
             int(env["MXGRID_NUM_WORKERS"])}
    report(len(ranks) == 1, "job: completions, parallelism and MXGRID_NUM_WORKERS agree (%s)"
           % sorted(ranks))
    for name, docs in overlays:
        workers = find(docs, "StatefulSet", "mxgrid-worker")["spec"]["replicas"]
        report(max(ranks) <= workers, "job: %d ranks fit the %d workers of %s"
               % (max(ranks), workers, name))


def check_files(name, docs, keys_of, report):
    """Every /etc/mxgrid path named by flags or env exists as a mounted key."""
    configs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    for workload in docs:
        if workload["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        for c in pod["containers"]:
            mounts = [(m["mountPath"], m["name"], m.get("readOnly", False))
                      for m in c.get("volumeMounts", [])]

            def resolve(path):
                """(mount, key) of the mount holding path, or None."""
                for mount_path, volume, read_only in mounts:
                    if path.startswith(mount_path.rstrip("/") + "/") or path == mount_path:
                        return (volume, read_only), path[len(mount_path):].lstrip("/")
                return None

            paths = [e["value"] for e in c.get("env", []) if str(e.get("value", "")).startswith("/etc/")]
            state_dirs = []
            for arg in c.get("args", []) + c.get("command", []):
                if arg.startswith("--flagfile="):
                    path = arg.split("=", 1)[1]
                    paths.append(path)
                    found = resolve(path)
                    volume = volumes.get(found[0][0], {}) if found else {}
                    text = configs.get(volume.get("configMap", {}).get("name"), {}) \
                        .get("data", {}).get(found[1] if found else "", "")
                    for flag, value in flag_lines(text):
                        if value.startswith("/etc/"):
                            paths.append(value)
                        if flag == "state_dir":
                            state_dirs.append(value)
            where = "%s: %s/%s" % (name, workload["metadata"]["name"], c["name"])
            missing = []
            for path in sorted(set(paths)):
                found = resolve(path)
                ok = False
                if found:
                    (volume_name, _), key = found
                    volume = volumes.get(volume_name, {})
                    if "configMap" in volume:
                        ok = key in configs.get(volume["configMap"]["name"], {}).get("data", {})
                    elif "secret" in volume:
                        ok = key in keys_of.get(volume["secret"]["secretName"], set())
                if not ok:
                    missing.append(path)
            report(not missing, "%s: the %d files its flags and environment name are keys of "
                   "its mounted ConfigMaps and Secrets%s" % (
                       where, len(set(paths)), "; not: " + ", ".join(missing) if missing else ""))
            for path in state_dirs:
                found = resolve(path)
                ok = bool(found) and not found[0][1] and found[1] == "" and (
                    found[0][0] in claims or "persistentVolumeClaim" in volumes.get(found[0][0], {}))
                report(ok, "%s: --state_dir %s is a writable persistent volume" % (where, path))


def selects(selector, labels):
    """Whether a label selector (matchLabels, matchExpressions) selects these labels."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        has, value = e["key"] in labels, labels.get(e["key"])
        op = e["operator"]
        if (op == "In" and value not in e["values"]) or \
                (op == "NotIn" and has and value in e["values"]) or \
                (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


def check_probes(name, docs, report):
    """Probes are gRPC probes on --health_address's port, reachable as the kubelet needs."""
    configs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    services = [d for d in docs if d["kind"] == "Service"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    for workload in docs:
        if workload["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = workload["spec"]["template"]
        labels = pod["metadata"].get("labels", {})
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for c in pod["spec"]["containers"]:
            where = "%s: %s/%s" % (name, workload["metadata"]["name"], c["name"])
            flags = {}
            for arg in c.get("args", []):
                if not arg.startswith("--flagfile="):
                    continue
                path = arg.split("=", 1)[1]
                for m in c.get("volumeMounts", []):
                    prefix = m["mountPath"].rstrip("/") + "/"
                    config = volumes.get(m["name"], {}).get("configMap", {}).get("name")
                    if path.startswith(prefix) and config in configs:
                        flags.update(flag_lines(configs[config]["data"].get(path[len(prefix):], "")))
            address = flags.get("health_address", "")
            host, _, port = address.rpartition(":")
            ok = host in ("0.0.0.0", "[::]") and port.isdigit()
            report(ok, "%s: --health_address %s listens on every interface (the kubelet dials "
                   "the pod's IP)" % (where, address or "(unset)"))
            if not ok:
                continue
            port = int(port)
            probes = {k: c[k] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c}
            bad = ["%s (%s)" % (k, json.dumps(p, sort_keys=True)) for k, p in sorted(probes.items())
                   if set(p) & {"exec", "httpGet", "tcpSocket"} or p.get("grpc", {}).get("port") != port]
            report(not bad and "readinessProbe" in probes and "livenessProbe" in probes,
                   "%s: its %s are gRPC probes on port %d%s" % (
                       where, ", ".join(sorted(probes)) or "no probes", port,
                       "; not: " + ", ".join(bad) if bad else ""))
            declared = [p for p in c.get("ports", []) if p["containerPort"] == port]
            report(bool(declared), "%s: port %d declared in the container (%s)" % (
                where, port, declared[0].get("name", "unnamed") if declared else "missing"))
            names = {p.get("name") for p in declared} - {None}
            exposing = ["%s:%s" % (s["metadata"]["name"], sp.get("targetPort", sp["port"]))
                        for s in services if s["spec"].get("selector")
                        and selects({"matchLabels": s["spec"]["selector"]}, labels)
                        for sp in s["spec"].get("ports", [])
                        if sp.get("targetPort", sp["port"]) in names | {port}]
            report(not exposing, "%s: no Service exposes the health port %d%s" % (
                where, port, "; exposed by " + ", ".join(exposing) if exposing else ""))
            selected = [p for p in policies if selects(p["spec"]["podSelector"], labels)
                        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
            # The kubelet is no pod: a rule admits it when it has no `from` (any source) or
            # an ipBlock (the nodes' addresses, deploy/k8s/base/network-policy.yaml).
            admitting = [p["metadata"]["name"] for p in selected
                         for rule in p["spec"].get("ingress") or []
                         if not rule.get("from") or any("ipBlock" in f for f in rule["from"])
                         and any(rp.get("port") in names | {port} and rp.get("protocol", "TCP") == "TCP"
                                 for rp in rule.get("ports") or [{"port": port}])]
            report(not selected or admitting,
                   "%s: a NetworkPolicy admits the kubelet's probes on port %d (%s)" % (
                       where, port, ", ".join(admitting) or "none of: " +
                       ", ".join(p["metadata"]["name"] for p in selected)))


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    out, line = [], ""
    for raw in open(path):
        if raw.lstrip().startswith("#"):  # comments, also between continuation lines
            continue
        line += raw.rstrip("\n")
        if line.endswith("\\"):
            line = line[:-1] + " "
            continue
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        line = ""
    return out


def check_images(dockerfiles, health_script, report):
    """Each server image's CMD, EXPOSE and HEALTHCHECK agree on the health port."""
    script = open(health_script).read()
    m = re.search(r"MXGRID_HEALTH_ADDRESS:-[^:}]*:(\d+)\}", script)
    default = int(m.group(1)) if m else None
    for path in dockerfiles:
        ins = dockerfile_instructions(path)
        final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM"):]
        cmd = [json.loads(a) for w, a in final if w == "CMD"]
        health = [a for w, a in final if w == "HEALTHCHECK"]
        if not health or health[-1].upper() == "NONE":
            continue  # the trainer: no server, nothing to check
        args = cmd[-1] if cmd else []
        address = next((a.split("=", 1)[1] for a in args if a.startswith("--health_address=")), "")
        port = address.rpartition(":")[2]
        exposed = {p.split("/")[0] for w, a in final if w == "EXPOSE" for p in shlex.split(a)}
        ok = port.isdigit() and port in exposed and int(port) == default \
            and "mxgrid-health" in health[-1]
        report(ok, "%s: CMD --health_address %s, EXPOSE %s, HEALTHCHECK mxgrid-health (default "
               "port %s) agree" % (path, address or "(unset)", " ".join(sorted(exposed)), default))


GENERATED = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{10})$")


def normalized(docs, other_names):
    """docs with each generated ConfigMap/Secret name that has a counterpart in
    other_names (same base, another hash) replaced by `<base>-<hash>`; and those names."""
    names = {d["metadata"]["name"] for d in docs if d["kind"] in ("ConfigMap", "Secret")}
    bases = {GENERATED.match(n).group("base") for n in other_names if GENERATED.match(n)}
    rename = {n: GENERATED.match(n).group("base") + "-<hash>" for n in names
              if GENERATED.match(n) and GENERATED.match(n).group("base") in bases}

    def walk(x):
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return rename.get(x, x) if isinstance(x, str) else x
    return [walk(d) for d in docs], rename


def differences(a, b, path=""):
    """Paths where a and b differ (lists compared in order)."""
    if type(a) is not type(b):
        return ["%s: %r != %r" % (path, a, b)]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append("%s/%s: only in the %s render" % (path, k, "first" if k in a else "second"))
            else:
                out += differences(a[k], b[k], "%s/%s" % (path, k))
        return out
    if isinstance(a, list):
        out = [] if len(a) == len(b) else ["%s: %d items != %d" % (path, len(a), len(b))]
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, "%s/%d" % (path, i))
        return out
    return [] if a == b else ["%s: %r != %r" % (path, a, b)]


def compare(label, first, second, report):
    """Two renders of one kustomization hold the same objects (generated names aside)."""
    (name_a, path_a), (name_b, path_b) = (s.split("=", 1) for s in (first, second))
    a, b = load(path_a), load(path_b)
    names = lambda docs: {d["metadata"]["name"] for d in docs if d["kind"] in ("ConfigMap", "Secret")}
    a_norm, renamed_a = normalized(a, names(b))
    b_norm, renamed_b = normalized(b, names(a))
    key = lambda d: (d["apiVersion"], d["kind"], d["metadata"].get("namespace", ""),
                     d["metadata"]["name"])
    objects_a, objects_b = {key(d): d for d in a_norm}, {key(d): d for d in b_norm}
    problems = ["%s %s only in the %s render" % (k[1], k[3], which)
                for which, mine, theirs in (("first", objects_a, objects_b),
                                            ("second", objects_b, objects_a))
                for k in sorted(set(mine) - set(theirs))]
    for k in sorted(set(objects_a) & set(objects_b)):
        problems += ["%s %s%s" % (k[1], k[3], d) for d in differences(objects_a[k], objects_b[k])]
    aside = ", ".join("%s / %s" % (n, next(m for m, r in renamed_b.items() if r == renamed_a[n]))
                      for n in sorted(renamed_a) if renamed_a[n] in renamed_b.values())
    report(not problems, "%s: kustomize %s and %s render the same %d objects%s%s" % (
        label, name_a, name_b, len(objects_a),
        " (generated names aside: %s)" % aside if aside else "",
        "; differences:\n" + "\n".join("  " + p for p in problems[:20]) if problems else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secrets")
    parser.add_argument("--job")
    parser.add_argument("--dockerfiles", nargs="*", default=[])
    parser.add_argument("--health-script", default="deploy/docker/mxgrid-health")
    parser.add_argument("--compare", metavar="LABEL",
                        help="compare the two renders given as NAME=RENDERED.yaml")
    parser.add_argument("overlays", nargs="+", help="NAME=RENDERED.yaml")
    args = parser.parse_args()
    failed = []

    def report(ok, text):
        print(("ok: " if ok else "FAILED: ") + text)
        if not ok:
            failed.append(text)

    if args.compare:
        if len(args.overlays) != 2:
            parser.error("--compare takes two NAME=RENDERED.yaml")
        compare(args.compare, args.overlays[0], args.overlays[1], report)
        return 1 if failed else 0
    if not args.secrets or not args.job:
        parser.error("--secrets and --job are required")
    keys_of = {d["metadata"]["name"]: set(d.get("data") or {}) for d in load(args.secrets)}
    overlays = [(spec.split("=", 1)[0], load(spec.split("=", 1)[1])) for spec in args.overlays]
    job = load(args.job)
    for name, docs in overlays:
        check_shards(name, docs, report)
        check_files(name, docs, keys_of, report)
        check_probes(name, docs, report)
    check_job(job, overlays, report)
    check_files("job", job, keys_of, report)
    if args.dockerfiles:
        check_images(args.dockerfiles, args.health_script, report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
