// Reads .env files with npm dotenv's parse(), for tests/encode_roundtrip.rs.
//
// Usage: node npm_dotenv.js PREFIX FILE...   (PREFIX holds node_modules/dotenv)
// Prints {"version": ..., "files": [parse(FILE), ...]} as JSON: one process for
// many files keeps the round-trip tests fast.
'use strict';
const fs = require('fs');
const path = require('path');

const pkg = path.join(process.argv[2], 'node_modules', 'dotenv');
const dotenv = require(pkg);
const { version } = require(path.join(pkg, 'package.json'));
// parse() on the raw bytes, as dotenv.config() does after reading the file.
const files = process.argv.slice(3).map((file) => dotenv.parse(fs.readFileSync(file)));
process.stdout.write(JSON.stringify({ version, files }));
