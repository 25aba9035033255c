/**
 * A failure the CLI itself detects (no token, an unreadable file, nothing to do). It is printed as
 * `error: <message>` and exits with code 2, like every other failure, but never reaches the API.
 */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}
