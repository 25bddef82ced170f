/**
 * One error class for everything the emulator reports. `kind: 'user'` errors are
 * the user's to fix (printed without a stack, with the fix); `kind: 'system'`
 * errors are ours (printed with a stack and "please report").
 */
export type UserErrorCode =
  | 'config_not_found'
  | 'config_syntax'
  | 'config_invalid'
  | 'policies_invalid'
  | 'port_in_use'
  | 'service_start_failed'
  | 'service_unhealthy'
  | 'runtime_unavailable'
  | 'component_unavailable'
  | 'component_start_failed'
  | 'data_in_use'
  | 'emulator_not_running'
  | 'usage';

export type SystemErrorCode = 'internal';

export class EmulatorError extends Error {
  readonly code: UserErrorCode | SystemErrorCode;
  readonly kind: 'user' | 'system';
  /** What to do about it, one or two sentences. */
  readonly fix: string | undefined;

  constructor(code: UserErrorCode | SystemErrorCode, message: string, options: { fix?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EmulatorError';
    this.code = code;
    this.kind = code === 'internal' ? 'system' : 'user';
    this.fix = options.fix;
  }
}

/** An error as log text: its message and, for an EmulatorError, its fix (a logged error keeps it). */
export function errorForLog(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return error instanceof EmulatorError && error.fix !== undefined ? `${message}\nFix: ${error.fix}` : message;
}

export function isUserError(error: unknown): error is EmulatorError {
  return error instanceof EmulatorError && error.kind === 'user';
}
