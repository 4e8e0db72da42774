#!/usr/bin/env node
// Check (or rewrite) Terraform files the way `terraform fmt -check -recursive` does, without the
// terraform binary: @cdktf/hcl-tools ships hclwrite.Format, the function terraform fmt calls.
// Usage: node tools/hclfmt/check.js [--write] DIR_OR_FILE...   (exit 1 lists unformatted files)
"use strict";
const fs = require("fs");
const path = require("path");
const { format } = require("@cdktf/hcl-tools");

function collect(target, out) {
  const stat = fs.statSync(target);
  if (stat.isDirectory()) {
    for (const name of fs.readdirSync(target).sort()) {
      // Provider caches and state are not ours to format (terraform fmt skips them too).
      if (name === ".terraform" || name === "node_modules") continue;
      collect(path.join(target, name), out);
    }
  } else if (/\.(tf|tfvars)$/.test(target)) {
    out.push(target);
  }
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  const write = args.includes("--write");
  const targets = args.filter((a) => a !== "--write");
  if (targets.length === 0) {
    console.error("usage: check.js [--write] DIR_OR_FILE...");
    process.exit(2);
  }
  const files = targets.flatMap((t) => collect(t, []));
  const unformatted = [];
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const formatted = await format(text);
    if (formatted !== text) {
      unformatted.push(file);
      if (write) fs.writeFileSync(file, formatted);
    }
  }
  for (const file of unformatted) console.log(file);
  if (unformatted.length && !write) {
    console.error(`${unformatted.length} of ${files.length} file(s) not formatted; run with --write`);
    process.exit(1);
  }
  if (!write) console.error(`${files.length} file(s) formatted`);
}

main().catch((error) => {
  console.error(`hclfmt: ${error.message}`);
  process.exit(2);
});
