import { createRequire } from 'node:module';
import pg from 'pg';

// pg converts parameter values (Dates, arrays, Buffers, objects as JSON) with this function. It is
// not in pg's typings, but pg's own Query and pg-cursor bind with it, so a statement sent here
// carries exactly the values `client.query(text, values)` would.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue: (value: unknown) => Buffer | string | null;
};

/** The parts of pg's Result that parse rows; pg's typings leave them out. */
interface RowParser<R extends pg.QueryResultRow> extends pg.QueryResult<R> {
  addFields(fields: unknown): void;
  parseRow(fields: unknown): R;
  addRow(row: R): void;
  addCommandComplete(message: unknown): void;
}

/** The messages of pg's Connection a submittable writes; pg's typings get some of them wrong. */
interface Wire {
  readonly stream: { cork?: () => void; uncork?: () => void };
  parse(message: { text: string; name?: string }): void;
  bind(message: { values: readonly (Buffer | string | null)[]; statement?: string; binary?: boolean }): void;
  describe(message: { type: 'P' }): void;
  execute(message: Record<string, never>): void;
  close(message: { type: 'S'; name: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/** The setting's statement, prepared once per connection: Bind and Execute are all it costs after that. */
const SETTING_STATEMENT = 'tenantry_scoped_setting';
const SETTING_SQL = 'select set_config($1, $2, true)';

/** SQLSTATE invalid_sql_statement_name: `prepared statement "…" does not exist`. */
const UNDEFINED_PREPARED_STATEMENT = '26000';

/** Connections on which {@link SETTING_STATEMENT} is known to exist (its first use succeeded). */
const prepared = new WeakSet<object>();

/**
 * One statement run with a transaction-local setting, in one round trip and one transaction,
 * without BEGIN or COMMIT. A pg submittable: it writes Bind/Execute of
 * `select set_config(setting, value, true)` (a statement prepared once per connection), then
 * Parse/Bind/Describe/Execute of the statement, then a single Sync.
 *
 * PostgreSQL runs everything before a Sync in one implicit transaction. So the setting holds for
 * the statement and ends at the Sync, before anything else runs on the connection; when the
 * setting fails, the server skips every message up to the Sync, so the statement never runs
 * without it; and a statement that fails takes the setting with it. The result is pg's Result,
 * rows parsed by the client's type parsers, as `client.query(text, values)` gives; errors are
 * pg's DatabaseError.
 *
 * pg refuses submittables on a client in pipeline mode. The statement must not be BEGIN, which
 * would keep the transaction and the setting open past the Sync: check
 * `client.getTransactionStatus()` afterwards.
 */
export class ScopedStatement<R extends pg.QueryResultRow = pg.QueryResultRow> implements pg.Submittable {
  /** Called once, with the error or the result; pg's client wraps it for `query_timeout`. */
  callback: ((error: Error | null, result?: pg.QueryResult<R>) => void) | undefined;
  /** Set by the client when its `binary` option is on: the statement's results come in binary. */
  binary = false;
  /** pg's Result, under the name pg's Query uses, so that the client gives it its type parsers. */
  readonly _result: RowParser<R>;
  readonly #setting: string;
  readonly #value: string;
  readonly #text: string;
  readonly #values: readonly unknown[];
  #connection: object | undefined;
  /** Whether the setting's statement was taken as prepared on the connection, not parsed again. */
  #assumedPrepared = false;
  /** Whether the setting's answers (its row and CommandComplete) have been read. */
  #settled = false;
  /** An error parsing a row: reported once the server is done with the statement, as pg's Query does. */
  #rowError: Error | undefined;
  #done = false;
  /**
   * The setting's statement, taken as prepared, was gone (an app statement ran `DEALLOCATE ALL`):
   * the server ran nothing up to the Sync, so the whole can be sent again, parsing it anew.
   */
  retryable = false;

  /** `text` with its `values` (converted as pg converts them), run with `setting` = `value`. */
  constructor(setting: string, value: string, text: string, values: readonly unknown[] = []) {
    this.#setting = setting;
    this.#value = value;
    this.#text = text;
    this.#values = values;
    // The client fills in its type parsers (pg's typings want both arguments).
    this._result = new pg.Result(
      undefined as unknown as string,
      undefined as unknown as typeof pg.types,
    ) as RowParser<R>;
  }

  /**
   * Runs `text` with `setting` set to `value` on `client` (not in pipeline mode) and answers its
   * result. A setting statement found missing on the connection is prepared again and the whole
   * sent once more: the server had run nothing of it.
   */
  static async run<R extends pg.QueryResultRow>(
    client: pg.ClientBase,
    setting: string,
    value: string,
    text: string,
    values?: readonly unknown[],
  ): Promise<pg.QueryResult<R>> {
    const attempt = (statement: ScopedStatement<R>) =>
      new Promise<pg.QueryResult<R>>((resolve, reject) => {
        statement.callback = (error, result) =>
          error ? reject(error) : resolve(result as pg.QueryResult<R>);
        client.query(statement);
      });
    const first = new ScopedStatement<R>(setting, value, text, values);
    try {
      return await attempt(first);
    } catch (error) {
      if (!first.retryable) throw error;
      return attempt(new ScopedStatement<R>(setting, value, text, values));
    }
  }

  /** Writes every message at once; answers an error instead, writing nothing, when a value cannot be converted. */
  submit(connection: pg.Connection): Error | undefined {
    const wire = connection as unknown as Wire;
    let values: (Buffer | string | null)[];
    try {
      values = this.#values.map((value) => prepareValue(value));
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    this.#connection = connection;
    this.#assumedPrepared = prepared.has(connection);
    wire.stream.cork?.();
    try {
      if (!this.#assumedPrepared) {
        // A first use that failed leaves it unknown whether its Parse took; closing a statement
        // that does not exist is no error, so close it and parse it again.
        wire.close({ type: 'S', name: SETTING_STATEMENT });
        wire.parse({ name: SETTING_STATEMENT, text: SETTING_SQL });
      }
      wire.bind({ statement: SETTING_STATEMENT, values: [this.#setting, this.#value] });
      wire.execute({});
      wire.parse({ text: this.#text });
      wire.bind({ values, binary: this.binary });
      wire.describe({ type: 'P' });
      wire.execute({});
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    return undefined;
  }

  /** The statement's columns: the setting is executed without a Describe, so only the statement sends any. */
  handleRowDescription(message: { fields: unknown }): void {
    this._result.addFields(message.fields);
  }

  /** A row: the statement's, parsed and kept, once the setting's own row has gone by. */
  handleDataRow(message: { fields: unknown }): void {
    // Before the setting's CommandComplete, the row is set_config's answer, not the caller's.
    if (!this.#settled || this.#rowError !== undefined) return;
    try {
      this._result.addRow(this._result.parseRow(message.fields));
    } catch (error) {
      this.#rowError = error instanceof Error ? error : new Error(String(error));
    }
  }

  /** The end of the setting (the first) or of the statement (the second, whose tag is kept). */
  handleCommandComplete(message: unknown): void {
    if (this.#settled) this._result.addCommandComplete(message);
    else this.#settled = true;
  }

  /** An empty statement: no CommandComplete follows, and the result stays empty. */
  handleEmptyQuery(): void {}

  /** Never sent: the statement is executed with no row limit. */
  handlePortalSuspended(): void {}

  /** COPY … FROM STDIN has no data to read from here: refused, as pg's Query does. */
  handleCopyInResponse(connection: pg.Connection): void {
    (connection as unknown as Wire).sendCopyFail('No source stream defined');
  }

  /** COPY … TO STDOUT data: dropped, as pg's Query drops it. */
  handleCopyData(): void {}

  /** A server error (the client delivers no ReadyForQuery after it) or a lost connection. */
  handleError(error: Error): void {
    if (this.#connection !== undefined) {
      // Whether the statement survives is unknown: the next use prepares it again.
      prepared.delete(this.#connection);
      this.retryable =
        this.#assumedPrepared &&
        !this.#settled &&
        error instanceof pg.DatabaseError &&
        error.code === UNDEFINED_PREPARED_STATEMENT;
    }
    this.#finish(this.#rowError ?? error);
  }

  /** The Sync's answer: the transaction is over, the result complete. */
  handleReadyForQuery(): void {
    if (this.#connection !== undefined) prepared.add(this.#connection);
    this.#finish(this.#rowError ?? null);
  }

  #finish(error: Error | null): void {
    if (this.#done) return;
    this.#done = true;
    if (error) this.callback?.(error);
    else this.callback?.(null, this._result);
  }
}
