/** Promise 5: a foreign writer (Codex rewriting auth.json in place) never loses an update to us. */
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { AgentRuntimeId } from "../../src/Domain/Ids.js"
import * as AuthFile from "../../src/internal/authFile.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { counts, report, timeout } from "../utils/profile.js"
import { projectRoot } from "../utils/vectors.js"

const WRITES = counts.foreignWrites
const homes: Array<string> = []
afterEach(() => {
  for (const dir of homes.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})
const freshHome = () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-foreign-"))
  homes.push(home)
  fs.writeFileSync(path.join(home, "auth.json"), JSON.stringify(chatgptAuthDocument({ accountId: "account-123", userId: "user-123" }), null, 2))
  return home
}
const record = (n: number) => ({
  workspace_id: "account-123",
  chatgpt_user_id: "user-123",
  agent_runtime_id: AgentRuntimeId.make(`agent-${n}`),
  agent_private_key: Redacted.make("MC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH"),
  registered_at: "2026-04-15T00:00:00Z"
})

describe("a foreign in-place writer", () => {
  it.live(`${WRITES} in-place token updates by another process while we keep writing: no drop, no partial read acted on`, () =>
    Effect.gen(function*() {
      const home = freshHome()
      const file = path.join(home, "auth.json")
      const store = yield* KeyStore.makeFile({ codexHome: home }).pipe(Effect.provide(NodeFileSystem.layer))
      const child = spawn(process.execPath, [path.join(projectRoot, "test/reliability/fixtures/foreign-writer.mjs"), file, String(WRITES)])
      let out = ""
      child.stdout.on("data", (d: Buffer) => (out += d.toString()))
      const done = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      let finished = false
      void done.then(() => (finished = true))
      let ours = 0
      const failures: Array<string> = []
      while (!finished) {
        const result = yield* Effect.either(store.saveIdentity(record(++ours)))
        if (Either.isLeft(result)) failures.push(result.left.message)
      }
      yield* Effect.promise(() => done)
      const writer = JSON.parse(out) as { writes: number; drops: number; late: number; transient: number; unreadable: number }
      const final = JSON.parse(fs.readFileSync(file, "utf8"))
      report(
        `foreign writer: ${writer.writes} in-place writes vs ${ours} of ours -> ${writer.drops} dropped (not back within 2 s), ` +
          `${writer.transient} briefly stale (at 5 ms), ${writer.late} still stale at 40 ms but restored, ${failures.length} of our writes failed, ` +
          `the writer saw its own partial file ${writer.unreadable} times`
      )
      expect(writer.drops).toBe(0)
      expect(failures).toEqual([])
      expect(final.tokens.access_token).toBe(`foreign-${WRITES}`)
      expect(ours).toBeGreaterThanOrEqual(WRITES - 1) // the writer waits for one of ours before each of its own after the first
    }), { timeout: timeout(60_000, 300_000) })

  it.effect("an in-place write that lands between our check and our rename is redone, not lost", () =>
    Effect.gen(function*() {
      const home = freshHome()
      const file = path.join(home, "auth.json")
      const node = yield* Effect.provide(FileSystem.FileSystem, NodeFileSystem.layer)
      let injected = 0
      // A FileSystem whose rename first lets "Codex" write in place into the file about to be replaced.
      const racy: FileSystem.FileSystem = {
        ...node,
        rename: (from, to) =>
          Effect.suspend(() => {
            if (injected++ === 0) {
              const doc = JSON.parse(fs.readFileSync(to, "utf8"))
              doc.tokens.access_token = "refreshed-in-the-window"
              fs.writeFileSync(to, JSON.stringify(doc, null, 2))
            }
            return node.rename(from, to)
          })
      }
      const wrote = yield* AuthFile.modify(racy, file, (doc) =>
        Either.right(Option.map(doc, (d) => ({ ...d, agent_identity: { marker: 1 } }))))
      const final = JSON.parse(fs.readFileSync(file, "utf8"))
      expect(wrote).toBe(true)
      expect(final.tokens.access_token).toBe("refreshed-in-the-window")
      expect(final.agent_identity).toEqual({ marker: 1 })
    }))
})
