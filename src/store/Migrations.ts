/**
 * The store's schema, as @effect/sql migrations written in code (no migration files to ship). Each dialect
 * runs them through the generic `Migrator` under a lock, so processes starting together migrate once:
 * PostgreSQL takes a transaction-scoped advisory lock, SQLite a `BEGIN IMMEDIATE` write lock.
 *
 * Tables (every one keyed by account id and user id, the user `""` when the login names none):
 * - `agent_identity_logins`: the account's auth.json without its identity slot, sealed; the login's kind,
 *   a version (bumped on every write) and when it changed, in plain.
 * - `agent_identity_identities`: the `agent_identity` slot (either record form, or an Agent Identity JWT),
 *   sealed; its form and runtime id in plain.
 * - `agent_identity_jwt_tasks`: the tasks of JWT identities, by protocol and runtime id; the task id sealed.
 * - `agent_identity_session_tasks`: a session's task, per account and session key; the task id sealed.
 * - `agent_identity_audit`: what happened (registered, renewed, revoked, imported, refused), secret-free.
 * - `agent_identity_leases`: the lock of each account across processes and hosts (holder, expiry).
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** The migrations table. */
export const MIGRATIONS_TABLE = "agent_identity_migrations"

const initial = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const serial = sql.onDialectOrElse({ pg: () => "BIGSERIAL PRIMARY KEY", orElse: () => "INTEGER PRIMARY KEY AUTOINCREMENT" })
  yield* sql.unsafe(`CREATE TABLE agent_identity_logins (
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  login TEXT NOT NULL,
  key_id TEXT NOT NULL,
  secret TEXT NOT NULL,
  version BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, user_id)
)`)
  yield* sql.unsafe(`CREATE TABLE agent_identity_identities (
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  form TEXT NOT NULL,
  agent_runtime_id TEXT,
  key_id TEXT NOT NULL,
  secret TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, user_id)
)`)
  yield* sql.unsafe(`CREATE TABLE agent_identity_jwt_tasks (
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  task_key TEXT NOT NULL,
  key_id TEXT NOT NULL,
  secret TEXT NOT NULL,
  PRIMARY KEY (account_id, user_id, task_key)
)`)
  yield* sql.unsafe(`CREATE TABLE agent_identity_session_tasks (
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  session_key TEXT NOT NULL,
  agent_runtime_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  secret TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, user_id, session_key)
)`)
  yield* sql.unsafe(`CREATE TABLE agent_identity_audit (
  id ${serial},
  at BIGINT NOT NULL,
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL
)`)
  yield* sql.unsafe(`CREATE INDEX agent_identity_audit_account ON agent_identity_audit (account_id, user_id)`)
  yield* sql.unsafe(`CREATE TABLE agent_identity_leases (
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  holder TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, user_id)
)`)
})

/** Every migration, in order. */
export const loader: Migrator.Loader = Migrator.fromRecord({ "1_initial": initial })

/** Runs the migrations not yet applied (the caller holds the dialect's lock). */
export const run = Migrator.make({})({ loader, table: MIGRATIONS_TABLE })
