/** The `tenantry` CLI as a library: build or run the program in-process (tests, embedding). */
export {
  ApiClient,
  type ApiClientOptions,
  ApiError,
  ConnectionError,
  type ProblemFieldError,
  type RequestOptions,
} from './api-client.ts';
export type { CliIo } from './command-context.ts';
export { buildProgram, EXIT_FAILURE, runCli } from './program.ts';
