export { closeCrashedRuns } from './cancel-run.js';
export { chromeTrace } from './chrome-trace.js';
export { reportHtml } from './dashboard-page.js';
export { Dashboard } from './dashboard-server.js';
export { FileRunStore, findRun, ObjectRunStore, type RunStore } from './run-store.js';
export { dashboardRoute, serveDashboard } from './serve.js';
export { TimelineRecorder } from './timeline-recorder.js';
export { TimelineError } from './timeline-schema.js';
