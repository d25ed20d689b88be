/**
 * The database stores as layers: `layerSqlite` (a file, no set-up), `layerPg` (a PostgreSQL URL) and
 * `layerFromUrl` (`sqlite:PATH` or `postgres://…`). Each opens the database, brings the schema up to date,
 * checks that every sealed row opens with the keys given, and provides `AccountStore` and `StoreAdmin`.
 *
 * The drivers are optional peer dependencies, loaded only by the layer that needs them: a PostgreSQL user
 * does not need better-sqlite3 installed, nor a SQLite user `pg`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { StoreError } from "../Domain/Errors.js"
import { AccountStore } from "../services/AccountStore.js"
import { keysFromConfig, parseKeys } from "./Secrets.js"
import * as SqlStore from "./SqlStore.js"

/** Options every database store takes. */
export interface CommonOptions {
  /**
   * The keys (base64 of 32 bytes, comma-separated, the first sealing): by default `AGENT_IDENTITY_STORE_KEY`.
   */
  readonly key?: Redacted.Redacted<string> | undefined
  /** How long a lease holds without a heartbeat (default 30 s). */
  readonly leaseDuration?: Duration.DurationInput | undefined
  /** How long to wait for another holder's lease (default 5 minutes). */
  readonly lockTimeout?: Duration.DurationInput | undefined
}

/** Options of the SQLite store. */
export interface SqliteOptions extends CommonOptions {
  /** The database file (created, mode 0600, with its folder, when missing, unless `create` is false). */
  readonly filename: string
  /**
   * Whether a missing file is created (default true). False: a missing file is a `StoreError` ("Location"),
   * so that a mistyped path is not taken for an empty store.
   */
  readonly create?: boolean | undefined
  /** How long a write waits for another process's write lock (SQLite's `busy_timeout`, default 10 s). */
  readonly busyTimeout?: Duration.DurationInput | undefined
}

/** Options of the PostgreSQL store. */
export interface PgOptions extends CommonOptions {
  /** `postgres://user:password@host:port/database` (kept redacted; the password is never shown). */
  readonly url: Redacted.Redacted<string> | string
  /** Connections in the pool (default 10). */
  readonly maxConnections?: number | undefined
}

