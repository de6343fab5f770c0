import { enableCompileCache } from 'node:module';

// The CLI starts a new process per command: V8's code cache (in the OS temp directory) spares each start after
// the first the compiling of the modules it loads (`tidemark --help`: 0.87 s → 0.67 s on 2 cores). It has to be on
// before they are loaded, hence the program is required only after it.
enableCompileCache();
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./program');
