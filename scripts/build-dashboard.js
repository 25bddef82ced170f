// Bundles the dashboard's page (emulator/dashboard/ui) into dist/dashboard/ui: one ES
// module with Preact inside, the stylesheet and index.html. Nothing is fetched at run
// time, so the dashboard works offline. esbuild is a devDependency: installed packages
// get the built files.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'emulator/dashboard/ui');
const out = path.join(root, 'dist/dashboard/ui');
mkdirSync(path.join(out, 'assets'), { recursive: true });
await build({
  entryPoints: [path.join(source, 'main.tsx')],
  outfile: path.join(out, 'assets/app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(path.join(source, 'style.css'), path.join(out, 'assets/style.css'));
copyFileSync(path.join(source, 'index.html'), path.join(out, 'index.html'));
