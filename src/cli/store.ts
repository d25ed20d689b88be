/**
 * `--store`: the commands on a database store (`effect-agent-identity/store`) instead of auth.json — the KeyStore
 * of the account `--account` names, and `pool import`, `pool list`, `pool revoke`. Loaded only when `--store` is
 * given. The store's key comes from `$AGENT_IDENTITY_STORE_KEY` only: never from the command line.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { taskOfRecord } from "../Domain/Binding.js"
import type { AccountNotFoundError, KeyStoreError, StoreError } from "../Domain/Errors.js"
import * as Settings from "../Domain/Settings.js"
import { AccountStore } from "../services/AccountStore.js"
import * as KeyStore from "../services/KeyStore.js"
import { importDocuments, type ImportInput, layerFromUrl } from "../store/index.js"
import { print } from "./output.js"
import type { Resolved } from "./settings.js"

/**
 * The store `--store` names. Only `pool import` creates a SQLite file that is not there: for every other
 * command a missing file is a mistyped path, not an empty store.
 */
export const storeLayer = (url: string, options: { readonly create?: boolean } = {}) =>
  layerFromUrl(url, { create: options.create ?? false })

/** The KeyStore of the account `--account` names, in the store `--store` names. */
export const accountKeyStore = (
  url: string,
  account: string
): Layer.Layer<KeyStore.KeyStore, StoreError | KeyStoreError | AccountNotFoundError> =>
  Layer.effect(
    KeyStore.KeyStore,
    Effect.gen(function*() {
      const store = yield* AccountStore
      return yield* store.keyStore(yield* store.resolve(account))
    })
  ).pipe(Layer.provide(storeLayer(url)))

const urlOf = (resolved: Resolved) =>
  Option.match(resolved.store, { onNone: () => Effect.dieMessage("pool without --store"), onSome: (s) => Effect.succeed(s.url) })

/** The inputs of `pool import`: a file holding a JSON document is one input, any other file one per line. */
const inputsOf = (files: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<ImportInput>> =>
  Effect.sync(() =>
    files.flatMap((file) => {
      const name = file === "-" ? "stdin" : file
      let text: string
      try {
        text = fs.readFileSync(file === "-" ? 0 : file, "utf8")
      } catch (error) {
        // An unreadable file is an input refused for that reason (its system error names no secret).
        return [{ name, text: "", unreadable: error instanceof Error ? error.message : "unreadable" }]
      }
      if (text.trimStart().startsWith("{")) return [{ name, text }]
      return text.split(/\r?\n/).flatMap((line, i) => line.trim().length === 0 ? [] : [{ name: `${name}:${i + 1}`, text: line }])
    }).map((input) => "unreadable" in input ? { name: input.name, text: `\u0000${input.unreadable}` } : input)
  )

/** `pool import FILE...`. */
export const poolImport = (resolved: Resolved, files: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const url = yield* urlOf(resolved)
    const inputs = yield* inputsOf(files)
    const results = yield* Effect.provide(
      importDocuments(
        inputs.map((input) => input.text.startsWith("\u0000") ? { name: input.name, text: "" } : input),
        resolved.settings.protocol
      ),
      storeLayer(url, { create: true })
    )
    const reasons = new Map(inputs.filter((i) => i.text.startsWith("\u0000")).map((i) => [i.name, `cannot read it: ${i.text.slice(1)}`]))
    const refused = results.filter((r) => r.outcome === "refused").map((r) => ({
      source: r.name,
      reason: reasons.get(r.name) ?? Option.getOrElse(r.reason, () => "refused")
    }))
    const count = (outcome: string) => results.filter((r) => r.outcome === outcome).length
    yield* print(resolved.json, { imported: count("imported"), unchanged: count("unchanged"), refused }, () => [
      ...results.filter((r) => r.outcome !== "refused").map((r) =>
        `${r.outcome} ${r.name}: account ${Option.getOrElse(r.accountId, () => "?")}${Option.match(r.userId, { onNone: () => "", onSome: (u) => ` (user ${u})` })}`
      ),
      ...refused.map((r) => `refused ${r.source}: ${r.reason}`),
      `${count("imported")} imported, ${count("unchanged")} unchanged, ${refused.length} refused`
    ])
  })

/** `pool list`. */
export const poolList = (resolved: Resolved) =>
  Effect.gen(function*() {
    const store = yield* AccountStore
    const protocol: Settings.Protocol = resolved.settings.protocol
    const accounts = yield* Effect.forEach(yield* store.list, (entry) =>
      Effect.gen(function*() {
        const state = yield* (yield* store.keyStore(entry)).read
        const slot = state.identity
        const runtimeId = slot._tag === "Record"
          ? slot.record.agent_runtime_id
          : Option.getOrNull(entry.agentRuntimeId)
        const taskId = slot._tag === "Record"
          ? Option.getOrNull(taskOfRecord(slot.record, protocol))
          : runtimeId === null
          ? null
          : state.jwtTasks.get(KeyStore.jwtTaskKey(protocol, runtimeId)) ?? null
        return {
          account_id: entry.accountId,
          user_id: Option.getOrNull(entry.userId),
          login: entry.login,
          agent_runtime_id: runtimeId,
          form: slot._tag === "Record" ? "record" : slot._tag === "Jwt" ? "jwt" : slot._tag === "Foreign" ? "foreign" : null,
          task_id: taskId
        }
      }), { concurrency: 8 })
    yield* print(resolved.json, { accounts }, () =>
      accounts.length === 0
        ? [`no accounts in ${store.location}`]
        : accounts.map((a) =>
          `${a.account_id}${a.user_id === null ? "" : ` (user ${a.user_id})`}: ${a.login} login, ${
            a.form === null ? "no identity" : `identity ${a.agent_runtime_id ?? "?"} (${a.form})${a.task_id === null ? ", no task" : `, task ${a.task_id}`}`
          }`
        ))
  }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(urlOf(resolved), storeLayer))))

/** `pool revoke ACCOUNT`: drops the account's identity and its tasks (an Agent Identity JWT login is its identity: the account goes). */
export const poolRevoke = (resolved: Resolved, account: string) =>
  Effect.gen(function*() {
    const store = yield* AccountStore
    const key = yield* store.resolve(account)
    const keyStore = yield* store.keyStore(key)
    const state = yield* keyStore.read
    let revoked: boolean
    if (state.login._tag === "AgentIdentityJwt") {
      revoked = yield* store.remove(key)
    } else {
      revoked = yield* keyStore.exclusive(Effect.gen(function*() {
        for (const task of state.jwtTasks.keys()) {
          const [protocol, runtimeId] = task.split(" ") as [Settings.Protocol, string]
          yield* keyStore.saveJwtTask(protocol, runtimeId, Option.none())
        }
        return yield* keyStore.removeIdentity
      }))
    }
    yield* print(resolved.json, { account_id: account, revoked }, () => [
      revoked ? `revoked the identity of account ${account}` : `account ${account} held no identity`
    ])
  }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(urlOf(resolved), storeLayer))))
