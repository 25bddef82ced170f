// Layers import only downward: `npm run lint` fails on an upward import (dependency-cruiser).
// Lowest first. A folder may import its own layer and the ones listed before it. A new
// folder under emulator/ must be added to a layer (the "unlayered" rule says so).
const LAYERS = [
  ['util', 'errors.ts', 'logging'], // plain helpers, the error class, the Logger interface
  ['config'], // schema, load, the resolved config
  ['inner-call'], // the host-name grammar and service lookup by name or id
  ['runtimes', 'components', 'dns', 'watch', 'targets'], // each runs or answers one thing
  ['supervisor'], // keeps instances running; does not know the proxy exists
  ['proxy', 'calls'], // listeners and the call pipeline
  ['dashboard'], // reads through the same handles as the testing API
  ['testing'], // the testing API's helpers
  ['emulator.ts', 'index.ts'], // the orchestrator and the public face
  ['cli'], // the top: parses, prints, exits
];

const pattern = (names) => `^emulator/(${names.map((name) => name.replace(/\./g, '\\.')).join('|')})(/|$)`;

module.exports = {
  forbidden: [
    ...LAYERS.slice(0, -1).map((layer, index) => ({
      name: `layer-${layer[0].replace(/\.ts$/, '')}`,
      severity: 'error',
      comment: `${layer.join(', ')} must not import from a higher layer (${LAYERS.slice(index + 1).flat().join(', ')}); see .dependency-cruiser.cjs.`,
      from: { path: pattern(layer) },
      to: { path: pattern(LAYERS.slice(index + 1).flat()) },
    })),
    {
      name: 'unlayered',
      severity: 'error',
      comment: 'Every folder under emulator/ belongs to a layer: add it to LAYERS in .dependency-cruiser.cjs.',
      from: { path: '^emulator/', pathNot: [pattern(LAYERS.flat()), '^emulator/tt(/|$)'] },
      to: {},
    },
    {
      name: 'tt-stands-alone',
      severity: 'error',
      comment: 'dyc-emulator/tt runs in browsers and mini-program tests: it imports nothing else of the emulator.',
      from: { path: '^emulator/tt(/|$)' },
      to: { path: '^emulator/', pathNot: '^emulator/tt(/|$)' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules that import each other cannot be read (or tested) one at a time.',
      from: { path: '^emulator/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a type from a higher layer is still an upward dependency.
    moduleSystems: ['es6', 'cjs'],
  },
};
