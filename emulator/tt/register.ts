// `import 'dyc-emulator/tt/register'`: installs the emulator's `createCloud` as
// `globalThis.tt.createCloud`, so mini-program code that calls
// `tt.createCloud({ envID, serviceID }).callContainer(...)` runs unchanged in a test
// (Node) or an H5 page (browser). Other members of an existing `tt` are kept.
// Browser-safe, like ./index.ts.

import { createCloud } from './index.js';

const scope = globalThis as { tt?: Record<string, unknown> };
scope.tt = Object.assign(scope.tt ?? {}, { createCloud });

export { createCloud };
