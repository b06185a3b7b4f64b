// Copies the grammar and the schema into the extension, which is packaged on its own:
// editors/dqm.tmLanguage.json and grammar/policy.schema.json are the sources of truth.
"use strict";

const fs = require("fs");
const path = require("path");

const copies = [
  ["../dqm.tmLanguage.json", "syntaxes/dqm.tmLanguage.json"],
  ["../../grammar/policy.schema.json", "schemas/policy.schema.json"],
];
for (const [from, to] of copies) {
  fs.mkdirSync(path.join(__dirname, path.dirname(to)), { recursive: true });
  fs.copyFileSync(path.join(__dirname, from), path.join(__dirname, to));
}
