#!/usr/bin/env node
// tests/manifests/kube-pods.js — turns rendered deploy/k8s objects into
// what `podman kube play` runs, for docker/test.sh:
//
//   node tests/manifests/kube-pods.js FILE PREFIX [NAME [KIND]]   > pods.yaml
//
// podman 4.3 plays Pods, Deployments and PersistentVolumeClaims. Those pass
// through unchanged but for their names; a Job becomes the Pod of its
// template (its pod spec untouched: same image, command, env, probes,
// securityContext, resources, volumes); a Service, and any other kind, has
// no podman equivalent and is left out, with a line on stderr saying so.
// Container ports are taken out: podman 4.3 publishes each containerPort on
// the host, on every interface (0.0.0.0), where in Kubernetes a containerPort
// is only a declaration; the pods reach each other over their own network.
// A secret volume (podman 4.3 panics on one) becomes a hostPath volume,
// when KUBE_SECRETS=DIR holds the Secret's data as DIR/SECRET/KEY files (what
// `kubectl create secret generic SECRET --from-file=...` would be given):
// the items are laid out as the kubelet does, under DIR/PREFIX-OBJECT-VOLUME,
// with the volume's defaultMode (or the item's mode) and, when the pod has
// an fsGroup, that group.
// Every name, and every claimName that points at one, gets PREFIX- in front,
// so that a test's objects never meet another run's. With NAME, only the
// objects labelled app.kubernetes.io/name=NAME are written (played apart
// when they need other `podman kube play` options, such as a network alias);
// with KIND too, only what comes out as that kind (a Pod played again on a
// claim that exists already: podman refuses to make its volume twice).
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const [file, prefix, only, onlyKind] = process.argv.slice(2);
if (!file || !prefix) {
  console.error("usage: kube-pods.js FILE PREFIX [NAME]");
  process.exit(2);
}

function secretsToHostPaths(objName, podSpec) {
  const dir = process.env.KUBE_SECRETS;
  for (const v of podSpec.volumes || []) {
    if (!v.secret) continue;
    if (!dir) {
      console.error(`kube-pods: ${objName}: secret volume ${v.name} needs KUBE_SECRETS (podman 4.3 cannot play it)`);
      process.exit(1);
    }
    const src = path.join(dir, v.secret.secretName);
    const dst = path.join(dir, `${prefix}-${objName}-${v.name}`);
    const items = v.secret.items || fs.readdirSync(src).map((k) => ({ key: k, path: k }));
    const gid = (podSpec.securityContext || {}).fsGroup;
    for (const it of items) {
      const to = path.join(dst, it.path);
      fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
      fs.copyFileSync(path.join(src, it.key), to);
      fs.chmodSync(to, it.mode ?? v.secret.defaultMode ?? 0o644);
      if (gid !== undefined) fs.chownSync(to, 0, gid);
    }
    console.error(`kube-pods: secret volume ${v.name} (${v.secret.secretName}) played as a hostPath volume`);
    delete v.secret;
    v.hostPath = { path: dst, type: "Directory" };
  }
}

function renameClaims(podSpec) {
  for (const c of podSpec.containers || [])
    if (c.ports) {
      console.error(`kube-pods: container ${c.name}: ports ${c.ports.map((p) => p.containerPort).join(", ")} not published`);
      delete c.ports;
    }
  for (const v of podSpec.volumes || [])
    if (v.persistentVolumeClaim) v.persistentVolumeClaim.claimName = `${prefix}-${v.persistentVolumeClaim.claimName}`;
  return podSpec;
}

const out = [];
for (const d of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
  const o = d.toJS();
  if (!o) continue;
  const name = o.metadata.name;
  const app = (o.metadata.labels || {})["app.kubernetes.io/name"];
  if (only && app !== only) continue;
  switch (o.kind) {
    case "Deployment":
      secretsToHostPaths(name, o.spec.template.spec);
      renameClaims(o.spec.template.spec);
      break;
    case "Pod":
      secretsToHostPaths(name, o.spec);
      renameClaims(o.spec);
      break;
    case "PersistentVolumeClaim":
      break;
    case "Job": {
      const t = o.spec.template;
      secretsToHostPaths(name, t.spec);
      out.push({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `${prefix}-${name}`, labels: (t.metadata && t.metadata.labels) || {} },
        spec: renameClaims(t.spec),
      });
      console.error(`kube-pods: Job/${name} played as the Pod of its template`);
      continue;
    }
    default:
      console.error(`kube-pods: ${o.kind}/${name} left out (podman kube play has no ${o.kind})`);
      continue;
  }
  o.metadata.name = `${prefix}-${name}`;
  out.push(o);
}
if (onlyKind) out.splice(0, out.length, ...out.filter((o) => o.kind === onlyKind));
if (out.length === 0) {
  console.error("kube-pods: nothing for podman to play");
  process.exit(1);
}
process.stdout.write(out.map((o) => YAML.stringify(o)).join("---\n"));
