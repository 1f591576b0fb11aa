/** The process launcher and buildkitd's command line, which tests exercise directly. Not a stable surface. */
export { buildkitdArgs } from './buildkitd.js';
export { type LaunchSpec, launch } from './process.js';
