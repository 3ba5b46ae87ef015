#!/usr/bin/env python3
"""Cross-checks of the rendered Kubernetes manifests that no schema can see (run by
tools/check_deploy):

- the workers' --kvstore (worker.flags) lists exactly the shards of the kvstore
  StatefulSet, mxgrid-kvstore-0 .. mxgrid-kvstore-<replicas-1>, in order;
- the training Job's ranks: completions == parallelism == MXGRID_NUM_WORKERS, and no more
  than the workers' replicas;
- every file a container's flags or environment name under /etc/mxgrid is a key of the
  ConfigMap or Secret mounted there (the Secrets as deploy/k8s/make-secrets makes them), and
  --state_dir is on a writable volume (the root filesystems are read-only).

    deploy_consistency.py --secrets SECRETS.yaml --job JOB.yaml NAME=RENDERED.yaml...

Prints `ok: ...` or `FAILED: ...` per check; exits 1 when any failed.
"""
import argparse
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secrets", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("overlays", nargs="+", help="NAME=RENDERED.yaml")
    args = parser.parse_args()
    failed = []

    def report(ok, text):
        print(("ok: " if ok else "FAILED: ") + text)
        if not ok:
            failed.append(text)

    keys_of = {d["metadata"]["name"]: set(d.get("data") or {}) for d in load(args.secrets)}
    overlays = [(spec.split("=", 1)[0], load(spec.split("=", 1)[1])) for spec in args.overlays]
    job = load(args.job)
    for name, docs in overlays:
        check_shards(name, docs, report)
        check_files(name, docs, keys_of, report)
    check_job(job, overlays, report)
    check_files("job", job, keys_of, report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
