#!/usr/bin/env node
// A stand-in for the native `solc` binary, backed by the npm `solc` package (solcjs, wasm).
//
// No registry reachable from our machines ships a native solc, and py-solc-x (used by
// ape-solidity) downloads one from binaries.soliditylang.org, which fails offline. py-solc-x
// only ever runs two commands, so this script implements exactly those:
//   solc --version                      -> "Version: X.Y.Z+commit.HASH..." (parsed by a regex)
//   solc --standard-json [--base-path DIR] [--include-path DIR[,DIR]] [--allow-paths ...]
//                                        -> standard JSON in on stdin, standard JSON out on stdout
// The stock `solcjs` CLI prints a banner line before its JSON, so it cannot be used as is.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

function parseArgs(argv) {
  const args = { version: false, standardJson: false, basePath: null, includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--version') args.version = true;
    else if (arg === '--standard-json') args.standardJson = true;
    else if (arg === '--base-path') args.basePath = argv[++i];
    else if (arg === '--include-path') args.includePaths.push(...argv[++i].split(','));
    else if (arg === '--allow-paths') i++; // reads are limited to the import callback below
    else if (arg === '-') continue;
    else fail(`solc stand-in: unsupported argument '${arg}' (expected --version or --standard-json)`);
  }
  return args;
}

function fail(message) {
  process.stderr.write(message + '\n');
  process.exit(1);
}

function importCallback(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      }
    }
    return { error: `File not found: ${importPath} (looked in ${roots.join(', ')})` };
  };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface (npm solc stand-in)\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!args.standardJson) fail('solc stand-in: expected --version or --standard-json');
  const input = fs.readFileSync(0, 'utf8');
  const roots = [args.basePath || process.cwd(), ...args.includePaths];
  process.stdout.write(solc.compile(input, { import: importCallback(roots) }));
}

main();
