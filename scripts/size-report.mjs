#!/usr/bin/env node
// Prints, per package and for the whole repository, lines per source file (p50/p90/max) and the
// longest functions, so structural changes can be compared before and after.
// Usage: node scripts/size-report.mjs [--top N] [--tests]   (--tests also counts test files)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const topIndex = args.indexOf('--top');
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 5;
const withTests = args.includes('--tests');

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const isTest = (path) => /\.test\.ts$|\/test\//.test(path);

function lineCount(text) {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function functionName(node) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

/** Every function-like node with a body, with its length in lines. */
function functions(path, text) {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ name: functionName(node), path, line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function packages() {
  const out = [];
  for (const group of ['libs', 'apps']) {
    for (const name of readdirSync(join(root, group)).sort()) out.push(`${group}/${name}`);
  }
  out.push('test', 'bench');
  return out.filter((dir) => {
    try {
      return statSync(join(root, dir)).isDirectory();
    } catch {
      return false;
    }
  });
}

function report(label, files) {
  const sizes = [];
  const fns = [];
  for (const path of files) {
    const text = readFileSync(path, 'utf8');
    sizes.push({ path, lines: lineCount(text) });
    fns.push(...functions(path, text));
  }
  const sorted = sizes.map((s) => s.lines).sort((a, b) => a - b);
  const biggest = sizes.sort((a, b) => b.lines - a.lines)[0];
  const total = sorted.reduce((a, b) => a + b, 0);
  console.log(
    `${label.padEnd(18)} files ${String(files.length).padStart(4)}  lines ${String(total).padStart(6)}  ` +
      `p50 ${String(percentile(sorted, 50)).padStart(4)}  p90 ${String(percentile(sorted, 90)).padStart(4)}  ` +
      `max ${String(sorted.at(-1) ?? 0).padStart(4)}${biggest ? ` (${relative(root, biggest.path)})` : ''}`,
  );
  for (const fn of fns.sort((a, b) => b.lines - a.lines).slice(0, top)) {
    console.log(
      `${''.padEnd(20)}${String(fn.lines).padStart(4)}  ${fn.name}  ${relative(root, fn.path)}:${fn.line}`,
    );
  }
}

const all = [];
for (const pkg of packages()) {
  const files = sourceFiles(join(root, pkg)).filter(
    (f) => withTests || !isTest(relative(root, f)) || pkg === 'test',
  );
  const chosen = pkg === 'test' && !withTests ? files.filter((f) => f.includes('/harness/')) : files;
  if (chosen.length === 0) continue;
  all.push(...chosen);
  report(pkg, chosen);
}
report('all', all);
