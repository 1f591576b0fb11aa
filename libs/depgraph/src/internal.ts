/**
 * Building blocks that tests exercise directly but no other package uses: the graph algorithms
 * and the one-file parse the scan runs. Not a stable surface.
 */
export { condensation, reverseClosure, shortestCycle, stronglyConnected } from './analysis.js';
export { parseFile } from './parse-file.js';
