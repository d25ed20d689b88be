/**
 * The `AccountStore` on a SQL database through `@effect/sql`: the same code for SQLite and PostgreSQL, the
 * dialects differing only in the clock, the write transaction and the schema lock (see `Migrations.ts` for
 * the tables).
 *
 * Each account is a `KeyStore.makeFromBackend` over its rows: the auth.json document is split into the login
 * (every field but `agent_identity`, with the slot's position kept) and the identity slot, each sealed with
 * `Secrets` and bound to its row; plain columns say only what `list` shows (the login's kind, the identity's
 * form and runtime id, a version, times).
 *
 * The account's lock is a lease row: taken by one atomic upsert that succeeds only when the row is free or its
 * expiry has passed (the database's clock, so hosts need not agree on time), kept alive by a heartbeat while
 * held, and deleted on release. A holder that dies stops its heartbeat: the lease expires and the next process
 * takes it. Every write of the account's documents made under the lease is fenced: it commits only while the
 * lease is still this holder's, so a holder that lost its lease (paused past its expiry) cannot overwrite the
 * identity its successor stored. Writes are also versioned (compare-and-set on the login row's version).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { randomBytes, randomInt } from "node:crypto"
import * as os from "node:os"
import { type AuthDocument, readState } from "../Domain/AuthDocument.js"
import { AccountNotFoundError, KeyStoreError, StoreError } from "../Domain/Errors.js"
import { decodeUnverified } from "../Domain/IdentityJwt.js"
import {
  type AccountEntry,
  type AccountKey,
  accountKeyString,
  type AuditEvent,
  documentToStore,
  keyOfDocument,
  type Service as AccountStoreService
} from "../services/AccountStore.js"
import * as KeyStore from "../services/KeyStore.js"
import * as Migrations from "./Migrations.js"
import { associatedData, type Keys, open, seal } from "./Secrets.js"

/** Options of a database store. */
export interface Options {
  /** Where the store is, secret-free (`sqlite:/path`, `postgres://user@host:port/db`): names it in errors. */
  readonly location: string
  readonly keys: Keys
  /** How long a lease holds without a heartbeat (default 30 s); the heartbeat renews it every third of that. */
  readonly leaseDuration?: Duration.DurationInput | undefined
  /** How long to wait for another holder's lease before failing `KeyStoreError` `Lock` (default 5 minutes). */
  readonly lockTimeout?: Duration.DurationInput | undefined
}

/** A recorded audit event, as `auditEvents` reads it back. */
export interface AuditRecord extends AuditEvent {
  readonly at: Date
}

/** What `rotate` did. */
export interface RotateReport {
  /** Rows re-sealed with the current key. */
  readonly resealed: number
  /** The id of the current key. */
  readonly keyId: string
}

/** The store's own operations beside the `AccountStore` service. */
export interface Admin {
  readonly location: string
  /** Re-seals every row not sealed with the current key (the first of `AGENT_IDENTITY_STORE_KEY`). */
  readonly rotate: Effect.Effect<RotateReport, StoreError>
  /** The audit, oldest first (of one account when given). */
  readonly auditEvents: (key?: AccountKey) => Effect.Effect<ReadonlyArray<AuditRecord>, StoreError>
}

/** The store's own operations as a service (provided with `AccountStore` by the store's layers). */
export class StoreAdmin extends Context.Tag("effect-agent-identity/StoreAdmin")<StoreAdmin, Admin>() {}

const SLOT = "agent_identity"
const NO_USER = ""
const userOf = (key: AccountKey): string => Option.getOrElse(key.userId, () => NO_USER)
const keyOf = (accountId: string, userId: string): AccountKey => ({
  accountId,
  userId: userId === NO_USER ? Option.none() : Option.some(userId)
})

/** Tables holding sealed values, with the columns of their row keys (for the key check and rotation). */
const SEALED_TABLES = [
  { table: "agent_identity_logins", keys: ["account_id", "user_id"] },
  { table: "agent_identity_identities", keys: ["account_id", "user_id"] },
  { table: "agent_identity_jwt_tasks", keys: ["account_id", "user_id", "task_key"] },
  { table: "agent_identity_session_tasks", keys: ["account_id", "user_id", "session_key", "agent_runtime_id"] }
] as const

