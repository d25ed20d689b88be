/**
 * effect-agent-identity/store: the fleet's database stores. SQLite (`layerSqlite`, no set-up) and PostgreSQL
 * (`layerPg`), or either from a location (`layerFromUrl("sqlite:PATH" | "postgres://…")`); each provides the
 * `AccountStore` service (and `StoreAdmin`: key rotation, the audit), with secrets encrypted at rest and a
 * lock per account that holds across processes and hosts. `importDocuments` imports many logins into any
 * `AccountStore`.
 *
 * Needs the optional peer dependencies `@effect/sql` and `@effect/sql-sqlite-node` (SQLite) or
 * `@effect/sql-pg` (PostgreSQL).
 */
export * from "./Layers.js"
export { type Admin, type AuditRecord, type RotateReport, StoreAdmin } from "./SqlStore.js"
export * as SqlStore from "./SqlStore.js"
export * as Secrets from "./Secrets.js"
export * as Migrations from "./Migrations.js"
export { importDocuments, type ImportInput, type ImportResult } from "./Import.js"
export * as AccountStore from "../services/AccountStore.js"
