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

/**
 * The setting's statement, prepared once per connection: Bind and Execute are all it costs after
 * that. It answers no row (set_config is volatile, so it runs once all the same): a row would be
 * one more message for the server to send and the client to read, on every query.
 */
const SETTING_STATEMENT = 'tenantry_scoped_setting';
// Qualified, so that a search_path set by earlier SQL on the connection cannot swap the function.
const SETTING_SQL = 'select where pg_catalog.set_config($1, $2, true) is null';

/**
 * What every checkout undoes first, whatever SQL of an earlier one left on the session: every
 * setting back to its value at connection start (`RESET ALL`), the sequence state (an INSERT of
 * the last checkout left `lastval()` and `currval()` answering the id its row got), then the role
 * (not reset by RESET ALL) and the session's advisory locks. The statements are utility commands,
 * one each; the calls go into one SELECT. A clean query() runs them before its setting (see
 * {@link ScopedStatementOptions.clean}), and transaction() after its BEGIN.
 */
export const SESSION_CLEAN = {
  statements: ['reset all', 'discard sequences'],
  calls: ['pg_catalog.pg_advisory_unlock_all()', "pg_catalog.set_config('role', 'none', false)"],
} as const;

/** {@link SESSION_CLEAN} as prepared statements, in the same round trip and implicit transaction as the setting, the last of them. */
const CLEAN: readonly (readonly [name: string, text: string])[] = [
  ...SESSION_CLEAN.statements.map((text, i) => [`tenantry_scoped_clean_${i}`, text] as const),
  [
    'tenantry_scoped_clean_setting',
    `select from ${SESSION_CLEAN.calls.map((call, i) => `${call} c${i}`).join(', ')} where pg_catalog.set_config($1, $2, true) is null`,
  ],
];
const PLAIN: readonly (readonly [name: string, text: string])[] = [[SETTING_STATEMENT, SETTING_SQL]];

/** SQLSTATE invalid_sql_statement_name: `prepared statement "…" does not exist`. */
const UNDEFINED_PREPARED_STATEMENT = '26000';
/**
 * SQLSTATE feature_not_supported, raised by this server routine when a prepared statement's
 * result columns changed under it (`cached plan must not change result type`, after DDL).
 */
const STALE_PLAN = { code: '0A000', routine: 'RevalidateCachedQuery' } as const;

/** What is prepared on one connection, as far as scoped statements know. */
interface ConnectionStatements {
  /** Whether {@link SETTING_STATEMENT} exists (its last use succeeded). */
  setting: boolean;
  /** Whether the statements of {@link CLEAN} exist (their last use succeeded). */
  clean: boolean;
  /** The statements prepared for their text, least recently used first. */
  readonly byText: Map<string, string>;
  /**
   * Names that may exist or not, left by a failed round trip (the server skips what follows an
   * error): closed at the next one, which is harmless when they do not exist.
   */
  readonly doubtful: Set<string>;
  /** Numbers the next statement's name, so a name is never used for two texts. */
  next: number;
}

const connections = new WeakMap<object, ConnectionStatements>();

/**
 * Forgets what the connection of `client` is known to hold, after `DEALLOCATE ALL` or
 * `DISCARD ALL` ran on it: the next statement prepares the setting's statement and its own again.
 */
export function forgetStatements(client: pg.ClientBase): void {
  connections.delete((client as unknown as { connection: object }).connection);
}

function statementsOf(connection: object): ConnectionStatements {
  let statements = connections.get(connection);
  if (statements === undefined) {
    statements = { setting: false, clean: false, byText: new Map(), doubtful: new Set(), next: 0 };
    connections.set(connection, statements);
  }
  return statements;
}

/** Options of {@link ScopedStatement}. */
export interface ScopedStatementOptions {
  /**
   * How many statements to keep prepared on each connection, by text, least recently used
   * evicted: a statement run again costs only its Bind and Execute on the server, no parse or
   * plan. 0 sends each statement unnamed, to be parsed and planned every time. Default 0.
   */
  readonly prepare?: number;
  /**
   * Start from a clean session: `RESET ALL`, `DISCARD SEQUENCES`, the role reset and the session's
   * advisory locks released, before the setting, in the same round trip. What a plain data
   * statement of an earlier checkout could leave behind (`set_config(…, false)`,
   * `pg_advisory_lock`, the `lastval()` of its INSERT) is gone before this statement runs.
   * Default false.
   */
  readonly clean?: boolean;
}

