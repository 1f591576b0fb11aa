import type { FailedStep } from '@melange2/buildkit';
import type { Diagnostic } from '@melange2/melange';

/** Where a build (or test run) stopped. */
export type BuildStage = 'config' | 'environment' | 'solve' | 'package' | 'index';
/** `BUILD_CONFIG`, `BUILD_ENVIRONMENT`, `BUILD_SOLVE`, `BUILD_PACKAGE` or `BUILD_INDEX`. */
export type BuildErrorCode = `BUILD_${Uppercase<BuildStage>}`;

/**
 * A failed build, with the context a user needs: the config file, the arch, the stage, and for a
 * failed step its name, exit code and the tail of its log.
 */
export class BuildError extends Error {
  override readonly name = 'BuildError';
  readonly code: BuildErrorCode;
  constructor(
    readonly stage: BuildStage,
    readonly file: string,
    readonly arch: string,
    message: string,
    readonly details: {
      readonly step?: FailedStep;
      readonly diagnostics?: readonly Diagnostic[];
      readonly pkg?: string;
      /** The config's `target-architecture` excludes this arch: nothing to build (not a failure for multi-arch runs). */
      readonly notForArch?: boolean;
    } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = `BUILD_${stage.toUpperCase() as Uppercase<BuildStage>}`;
  }
}