/** The associated data of a sealed column: the table and the row's key. */
const adOf = (table: string, parts: ReadonlyArray<string>) => associatedData(table, "secret", ...parts)

const messageOf = (cause: unknown): string => {
  const inner = typeof cause === "object" && cause !== null && "cause" in cause ? (cause as { cause: unknown }).cause : cause
  const text = inner instanceof Error ? inner.message : String(inner)
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

/** The form of an identity slot value, for the plain column. */
const formOf = (value: unknown): { readonly form: string; readonly runtimeId: string | null } => {
  if (value === null || value === undefined) return { form: "absent", runtimeId: null }
  const state = readState({ [SLOT]: value })
  if (Either.isLeft(state)) return { form: "foreign", runtimeId: null }
  const slot = state.right.identity
  switch (slot._tag) {
    case "Record":
      return { form: slot.forms.current ? "record-2026-06" : "record-2026-04", runtimeId: slot.record.agent_runtime_id }
    case "Jwt":
      return {
        form: "jwt",
        runtimeId: Either.getOrNull(Either.map(decodeUnverified(Redacted.value(slot.jwt)), (claims) => claims.agent_runtime_id))
      }
    case "Absent":
      return { form: "absent", runtimeId: null }
    case "Foreign":
      return { form: "foreign", runtimeId: null }
  }
}

/** What identifies an identity, to tell a registration from a renewal in the audit (never a secret). */
const identityMark = (value: unknown): string | undefined => {
  if (value === null || value === undefined) return undefined
  const { form, runtimeId } = formOf(value)
  return runtimeId ?? form
}

/** Builds the store on the ambient SqlClient (migrated already: see the layers). */
export const make = (
  options: Options
): Effect.Effect<AccountStoreService & Admin, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { keys, location } = options
    const leaseMillis = Duration.toMillis(Duration.decode(options.leaseDuration ?? Duration.seconds(30)))
    const lockTimeout = Duration.decode(options.lockTimeout ?? Duration.minutes(5))
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const nowSql = sql.literal(
      isPg ? "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)" : "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    )
    const holderPrefix = `${os.hostname()}/${process.pid}/`

    const dbError = (key: AccountKey | undefined, what: string) => (error: SqlError) =>
      new KeyStoreError({
        reason: "Database",
        path: key === undefined ? location : `${location} (account ${key.accountId})`,
        detail: `${what} failed`,
        systemError: messageOf(error)
      })
    const adminError = (what: string) => (error: SqlError) =>
      new StoreError({ reason: "Database", location, detail: `${what} failed: ${messageOf(error)}` })

    /** One write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock up front, waiting `busy_timeout`). */
    const transaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
      isPg
        ? sql.withTransaction(self)
        : Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (inside) =>
          Option.isSome(inside) ? self : immediate(self))
    const immediate = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.scoped(Effect.gen(function*() {
          const conn = yield* sql.reserve
          yield* conn.executeUnprepared("BEGIN IMMEDIATE", [], undefined)
          const exit = yield* Effect.exit(restore(Effect.provideService(self, SqlClient.TransactionConnection, [conn, 0])))
          if (Exit.isSuccess(exit)) {
            const committed = yield* Effect.either(conn.executeUnprepared("COMMIT", [], undefined))
            if (Either.isRight(committed)) return exit.value
            yield* Effect.ignore(conn.executeUnprepared("ROLLBACK", [], undefined))
            return yield* Effect.fail(committed.left)
          }
          yield* Effect.ignore(conn.executeUnprepared("ROLLBACK", [], undefined))
          return yield* exit
        }))
      )

    const sealFor = (table: string, parts: ReadonlyArray<string>, plaintext: string) => seal(keys, adOf(table, parts), plaintext)
    const openFor = (key: AccountKey, table: string, parts: ReadonlyArray<string>, keyId: string, value: string) =>
      Either.mapLeft(open(keys, adOf(table, parts), { keyId, value }), (why) =>
        new KeyStoreError({
          reason: "Encryption",
          path: `${location} (account ${key.accountId})`,
          detail: why === "unknown key"
            ? `a row of ${table} is sealed with key ${keyId}, which is not among the store's keys`
            : `a row of ${table} does not open with its key (${why})`
        }))
    const fromEither = <A, E>(either: Either.Either<A, E>): Effect.Effect<A, E> =>
      Either.match(either, { onLeft: Effect.fail, onRight: Effect.succeed })

    const audit = (event: AuditEvent) =>
      sql`INSERT INTO agent_identity_audit (at, account_id, user_id, action, detail) VALUES (${nowSql}, ${event.accountId}, ${
        Option.getOrElse(event.userId, () => NO_USER)
      }, ${event.action}, ${event.detail})`

    // The lease a fiber holds, per account (set by the lock, read by the fenced writes).
    const heldLease = FiberRef.unsafeMake<ReadonlyMap<string, string>>(new Map())

    interface Row {
      readonly version: number | string
      readonly lk: string
      readonly ls: string
      readonly ik: string | null
      readonly is: string | null
    }

    interface Account {
      readonly store: KeyStore.Service
      readonly modify: KeyStore.Document["modify"]
    }

    const accountBackend = (key: AccountKey): Effect.Effect<Account> => {
      const accountId = key.accountId
      const userId = userOf(key)
      const rowKey = [accountId, userId]
      const where = `${location} (account ${accountId})`
      let cache: { readonly version: number; readonly doc: AuthDocument } | undefined

      const loadRow = sql<Row>`SELECT l.version AS version, l.key_id AS lk, l.secret AS ls, i.key_id AS ik, i.secret AS "is"
FROM agent_identity_logins l LEFT JOIN agent_identity_identities i ON i.account_id = l.account_id AND i.user_id = l.user_id
WHERE l.account_id = ${accountId} AND l.user_id = ${userId}`

      /** The document and its version (None: no login row). */
      const loadVersioned: Effect.Effect<Option.Option<{ readonly version: number; readonly doc: AuthDocument }>, KeyStoreError> = Effect
        .flatMap(Effect.mapError(loadRow, dbError(key, "reading the account")), (rows) => {
          const row = rows[0]
          if (row === undefined) return Effect.succeed(Option.none())
          const version = Number(row.version)
          if (cache !== undefined && cache.version === version) return Effect.succeed(Option.some(cache))
          return Effect.gen(function*() {
            const loginText = yield* fromEither(openFor(key, "agent_identity_logins", rowKey, row.lk, row.ls))
            const login = JSON.parse(loginText) as Record<string, unknown>
            const doc: Record<string, unknown> = {}
            const identity = row.ik !== null && row.is !== null
              ? Option.some(JSON.parse(yield* fromEither(openFor(key, "agent_identity_identities", rowKey, row.ik, row.is))) as unknown)
              : Option.none<unknown>()
            for (const [field, value] of Object.entries(login)) {
              if (field !== SLOT) doc[field] = value
              else if (Option.isSome(identity)) doc[field] = identity.value
            }
            if (!(SLOT in login) && Option.isSome(identity)) doc[SLOT] = identity.value
            cache = { version, doc }
            return Option.some(cache)
          })
        })

      /** Fails unless the fiber's lease on this account is still the holder's (the fence of a write). */
      const fence = Effect.flatMap(FiberRef.get(heldLease), (held) => {
        const token = held.get(accountKeyString(key))
        if (token === undefined) return Effect.void
        const check = isPg
          ? sql<{ holder: string }>`SELECT holder FROM agent_identity_leases WHERE account_id = ${accountId} AND user_id = ${userId} FOR UPDATE`
          : sql<{ holder: string }>`SELECT holder FROM agent_identity_leases WHERE account_id = ${accountId} AND user_id = ${userId}`
        return Effect.flatMap(check, (rows) =>
          rows[0]?.holder === token
            ? Effect.void
            : Effect.fail(new KeyStoreError({ reason: "Lock", path: where, detail: "the account's lease expired and was taken by another holder; nothing was written" })))
      })

      // A new row's version starts at random, not at 1: a row removed and inserted again must not repeat the
      // version a process still holds for the old row (its cached document would be taken for the new one).
      const firstVersion = () => randomInt(1, 2 ** 47)

      /** Writes `next` over the version read (or inserts it), with the audit of an identity change; false on a lost race. */
      const write = (
        current: Option.Option<{ readonly version: number; readonly doc: AuthDocument }>,
        next: AuthDocument,
        auditIdentity: boolean
      ) =>
        transaction(Effect.gen(function*() {
          yield* fence
          const login: Record<string, unknown> = {}
          for (const [field, value] of Object.entries(next)) login[field] = field === SLOT ? 0 : value
          const state = readState(next)
          const loginKind = Either.isRight(state) ? state.right.login._tag : "Unparseable"
          const sealedLogin = sealFor("agent_identity_logins", rowKey, JSON.stringify(login))
          const written = Option.isNone(current)
            ? yield* sql<{ version: number }>`INSERT INTO agent_identity_logins (account_id, user_id, login, key_id, secret, version, updated_at)
VALUES (${accountId}, ${userId}, ${loginKind}, ${sealedLogin.keyId}, ${sealedLogin.value}, ${firstVersion()}, ${nowSql})
ON CONFLICT (account_id, user_id) DO NOTHING RETURNING version`
            : yield* sql<{ version: number }>`UPDATE agent_identity_logins SET login = ${loginKind}, key_id = ${sealedLogin.keyId},
secret = ${sealedLogin.value}, version = version + 1, updated_at = ${nowSql}
WHERE account_id = ${accountId} AND user_id = ${userId} AND version = ${current.value.version} RETURNING version`
          if (written.length === 0) return false
          const before = Option.isSome(current) ? current.value.doc[SLOT] : undefined
          const after = next[SLOT]
          if (JSON.stringify(before) !== JSON.stringify(after)) {
            if (!(SLOT in next)) {
              yield* sql`DELETE FROM agent_identity_identities WHERE account_id = ${accountId} AND user_id = ${userId}`
            } else {
              const { form, runtimeId } = formOf(after)
              const sealed = sealFor("agent_identity_identities", rowKey, JSON.stringify(after))
              yield* sql`INSERT INTO agent_identity_identities (account_id, user_id, form, agent_runtime_id, key_id, secret, updated_at)
VALUES (${accountId}, ${userId}, ${form}, ${runtimeId}, ${sealed.keyId}, ${sealed.value}, ${nowSql})
ON CONFLICT (account_id, user_id) DO UPDATE SET form = excluded.form, agent_runtime_id = excluded.agent_runtime_id,
key_id = excluded.key_id, secret = excluded.secret, updated_at = excluded.updated_at`
            }
            const [was, is] = [identityMark(before), identityMark(after)]
            if (auditIdentity && was !== is) {
              const detail = (mark: string | undefined) => mark ?? formOf(after ?? before).form
              yield* audit({
                action: is === undefined ? "revoked" : was === undefined ? "registered" : "renewed",
                accountId,
                userId: key.userId,
                detail: is === undefined ? `identity ${detail(was)} removed` : detail(is)
              })
            }
          }
          return true
        }))

      /** Edits the document (`auditIdentity`: record a change of identity as registered, renewed or revoked). */
      const modifyWith = (auditIdentity: boolean) =>
      <E>(
        edit: (doc: Option.Option<AuthDocument>) => Either.Either<Option.Option<AuthDocument>, E>
      ): Effect.Effect<boolean, E | KeyStoreError> =>
        Effect.gen(function*() {
          // A lost compare-and-set (another writer in between) reads again; the lease makes that rare.
          for (let attempt = 0;; attempt++) {
            const current = yield* loadVersioned
            const next = edit(Option.map(current, (c) => c.doc))
            if (Either.isLeft(next)) return yield* Effect.fail(next.left)
            if (Option.isNone(next.right)) return false
            const done = yield* Effect.mapError(write(current, next.right.value, auditIdentity), (e) =>
              e._tag === "KeyStoreError" ? e : dbError(key, "writing the account")(e))
            if (done) return true
            if (attempt >= 20) {
              return yield* Effect.fail(new KeyStoreError({ reason: "Lock", path: where, detail: "the account kept changing under a write" }))
            }
          }
        })

      interface TaskRow {
        readonly task_key: string
        readonly key_id: string
        readonly secret: string
      }
      const tasksLoad: Effect.Effect<Option.Option<AuthDocument>, KeyStoreError> = Effect.flatMap(
        Effect.mapError(
          sql<TaskRow>`SELECT task_key, key_id, secret FROM agent_identity_jwt_tasks WHERE account_id = ${accountId} AND user_id = ${userId} ORDER BY task_key`,
          dbError(key, "reading the tasks")
        ),
        (rows) =>
          rows.length === 0 ? Effect.succeed(Option.none()) : Effect.map(
            Effect.forEach(rows, (row) =>
              Effect.map(
                fromEither(openFor(key, "agent_identity_jwt_tasks", [...rowKey, row.task_key], row.key_id, row.secret)),
                (task) => [row.task_key, task] as const
              )),
            (entries) => Option.some({ jwt_tasks: Object.fromEntries(entries) })
          )
      )
      const taskMap = (doc: Option.Option<AuthDocument>): ReadonlyMap<string, string> => {
        const tasks = Option.getOrUndefined(doc)?.["jwt_tasks"]
        const out = new Map<string, string>()
        if (typeof tasks === "object" && tasks !== null) {
          for (const [k, v] of Object.entries(tasks)) if (typeof v === "string") out.set(k, v)
        }
        return out
      }
      const tasks: KeyStore.Document = {
        location: `${where} (tasks)`,
        load: tasksLoad,
        modify: <E>(edit: (doc: Option.Option<AuthDocument>) => Either.Either<Option.Option<AuthDocument>, E>) =>
          Effect.gen(function*() {
            const current = yield* tasksLoad
            const next = edit(current)
            if (Either.isLeft(next)) return yield* Effect.fail(next.left)
            if (Option.isNone(next.right)) return false
            const before = taskMap(current)
            const after = taskMap(next.right)
            yield* Effect.mapError(
              transaction(Effect.gen(function*() {
                yield* fence
                for (const k of before.keys()) {
                  if (!after.has(k)) {
                    yield* sql`DELETE FROM agent_identity_jwt_tasks WHERE account_id = ${accountId} AND user_id = ${userId} AND task_key = ${k}`
                  }
                }
                for (const [k, task] of after) {
                  if (before.get(k) === task) continue
                  const sealed = sealFor("agent_identity_jwt_tasks", [...rowKey, k], task)
                  yield* sql`INSERT INTO agent_identity_jwt_tasks (account_id, user_id, task_key, key_id, secret)
VALUES (${accountId}, ${userId}, ${k}, ${sealed.keyId}, ${sealed.value})
ON CONFLICT (account_id, user_id, task_key) DO UPDATE SET key_id = excluded.key_id, secret = excluded.secret`
                }
              })),
              (e) => e._tag === "KeyStoreError" ? e : dbError(key, "writing the tasks")(e)
            )
            return true
          })
      }

      const lock = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyStoreError, R> => {
        const token = holderPrefix + randomBytes(8).toString("hex")
        const tryTake = Effect.mapError(
          sql<{ holder: string }>`INSERT INTO agent_identity_leases (account_id, user_id, holder, expires_at)
VALUES (${accountId}, ${userId}, ${token}, ${nowSql} + ${leaseMillis})
ON CONFLICT (account_id, user_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE agent_identity_leases.expires_at < ${nowSql} RETURNING holder`,
          dbError(key, "taking the account's lease")
        )
        const take = tryTake.pipe(
          Effect.filterOrFail((rows) => rows[0]?.holder === token, () => "busy" as const),
          Effect.retry({
            // A lease is mostly held for one registration (tens of milliseconds): poll often, capped at 100 ms.
            schedule: Schedule.exponential("10 millis", 1.5).pipe(
              Schedule.union(Schedule.spaced("100 millis")),
              Schedule.jittered,
              Schedule.upTo(lockTimeout)
            ),
            while: (e) => e === "busy"
          }),
          Effect.catchIf((e): e is "busy" => e === "busy", () =>
            Effect.fail(
              new KeyStoreError({
                reason: "Lock",
                path: where,
                detail: `another holder kept the account's lease for ${Duration.format(lockTimeout)}`
              })
            ))
        )
        const heartbeat = sql`UPDATE agent_identity_leases SET expires_at = ${nowSql} + ${leaseMillis}
WHERE account_id = ${accountId} AND user_id = ${userId} AND holder = ${token}`.pipe(
          Effect.ignore,
          Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, Math.floor(leaseMillis / 3))))),
          Effect.delay(Duration.millis(Math.max(50, Math.floor(leaseMillis / 3))))
        )
        const release = sql`DELETE FROM agent_identity_leases WHERE account_id = ${accountId} AND user_id = ${userId} AND holder = ${token}`
          .pipe(Effect.ignore)
        // The wait for the lease stays interruptible (a signal ends it at once); the lease, once taken, is released.
        return Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(take), () =>
            Effect.ensuring(
              restore(
                Effect.scoped(
                  Effect.zipRight(
                    // Interruptible whatever region the caller is in (an HTTP handler may run uninterruptibly):
                    // otherwise closing the scope would wait for a heartbeat that never ends.
                    Effect.forkScoped(Effect.interruptible(heartbeat)),
                    Effect.locallyWith(self, heldLease, (held) => new Map(held).set(accountKeyString(key), token))
                  )
                )
              ),
              release
            ))
        )
      }

      return Effect.map(
        KeyStore.makeFromBackend({
          location: where,
          load: Effect.map(loadVersioned, Option.map((c) => c.doc)),
          modify: modifyWith(true),
          tasks,
          lock,
          accessToken: Option.none()
        }),
        // A `put` (an import) is audited by its caller, not as a registration.
        (store) => ({ store, modify: modifyWith(false) })
      )
    }

    // One KeyStore per account in this process: its mutex is the in-process half of the single flight.
    // (A map kept in place: copying it per new account would cost O(n²) over a fleet of 10,000.)
    const accounts = new Map<string, Account>()
    const creating = yield* Effect.makeSemaphore(1)
    const accountOf = (key: AccountKey): Effect.Effect<Account> =>
      Effect.suspend(() => {
        const k = accountKeyString(key)
        const existing = accounts.get(k)
        if (existing !== undefined) return Effect.succeed(existing)
        return creating.withPermits(1)(Effect.suspend(() => {
          const again = accounts.get(k)
          return again !== undefined
            ? Effect.succeed(again)
            : Effect.tap(accountBackend(key), (account) => Effect.sync(() => void accounts.set(k, account)))
        }))
      })

    interface ListRow {
      readonly account_id: string
      readonly user_id: string
      readonly login: string
      readonly updated_at: number | string
      readonly agent_runtime_id: string | null
    }
    const list: AccountStoreService["list"] = Effect.map(
      Effect.mapError(
        sql<ListRow>`SELECT l.account_id, l.user_id, l.login, l.updated_at, i.agent_runtime_id
FROM agent_identity_logins l LEFT JOIN agent_identity_identities i ON i.account_id = l.account_id AND i.user_id = l.user_id`,
        dbError(undefined, "listing the accounts")
      ),
      (rows) =>
        rows.map((row): AccountEntry => ({
          ...keyOf(row.account_id, row.user_id),
          login: row.login,
          agentRuntimeId: Option.fromNullable(row.agent_runtime_id),
          updatedAt: new Date(Number(row.updated_at))
        })).sort((a, b) => {
          const [x, y] = [accountKeyString(a), accountKeyString(b)]
          return x < y ? -1 : x > y ? 1 : 0
        })
    )

    const resolve: AccountStoreService["resolve"] = (accountId, userId) =>
      Effect.flatMap(
        Effect.mapError(
          userId === undefined
            ? sql<{ user_id: string }>`SELECT user_id FROM agent_identity_logins WHERE account_id = ${accountId} LIMIT 2`
            : sql<{ user_id: string }>`SELECT user_id FROM agent_identity_logins WHERE account_id = ${accountId} AND user_id = ${userId}`,
          dbError(undefined, "resolving an account")
        ),
        (rows) =>
          rows.length === 1
            ? Effect.succeed(keyOf(accountId, rows[0]!.user_id))
            : Effect.fail(new AccountNotFoundError({ accountId, reason: rows.length === 0 ? "NotHeld" : "SeveralUsers" }))
      )

    const exists = (key: AccountKey) =>
      Effect.mapError(
        sql<{ n: number }>`SELECT 1 AS n FROM agent_identity_logins WHERE account_id = ${key.accountId} AND user_id = ${userOf(key)}`,
        dbError(key, "reading the account")
      )

    const keyStore: AccountStoreService["keyStore"] = (key) =>
      Effect.flatMap(exists(key), (rows) =>
        rows.length === 0
          ? Effect.fail(new AccountNotFoundError({ accountId: key.accountId, reason: "NotHeld" }))
          : Effect.map(accountOf(key), (account) => account.store))

    // `put` edits the document directly, without the lease: a login write is a compare-and-set on the row's
    // version, and a registration in flight re-reads the document before it writes its identity.
    const put: AccountStoreService["put"] = (document, protocol) =>
      Effect.gen(function*() {
        const key = yield* fromEither(keyOfDocument(document, protocol))
        const account = yield* accountOf(key)
        const changed = yield* account.modify<never>((current) => {
          const next = documentToStore(Option.getOrUndefined(current), document)
          return Either.right(
            JSON.stringify(Option.getOrUndefined(current)) === JSON.stringify(next) ? Option.none() : Option.some(next)
          )
        })
        return { key, changed }
      })

    const remove: AccountStoreService["remove"] = (key) =>
      Effect.mapError(
        transaction(Effect.gen(function*() {
          const deleted = yield* sql<{ account_id: string }>`DELETE FROM agent_identity_logins WHERE account_id = ${key.accountId} AND user_id = ${
            userOf(key)
          } RETURNING account_id`
          for (const table of ["agent_identity_identities", "agent_identity_jwt_tasks", "agent_identity_session_tasks"]) {
            yield* sql`DELETE FROM ${sql(table)} WHERE account_id = ${key.accountId} AND user_id = ${userOf(key)}`
          }
          if (deleted.length > 0) yield* audit({ action: "revoked", accountId: key.accountId, userId: key.userId, detail: "account removed" })
          return deleted.length > 0
        })),
        dbError(key, "removing the account")
      ).pipe(Effect.tap(() => Effect.sync(() => void accounts.delete(accountKeyString(key)))))

    const sessionTask: AccountStoreService["sessionTask"] = (key, sessionKey) =>
      Effect.flatMap(
        Effect.mapError(
          sql<{ agent_runtime_id: string; key_id: string; secret: string }>`SELECT agent_runtime_id, key_id, secret FROM agent_identity_session_tasks
WHERE account_id = ${key.accountId} AND user_id = ${userOf(key)} AND session_key = ${sessionKey}`,
          dbError(key, "reading a session's task")
        ),
        (rows) => {
          const row = rows[0]
          if (row === undefined) return Effect.succeed(Option.none())
          return Effect.map(
            fromEither(
              openFor(key, "agent_identity_session_tasks", [key.accountId, userOf(key), sessionKey, row.agent_runtime_id], row.key_id, row.secret)
            ),
            (taskId) => Option.some({ agentRuntimeId: row.agent_runtime_id, taskId })
          )
        }
      )

    const saveSessionTask: AccountStoreService["saveSessionTask"] = (key, sessionKey, task) =>
      Effect.mapError(
        Option.match(task, {
          onNone: () =>
            sql`DELETE FROM agent_identity_session_tasks WHERE account_id = ${key.accountId} AND user_id = ${userOf(key)} AND session_key = ${sessionKey}`,
          onSome: (t) => {
            const sealed = sealFor("agent_identity_session_tasks", [key.accountId, userOf(key), sessionKey, t.agentRuntimeId], t.taskId)
            return sql`INSERT INTO agent_identity_session_tasks (account_id, user_id, session_key, agent_runtime_id, key_id, secret, updated_at)
VALUES (${key.accountId}, ${userOf(key)}, ${sessionKey}, ${t.agentRuntimeId}, ${sealed.keyId}, ${sealed.value}, ${nowSql})
ON CONFLICT (account_id, user_id, session_key) DO UPDATE SET agent_runtime_id = excluded.agent_runtime_id, key_id = excluded.key_id,
secret = excluded.secret, updated_at = excluded.updated_at`
          }
        }),
        dbError(key, "keeping a session's task")
      ).pipe(Effect.asVoid)

    const rotate: Admin["rotate"] = Effect.gen(function*() {
      let resealed = 0
      for (const { keys: columns, table } of SEALED_TABLES) {
        const rows = yield* Effect.mapError(
          sql<Record<string, string>>`SELECT ${sql.literal(columns.join(", "))}, key_id, secret FROM ${sql(table)} WHERE key_id <> ${keys.currentId}`,
          adminError(`reading ${table}`)
        )
        for (const row of rows) {
          const parts = columns.map((c) => String(row[c]))
          const opened = open(keys, adOf(table, parts), { keyId: row["key_id"]!, value: row["secret"]! })
          if (Either.isLeft(opened)) {
            return yield* Effect.fail(
              new StoreError({
                reason: "WrongKey",
                location,
                detail: `a row of ${table} (account ${parts[0]}) does not open with the store's keys (${opened.left}); nothing after it was re-sealed`
              })
            )
          }
          const sealed = sealFor(table, parts, opened.right)
          const conditions = columns.map((c) => sql`${sql(c)} = ${row[c]!}`)
          const updated = yield* Effect.mapError(
            sql<{ key_id: string }>`UPDATE ${sql(table)} SET key_id = ${sealed.keyId}, secret = ${sealed.value}
WHERE ${sql.and(conditions)} AND key_id = ${row["key_id"]!} AND secret = ${row["secret"]!} RETURNING key_id`,
            adminError(`re-sealing ${table}`)
          )
          resealed += updated.length
        }
      }
      return { resealed, keyId: keys.currentId }
    })

    const auditEvents: Admin["auditEvents"] = (key) =>
      Effect.map(
        Effect.mapError(
          key === undefined
            ? sql<
              { at: number | string; account_id: string; user_id: string; action: AuditEvent["action"]; detail: string }
            >`SELECT at, account_id, user_id, action, detail FROM agent_identity_audit ORDER BY id`
            : sql<
              { at: number | string; account_id: string; user_id: string; action: AuditEvent["action"]; detail: string }
            >`SELECT at, account_id, user_id, action, detail FROM agent_identity_audit WHERE account_id = ${key.accountId} AND user_id = ${
              userOf(key)
            } ORDER BY id`,
          adminError("reading the audit")
        ),
        (rows) =>
          rows.map((row) => ({
            at: new Date(Number(row.at)),
            action: row.action,
            detail: row.detail,
            ...keyOf(row.account_id, row.user_id)
          }))
      )

    return {
      location,
      list,
      resolve,
      keyStore,
      put,
      remove,
      sessionTask,
      saveSessionTask,
      audit: (event) => Effect.asVoid(Effect.mapError(audit(event), dbError(undefined, "writing the audit"))),
      rotate,
      auditEvents
    }
  })