/**
 * One statement run with a transaction-local setting, in one round trip and one transaction,
 * without BEGIN or COMMIT. A pg submittable: it writes Bind/Execute of
 * `set_config(setting, value, true)` (a statement prepared once per connection), then
 * Parse/Bind/Describe/Execute of the statement (only Bind/Describe/Execute when it is kept
 * prepared, see {@link ScopedStatementOptions.prepare}), then a single Sync.
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
  readonly #prepare: number;
  readonly #clean: boolean;
  /** The prefix statements' CommandCompletes still to come before the statement's own. */
  #prefixLeft: number;
  #statements: ConnectionStatements | undefined;
  /** Whether the setting's statement was taken as prepared on the connection, not parsed again. */
  #settingAssumed = false;
  /** The name the statement was taken as prepared under, or parsed under now. */
  #reused: string | undefined;
  #parsed: string | undefined;
  /** The name of a statement closed to make room. */
  #evicted: string | undefined;
  /** Whether the setting's CommandComplete has been read: what follows is the statement's. */
  #settled = false;
  /** An error parsing a row: reported once the server is done with the statement, as pg's Query does. */
  #rowError: Error | undefined;
  #done = false;
  /**
   * A statement taken as prepared was gone (an app statement ran `DEALLOCATE ALL`) or its plan
   * no longer fits the tables: the server ran nothing of the statement before refusing it, and
   * rolled back the setting, so the whole can be sent again, parsing it anew.
   */
  retryable = false;

  /** `text` with its `values` (converted as pg converts them), run with `setting` = `value`. */
  constructor(
    setting: string,
    value: string,
    text: string,
    values: readonly unknown[] = [],
    options: ScopedStatementOptions = {},
  ) {
    this.#setting = setting;
    this.#value = value;
    this.#text = text;
    this.#values = values;
    this.#prepare = options.prepare ?? 0;
    this.#clean = options.clean === true;
    this.#prefixLeft = (this.#clean ? CLEAN : PLAIN).length;
    // The client fills in its type parsers (pg's typings want both arguments).
    this._result = new pg.Result(
      undefined as unknown as string,
      undefined as unknown as typeof pg.types,
    ) as RowParser<R>;
  }

  /**
   * Runs `text` with `setting` set to `value` on `client` (not in pipeline mode) and answers its
   * result. A statement taken as prepared on the connection but found gone or stale is prepared
   * again and the whole sent once more: the server had run nothing of it.
   */
  static run<R extends pg.QueryResultRow>(
    client: pg.ClientBase,
    setting: string,
    value: string,
    text: string,
    values?: readonly unknown[],
    options?: ScopedStatementOptions,
  ): Promise<pg.QueryResult<R>> {
    return new Promise((resolve, reject) => {
      ScopedStatement.send<R>(client, setting, value, text, values, options, (error, result) =>
        error ? reject(error) : resolve(result as pg.QueryResult<R>),
      );
    });
  }

  /**
   * {@link run} with a callback, called once: for callers on a hot path that would otherwise
   * wrap a promise in another.
   */
  static send<R extends pg.QueryResultRow>(
    client: pg.ClientBase,
    setting: string,
    value: string,
    text: string,
    values: readonly unknown[] | undefined,
    options: ScopedStatementOptions | undefined,
    callback: (error: Error | null, result?: pg.QueryResult<R>) => void,
  ): void {
    const attempt = (retried: boolean) => {
      const statement = new ScopedStatement<R>(setting, value, text, values, options);
      statement.callback = (error, result) => {
        if (error !== null && statement.retryable && !retried) attempt(true);
        else callback(error, result);
      };
      try {
        client.query(statement);
      } catch (error) {
        callback(error instanceof Error ? error : new Error(String(error)));
      }
    };
    attempt(false);
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
    const statements = statementsOf(connection);
    this.#statements = statements;
    const prefix = this.#clean ? CLEAN : PLAIN;
    this.#settingAssumed = this.#clean ? statements.clean : statements.setting;
    wire.stream.cork?.();
    try {
      for (const name of statements.doubtful) wire.close({ type: 'S', name });
      statements.doubtful.clear();
      if (!this.#settingAssumed)
        for (const [name, text] of prefix) {
          // A use that failed leaves it unknown whether its Parse took; closing a statement that
          // does not exist is no error, so close it and parse it again.
          wire.close({ type: 'S', name });
          wire.parse({ name, text });
        }
      // The setting's statement is the last; the others take no parameter.
      prefix.forEach(([name], i) => {
        wire.bind({ statement: name, values: i === prefix.length - 1 ? [this.#setting, this.#value] : [] });
        wire.execute({});
      });
      const name = this.#prepare > 0 ? this.#named(wire, statements) : undefined;
      if (name === undefined) wire.parse({ text: this.#text });
      wire.bind(
        name === undefined
          ? { values, binary: this.binary }
          : { statement: name, values, binary: this.binary },
      );
      wire.describe({ type: 'P' });
      wire.execute({});
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    return undefined;
  }

  /**
   * The name the statement is prepared under on the connection: the one it has, or a new one,
   * parsed now after closing the least recently used when the connection holds its share.
   * Counted as done at once; a failure corrects it.
   */
  #named(wire: Wire, statements: ConnectionStatements): string {
    const { byText } = statements;
    const reused = byText.get(this.#text);
    if (reused !== undefined) {
      // Most recently used goes last.
      byText.delete(this.#text);
      byText.set(this.#text, reused);
      this.#reused = reused;
      return reused;
    }
    if (byText.size >= this.#prepare) {
      const [oldest, evicted] = byText.entries().next().value as [string, string];
      byText.delete(oldest);
      wire.close({ type: 'S', name: evicted });
      this.#evicted = evicted;
    }
    const name = `tenantry_scoped_${statements.next++}`;
    wire.parse({ name, text: this.#text });
    byText.set(this.#text, name);
    this.#parsed = name;
    return name;
  }

  /** The statement's columns: the setting is executed without a Describe, so only the statement sends any. */
  handleRowDescription(message: { fields: unknown }): void {
    this._result.addFields(message.fields);
  }

  /** A row of the statement, parsed and kept. */
  handleDataRow(message: { fields: unknown }): void {
    if (this.#rowError !== undefined) return;
    try {
      this._result.addRow(this._result.parseRow(message.fields));
    } catch (error) {
      this.#rowError = error instanceof Error ? error : new Error(String(error));
    }
  }

  /** The end of a prefix statement (the setting, and the reset before it) or of the statement (the last, whose tag is kept). */
  handleCommandComplete(message: unknown): void {
    if (this.#settled) this._result.addCommandComplete(message);
    else if (--this.#prefixLeft === 0) this.#settled = true;
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
    const statements = this.#statements;
    if (statements !== undefined) {
      // The server skipped everything after the failing message: what this round trip prepared
      // or closed may or may not have happened. The setting's statement ran if the error came after it.
      if (!this.#settled) {
        if (this.#clean) statements.clean = false;
        else statements.setting = false;
      }
      if (this.#evicted !== undefined) statements.doubtful.add(this.#evicted);
      if (this.#parsed !== undefined) this.#forget(statements, this.#parsed);
      const code = error instanceof pg.DatabaseError ? error.code : undefined;
      if (code === UNDEFINED_PREPARED_STATEMENT) {
        // Gone, most likely by DEALLOCATE ALL: nothing taken as prepared here can be trusted.
        for (const name of statements.byText.values()) statements.doubtful.add(name);
        statements.byText.clear();
        this.retryable = this.#settled ? this.#reused !== undefined : this.#settingAssumed;
      } else if (
        this.#reused !== undefined &&
        this.#settled &&
        code === STALE_PLAN.code &&
        (error as pg.DatabaseError).routine === STALE_PLAN.routine
      ) {
        this.#forget(statements, this.#reused);
        this.retryable = true;
      }
    }
    this.#finish(this.#rowError ?? error);
  }

  /** The Sync's answer: the transaction is over, the result complete. */
  handleReadyForQuery(): void {
    if (this.#statements !== undefined) {
      if (this.#clean) this.#statements.clean = true;
      else this.#statements.setting = true;
    }
    this.#finish(this.#rowError ?? null);
  }

  /** Drops `name` from what the connection is known to hold, to be closed at the next round trip. */
  #forget(statements: ConnectionStatements, name: string): void {
    if (statements.byText.get(this.#text) === name) statements.byText.delete(this.#text);
    statements.doubtful.add(name);
  }

  #finish(error: Error | null): void {
    if (this.#done) return;
    this.#done = true;
    if (error) this.callback?.(error);
    else this.callback?.(null, this._result);
  }
}
