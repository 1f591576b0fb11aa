export { attachJobQueue, openJobQueue } from './job-queue.js';
export {
  answerCodec,
  type Codec,
  eventCodec,
  jobCodec,
  MAX_BYTES,
  PROTOCOL_VERSION,
  reportCodec,
} from './codec.js';
export {
  ForgedReportError,
  type MessageKind,
  ProtocolError,
  type ProtocolErrorCode,
  ReportRefusedError,
} from './errors.js';
export { type AgentLinkHandler, type CoordinatorLink, natsLink, serveAgentLink } from './link.js';
export {
  type AgentEvent,
  type BuildJob,
  type BuildOutcome,
  type BuildReport,
  clip,
  failedOutcome,
  type Heartbeat,
  MAX_AWAITING,
  MAX_LOG_LINE,
  MAX_LOG_LINES,
  MAX_TEXT,
  type RefusalCode,
  type ReportAck,
  type ReportAnswer,
  type StagedApk,
} from './messages.js';
export {
  DEFAULT_NAMESPACE,
  ENQUEUED_AT,
  jobMessageId,
  type NatsNames,
  natsNames,
  natsStreams,
  parseJobMessageId,
  STAGING_MAX_AGE_MS,
  STATE_MAX_AGE_MS,
} from './names.js';
export {
  agentRole,
  agentRoleName,
  coordinatorRole,
  farmRoles,
  type NatsRole,
  type SubjectPermissions,
} from './permissions.js';
export { type RepositoryInfo, repositoryInfoReader, writeRepositoryInfo } from './run-info.js';
export {
  fileDigest,
  LocalStaging,
  ObjectStaging,
  type Staging,
  StagingError,
  stagingKey,
} from './staging.js';
export {
  type BuildLogStore,
  type BuildOfRun,
  type LiveSink,
  LogError,
  type LogErrorCode,
  type LogKey,
  type LogRef,
  type LogRetention,
  type LogRun,
  type LogState,
} from './logs/log-ref.js';
export {
  BuildLogWriter,
  DEFAULT_LOG_MAX_BYTES,
  type FinishedLog,
  TRUNCATION_MARKER,
} from './logs/log-writer.js';
export { LocalLogStore } from './logs/local-log-store.js';
export { ObjectLogStore } from './logs/object-log-store.js';
export { readObject } from './object-read.js';
export { finishedText, latestRun, readLog } from './logs/read-log.js';
