// SPDX-License-Identifier: Apache-2.0
// validate.mjs FILE...: every document of every FILE against the validator kubernetes-models
// generated from Kubernetes' OpenAPI schema for its apiVersion and kind (types, required fields,
// the kind's apiVersion). One line per document, "ok FILE KIND NAME" or "invalid FILE KIND NAME:
// WHY"; exit status 1 when any is invalid or of a kind Kubernetes does not define. Offline: the
// schemas come with the npm package (tests/deps.sh installs it beside this file).
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

let invalid = 0;
for (const file of process.argv.slice(2)) {
  let docs;
  try {
    docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d !== null);
  } catch (e) {
    console.log(`invalid ${file} - -: ${e.message.split("\n")[0]}`);
    invalid++;
    continue;
  }
  for (const doc of docs) {
    const kind = doc?.kind ?? "-";
    const name = doc?.metadata?.name ?? "-";
    const where = `${file} ${kind} ${name}`;
    const apiVersion = typeof doc?.apiVersion === "string" ? doc.apiVersion : "";
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    let model;
    try {
      if (!/^[A-Za-z0-9.]*$/.test(group) || !/^v[0-9a-z]+$/.test(version) || !/^[A-Z][A-Za-z]+$/.test(kind))
        throw new Error("bad apiVersion or kind");
      model = (await import(`kubernetes-models/${group ? group + "/" : ""}${version}/${kind}`))[kind];
      if (!model) throw new Error("no such kind");
    } catch {
      console.log(`invalid ${where}: ${apiVersion || "(no apiVersion)"} ${kind} is not a Kubernetes kind`);
      invalid++;
      continue;
    }
    try {
      new model(doc).validate();
      console.log(`ok ${where}`);
    } catch (e) {
      console.log(`invalid ${where}: ${e.message}`);
      invalid++;
    }
  }
}
process.exit(invalid ? 1 : 0);
