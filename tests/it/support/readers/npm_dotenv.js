// Reads .env files with npm dotenv's parse(), for the round-trip and
// property tests.
//
// Usage: node npm_dotenv.js PREFIX   (PREFIX holds node_modules/dotenv)
// Prints dotenv's version as a JSON line, then for each file path read on
// stdin (one a line) parse(FILE) as one JSON line: one process for every
// file keeps the tests fast.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const pkg = path.join(process.argv[2], 'node_modules', 'dotenv');
const dotenv = require(pkg);
const { version } = require(path.join(pkg, 'package.json'));
process.stdout.write(JSON.stringify(version) + '\n');
// parse() on the raw bytes, as dotenv.config() does after reading the file.
readline.createInterface({ input: process.stdin }).on('line', (file) => {
  process.stdout.write(JSON.stringify(dotenv.parse(fs.readFileSync(file))) + '\n');
});