/** The URL without its password or query, for messages. */
export const secretFreeLocation = (url: string): string => {
  try {
    const parsed = new URL(url)
    const user = parsed.username.length > 0 ? `${decodeURIComponent(parsed.username)}@` : ""
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`
  } catch {
    return "postgres://(unparseable URL)"
  }
}

const unavailable = (location: string, module: string) => (cause: unknown) =>
  new StoreError({
    reason: "Database",
    location,
    detail: `${module} cannot be loaded (${cause instanceof Error ? cause.message.split("\n")[0] : "unknown"}): install it beside effect-agent-identity`
  })

const keysOf = (options: CommonOptions, location: string) =>
  options.key === undefined
    ? keysFromConfig(location)
    : Either.match(parseKeys(options.key, location), { onLeft: Effect.fail, onRight: Effect.succeed })

const open = (
  client: Effect.Effect<SqlClient.SqlClient, StoreError, Scope.Scope>,
  location: string,
  options: CommonOptions
): Layer.Layer<AccountStore | SqlStore.StoreAdmin, StoreError> =>
  Layer.scopedContext(Effect.gen(function*() {
    const keys = yield* keysOf(options, location)
    const sql = yield* client
    const store = yield* Effect.provideService(
      Effect.zipRight(
        Effect.zipRight(SqlStore.migrate(location), SqlStore.checkKeys(keys, location)),
        SqlStore.make({ location, keys, leaseDuration: options.leaseDuration, lockTimeout: options.lockTimeout })
      ),
      SqlClient.SqlClient,
      sql
    )
    return Context.make(AccountStore, store).pipe(Context.add(SqlStore.StoreAdmin, store))
  }))

/** The store on a SQLite file: no server, one host (processes on it share the file's locks). */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<AccountStore | SqlStore.StoreAdmin, StoreError> => {
  const filename = path.resolve(options.filename)
  const location = `sqlite:${filename}`
  const busyMillis = Math.round(Duration.toMillis(Duration.decode(options.busyTimeout ?? Duration.seconds(10))))
  const client = Effect.gen(function*() {
    const driver = yield* Effect.tryPromise({
      try: () => import("@effect/sql-sqlite-node/SqliteClient"),
      catch: unavailable(location, "@effect/sql-sqlite-node (and better-sqlite3)")
    })
    if (options.create === false && !fs.existsSync(filename)) {
      return yield* new StoreError({ reason: "Location", location, detail: "no database file here (a store is created by `pool import`)" })
    }
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(path.dirname(filename), { recursive: true, mode: 0o700 })
        // Created 0600 before SQLite opens it (SQLite would create it with the umask's mode).
        fs.closeSync(fs.openSync(filename, "a", 0o600))
      },
      catch: (cause) =>
        new StoreError({ reason: "Database", location, detail: `cannot create the database file: ${cause instanceof Error ? cause.message : "unknown"}` })
    })
    const context = yield* Layer.build(driver.layer({ filename })).pipe(
      Effect.catchAllCause((cause) =>
        Effect.fail(new StoreError({ reason: "Database", location, detail: `cannot open the database: ${String(cause).split("\n")[0]}` })))
    )
    const sql = Context.get(context, SqlClient.SqlClient)
    yield* Effect.mapError(
      sql.unsafe(`PRAGMA busy_timeout = ${busyMillis}`),
      (e) => new StoreError({ reason: "Database", location, detail: `cannot set busy_timeout: ${e.message}` })
    )
    return sql
  })
  return open(client, location, options)
}

/** The store on PostgreSQL: many hosts, one database. */
export const layerPg = (options: PgOptions): Layer.Layer<AccountStore | SqlStore.StoreAdmin, StoreError> => {
  const url = typeof options.url === "string" ? Redacted.make(options.url) : options.url
  const location = secretFreeLocation(Redacted.value(url))
  const client = Effect.gen(function*() {
    const driver = yield* Effect.tryPromise({
      try: () => import("@effect/sql-pg/PgClient"),
      catch: unavailable(location, "@effect/sql-pg (and pg)")
    })
    const context = yield* Layer.build(
      driver.layer({ url, maxConnections: options.maxConnections ?? 10, applicationName: "effect-agent-identity" })
    ).pipe(
      Effect.catchAllCause((cause) =>
        Effect.fail(
          new StoreError({
            reason: "Database",
            location,
            detail: `cannot connect: ${String(cause).split("\n")[0]!.replaceAll(Redacted.value(url), location)}`
          })
        ))
    )
    return Context.get(context, SqlClient.SqlClient)
  })
  return open(client, location, options)
}

/** Parses a store location: `sqlite:PATH` or `postgres://…` (`postgresql://` too). */
export const parseLocation = (
  url: string
): Either.Either<{ readonly _tag: "Sqlite"; readonly filename: string } | { readonly _tag: "Pg"; readonly url: string }, StoreError> => {
  if (url.startsWith("sqlite:")) {
    const filename = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "")
    return filename.length === 0
      ? Either.left(new StoreError({ reason: "Location", location: "sqlite:", detail: "sqlite: needs a file path (sqlite:PATH)" }))
      : Either.right({ _tag: "Sqlite", filename })
  }
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return Either.right({ _tag: "Pg", url })
  return Either.left(
    new StoreError({
      reason: "Location",
      location: url.includes("@") ? "(a URL with credentials)" : url.slice(0, 100),
      detail: "a store is sqlite:PATH or postgres://user@host:port/database"
    })
  )
}

/** The store a location names: `sqlite:PATH` or `postgres://…`. */
export const layerFromUrl = (
  url: string,
  options: CommonOptions & Omit<SqliteOptions, "filename" | keyof CommonOptions> & Omit<PgOptions, "url" | keyof CommonOptions> = {}
): Layer.Layer<AccountStore | SqlStore.StoreAdmin, StoreError> =>
  Either.match(parseLocation(url), {
    onLeft: (e) => Layer.fail(e),
    onRight: (parsed) =>
      parsed._tag === "Sqlite" ? layerSqlite({ ...options, filename: parsed.filename }) : layerPg({ ...options, url: parsed.url })
  })
