import { CommanderError } from 'commander';
import { ApiError, ConnectionError } from './api-client.ts';
import { CliError } from './cli-error.ts';

/**
 * The lines that report `error` on stderr: one line, except that a `validation_failed` problem
 * prints one line per field error, in the `file:line:column:` form editors and CI annotate.
 * Never a stack trace: whatever the error, only its message is shown.
 */
export function errorLines(error: unknown): string[] {
  if (error instanceof ApiError) {
    if (error.code === 'validation_failed' && error.errors.length > 0) {
      return error.errors.map((e) => {
        const where = e.line === undefined ? '' : `${error.file ?? '<input>'}:${e.line}:${e.column ?? 1}: `;
        return `${where}${e.path === '' ? '(request)' : e.path}: ${e.message}`;
      });
    }
    return [`error: ${error.detail} [${error.code}]`];
  }
  if (error instanceof ConnectionError) {
    return [`error: ${error.message}; is 'tenantry serve' running?`];
  }
  if (error instanceof CommanderError) {
    // Commander's messages already start with "error:" and may add a "(Did you mean …?)" line.
    return [oneLine(error.message)];
  }
  if (error instanceof CliError) return [`error: ${oneLine(error.message)}`];
  return [`error: ${oneLine(error instanceof Error ? error.message : String(error))}`];
}

function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, ' ');
}
