// Loads TypeScript sources directly (no build step): SWC with the workspace's tsconfig paths and decorator metadata.
// Pinning the tsconfig by absolute path makes it independent of the working directory.
const { join } = require('node:path');
process.env.SWC_NODE_PROJECT = join(__dirname, '..', 'tsconfig.json');
require('@swc-node/register');