/** Fails `WrongKey` when a row is sealed with a key the store was not given (checked when the store opens). */
export const checkKeys = (keys: Keys, location: string): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const { table } of SEALED_TABLES) {
      const ids = yield* Effect.mapError(
        sql<{ key_id: string }>`SELECT DISTINCT key_id FROM ${sql(table)}`,
        (e) => new StoreError({ reason: "Database", location, detail: `reading ${table} failed: ${messageOf(e)}` })
      )
      const unknown = ids.map((r) => r.key_id).filter((id) => !keys.byId.has(id))
      if (unknown.length > 0) {
        return yield* Effect.fail(
          new StoreError({
            reason: "WrongKey",
            location,
            detail: `rows are sealed with key ${unknown.join(", ")}, which is not among the ${keys.byId.size} key(s) in AGENT_IDENTITY_STORE_KEY`
          })
        )
      }
    }
  })

/** Brings the schema up to date under the dialect's lock (see `Migrations.ts`). */
export const migrate = (location: string): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const locked = sql.onDialectOrElse({
      pg: () =>
        sql.withTransaction(Effect.gen(function*() {
          // One advisory lock number for this schema; held to the end of the transaction.
          yield* sql`SELECT pg_advisory_xact_lock(7351092214)`
          yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${Migrations.MIGRATIONS_TABLE} (
  migration_id integer primary key,
  created_at timestamp with time zone not null default now(),
  name text not null
)`)
          yield* Migrations.run
        })).pipe(Effect.asVoid),
      orElse: () =>
        Effect.uninterruptibleMask((restore) =>
          Effect.scoped(Effect.gen(function*() {
            const conn = yield* sql.reserve
            yield* conn.executeUnprepared("BEGIN IMMEDIATE", [], undefined)
            const exit = yield* Effect.exit(restore(Effect.provideService(Migrations.run, SqlClient.TransactionConnection, [conn, 0])))
            yield* conn.executeUnprepared(Exit.isSuccess(exit) ? "COMMIT" : "ROLLBACK", [], undefined)
            return yield* Effect.asVoid(exit)
          }))
        )
    })
    yield* Effect.mapError(locked, (e) =>
      new StoreError({ reason: "Migration", location, detail: `bringing the schema up to date failed: ${messageOf(e)}` }))
  })
