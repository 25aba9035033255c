// The server projects' global setup: builds the web console when its build is missing or stale,
// once per run, before the tests that load it in a browser (console*.test.ts).
import { buildConsole } from '../../scripts/build-console.ts';

export default async function setup(): Promise<void> {
  await buildConsole();
}
