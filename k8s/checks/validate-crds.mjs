// Validates the custom resources of rendered manifests against the CRD schemas shipped in
// @kubernetes-models (Prometheus Operator, KEDA): kubernetes-validate only knows the
// built-in kinds and merely warns on these.
//
//   node k8s/checks/validate-crds.mjs TOOLS_DIR rendered.yaml...
//
// TOOLS_DIR is where `npm install --prefix` put the packages (.tools). The packages are
// ES modules and ESM ignores NODE_PATH, hence the explicit directory.
//
// Any custom resource kind without a model here is an error, so a new CRD cannot slip
// through unvalidated. The models check types, required fields and patterns but accept
// unknown fields; promtool (rules) and k8s/checks/consistency.py cover more.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [toolsDir, ...files] = process.argv.slice(2);
if (!toolsDir || files.length === 0) {
  console.error("usage: validate-crds.mjs TOOLS_DIR rendered.yaml...");
  process.exit(2);
}
// Resolves `pkg` + `subpath` through the package's "exports" map (its ESM entry).
async function load(pkg, subpath = ".") {
  const dir = path.resolve(toolsDir, "node_modules", pkg);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const entry = manifest.exports?.[subpath];
  const file = typeof entry === "string" ? entry : entry?.import ?? entry?.default;
  if (!file) throw new Error(`${pkg}: no ESM export for ${subpath}`);
  return import(pathToFileURL(path.join(dir, file)).href);
}
const yaml = await load("js-yaml");
const monitoring = await load("@kubernetes-models/prometheus-operator", "./monitoring.coreos.com/v1");
const keda = await load("@kubernetes-models/keda", "./keda.sh/v1alpha1");

const models = {
  "monitoring.coreos.com/v1": {
    ServiceMonitor: monitoring.ServiceMonitor,
    PodMonitor: monitoring.PodMonitor,
    PrometheusRule: monitoring.PrometheusRule,
  },
  "keda.sh/v1alpha1": {
    ScaledObject: keda.ScaledObject,
    TriggerAuthentication: keda.TriggerAuthentication,
  },
};

// Built-in API groups are kubernetes-validate's job.
const builtin = (apiVersion) =>
  !apiVersion.includes("/") || /^([a-z0-9.]*\.k8s\.io|apps|batch|policy|autoscaling)\//.test(apiVersion);

let failures = 0;
let checked = 0;
for (const file of files) {
  const docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter(Boolean);
  for (const doc of docs) {
    const { apiVersion = "", kind = "" } = doc;
    const name = `${kind}/${doc.metadata?.name}`;
    if (builtin(apiVersion)) continue;
    const Model = models[apiVersion]?.[kind];
    if (!Model) {
      console.error(`FAIL ${file}: ${name}: no model for ${apiVersion} ${kind}`);
      failures++;
      continue;
    }
    try {
      new Model(doc).validate();
      checked++;
      console.log(`ok   ${file}: ${name} (${apiVersion})`);
    } catch (e) {
      failures++;
      console.error(`FAIL ${file}: ${name}: ${e.message}`);
    }
  }
}
console.log(`custom resources: ${checked} valid, ${failures} invalid`);
process.exit(failures ? 1 : 0);
