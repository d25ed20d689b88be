/**
 * Promises 16 and 17: a write keeps what auth.json is (a symbolic link stays one, the owner is kept,
 * the mode is tightened and never loosened); a path that is not a regular file (FIFO, directory,
 * device, socket) is refused before it is opened, at auth.json and at the lock; a lock stamped in
 * the future is stale by its distance from now; the lock's budget runs on Effect's Clock; the sweep
 * removes only our own temp files; and failures keep the system's cause.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { formatAuthDocument } from "../../src/Domain/AuthDocument.js"
import { AgentRuntimeId } from "../../src/Domain/Ids.js"
import { ioFailure, systemErrorText, tempName } from "../../src/internal/files.js"
import * as KeyStore from "../../src/services/KeyStore.js"
import { chatgptAuthDocument } from "../../src/testing/index.js"
import { CLI } from "../cli/helpers.js"

const roots: Array<string> = []
const tempRoot = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-shapes-"))
  roots.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true })
})

const login = chatgptAuthDocument({ accountId: "account-123", userId: "user-123" })
const record = {
  workspace_id: "account-123",
  chatgpt_user_id: "user-123",
  agent_runtime_id: AgentRuntimeId.make("agent-shapes"),
  agent_private_key: Redacted.make("MC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH"),
  registered_at: "2026-04-15T00:00:00Z"
}
const store = (codexHome: string, options: Partial<KeyStore.FileOptions> = {}) =>
  KeyStore.makeFile({ codexHome, ...options }).pipe(Effect.provide(NodeFileSystem.layer))
const temps = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith(".tmp"))
const isRoot = process.getuid?.() === 0

describe("writes keep what auth.json is (promise 16)", () => {
  it.effect("a symbolic link stays a link (chains and dangling ones too); the file it ends at is written", () =>
    Effect.gen(function*() {
      const root = tempRoot()
      const shared = path.join(root, "shared")
      const home = path.join(root, "home")
      fs.mkdirSync(shared)
      fs.mkdirSync(home)
      const target = path.join(shared, "auth.json")
      fs.writeFileSync(target, formatAuthDocument(login), { mode: 0o600 })
      // home/auth.json -> home/middle.json -> ../shared/auth.json
      fs.symlinkSync("middle.json", path.join(home, "auth.json"))
      fs.symlinkSync("../shared/auth.json", path.join(home, "middle.json"))
      yield* (yield* store(home)).saveIdentity(record)
      expect(fs.lstatSync(path.join(home, "auth.json")).isSymbolicLink()).toBe(true)
      expect(fs.readlinkSync(path.join(home, "auth.json"))).toBe("middle.json")
      expect(fs.readlinkSync(path.join(home, "middle.json"))).toBe("../shared/auth.json")
      const written = JSON.parse(fs.readFileSync(target, "utf8"))
      expect(written.agent_identity.agent_runtime_id).toBe("agent-shapes")
      expect(written.tokens).toEqual(login["tokens"])
      expect([...temps(home), ...temps(shared)]).toEqual([])

      // A dangling link: the file is created where it points, and the link kept.
      const other = path.join(root, "other")
      fs.mkdirSync(other)
      fs.symlinkSync(path.join(shared, "new-auth.json"), path.join(other, "auth.json"))
      yield* (yield* store(other)).saveIdentity(record)
      expect(fs.lstatSync(path.join(other, "auth.json")).isSymbolicLink()).toBe(true)
      expect(JSON.parse(fs.readFileSync(path.join(shared, "new-auth.json"), "utf8")).agent_identity.agent_runtime_id).toBe("agent-shapes")
    }))

  it.effect("the mode is tightened to mode & 0600, never loosened", () =>
    Effect.gen(function*() {
      const results: Array<string> = []
      for (const [before, after] of [[0o644, 0o600], [0o640, 0o600], [0o604, 0o600], [0o600, 0o600], [0o400, 0o400], [0o444, 0o400], [0o660, 0o600]] as const) {
        const home = tempRoot()
        const file = path.join(home, "auth.json")
        fs.writeFileSync(file, formatAuthDocument(login))
        fs.chmodSync(file, before)
        yield* (yield* store(home)).saveIdentity(record)
        const mode = fs.statSync(file).mode & 0o777
        results.push(`0${before.toString(8)} -> 0${mode.toString(8)}`)
        expect(mode).toBe(after)
      }
      console.log(`auth.json mode kept: ${results.join(", ")}`)
    }))

  it.effect("the owner is kept: run as root on another user's file, the new file is given back to that user", () =>
    Effect.gen(function*() {
      const home = tempRoot()
      const file = path.join(home, "auth.json")
      fs.writeFileSync(file, formatAuthDocument(login), { mode: 0o640 })
      // Root can make a file another user's; anyone else checks the same rule on a file of their own.
      const owner = isRoot ? { uid: 4242, gid: 4343 } : { uid: process.getuid!(), gid: process.getgid!() }
      if (isRoot) fs.chownSync(file, owner.uid, owner.gid)
      yield* (yield* store(home)).saveIdentity(record)
      const stat = fs.statSync(file)
      expect({ uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o777 }).toEqual({ ...owner, mode: 0o600 })
      expect(JSON.parse(fs.readFileSync(file, "utf8")).agent_identity.agent_runtime_id).toBe("agent-shapes")

      // A new auth.json in a user's folder, written by root, belongs to that user too.
      const fresh = tempRoot()
      if (isRoot) fs.chownSync(fresh, owner.uid, owner.gid)
      yield* (yield* store(fresh)).saveIdentity(record)
      const created = fs.statSync(path.join(fresh, "auth.json"))
      expect({ uid: created.uid, gid: created.gid, mode: created.mode & 0o777 }).toEqual({ ...owner, mode: 0o600 })
      console.log(`auth.json owner kept (${isRoot ? "as root, a file of uid 4242:4343" : "as a user, a file of our own"}): ${stat.uid}:${stat.gid}, mode 0600`)
    }))
})

describe("only regular files are read or replaced (promise 17)", () => {
  /** Makes `name` in `dir` something other than a regular file; returns a cleanup. */
  const makeOdd = async (kind: string, file: string): Promise<() => void> => {
    if (kind === "FIFO") spawnSync("mkfifo", [file])
    else if (kind === "directory") fs.mkdirSync(file)
    else if (kind === "device") fs.symlinkSync("/dev/null", file)
    else if (kind === "socket") {
      const server = net.createServer()
      await new Promise<void>((resolve) => server.listen(file, resolve))
      return () => server.close()
    }
    return () => undefined
  }
  const kinds = ["FIFO", "directory", "device", "socket"]

  it.live("at auth.json: read and write are refused at once (NotRegularFile), and the thing is left as it was", () =>
    Effect.gen(function*() {
      const refusals: Array<string> = []
      for (const kind of kinds) {
        const home = tempRoot()
        const file = path.join(home, "auth.json")
        const cleanup = yield* Effect.promise(() => makeOdd(kind, file))
        const before = fs.lstatSync(file)
        const files = yield* store(home)
        const read = yield* Effect.flip(files.read)
        const write = yield* Effect.flip(files.saveIdentity(record))
        for (const error of [read, write]) {
          expect(error._tag === "KeyStoreError" && error.reason).toBe("NotRegularFile")
          refusals.push(error.message.slice(home.length + 1))
        }
        const after = fs.lstatSync(file)
        expect([after.ino, after.mode]).toEqual([before.ino, before.mode])
        expect(temps(home)).toEqual([])
        cleanup()
      }
      console.log(`non-regular auth.json: ${kinds.length} kinds x read and write -> ${refusals.length} NotRegularFile refusals, e.g. "${refusals[0]}"`)
      expect(refusals.length).toBe(kinds.length * 2)
    }))

  it.live("at the lock path: refused at once, not after the lock's 60 s budget", () =>
    Effect.gen(function*() {
      for (const kind of [...kinds, "symlink"]) {
        const home = tempRoot()
        fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(login), { mode: 0o600 })
        const lock = path.join(home, KeyStore.LOCK_FILE)
        const cleanup = kind === "symlink"
          ? (fs.symlinkSync(path.join(home, "elsewhere"), lock), () => undefined)
          : yield* Effect.promise(() => makeOdd(kind, lock))
        const error = yield* Effect.flip((yield* store(home, { lockTimeout: "60 seconds" })).saveIdentity(record))
        expect(error._tag === "KeyStoreError" && error.reason).toBe("NotRegularFile")
        expect(error.message).toContain("the lock path is")
        expect(JSON.parse(fs.readFileSync(path.join(home, "auth.json"), "utf8")).agent_identity).toBeUndefined()
        cleanup()
      }
    }))

  it("the CLI: header, status and register on a FIFO auth.json end at once with one error line", () => {
    const home = tempRoot()
    spawnSync("mkfifo", [path.join(home, "auth.json")])
    for (const command of ["header", "status", "register"]) {
      // A hang would end at spawnSync's timeout (status null), and fail here.
      const run = spawnSync(process.execPath, [CLI, command, "--codex-home", home, "--base-url", "http://127.0.0.1:1/backend-api"], {
        timeout: 20_000,
        encoding: "utf8",
        env: { PATH: process.env["PATH"] ?? "", HOME: home }
      })
      expect(run.status).toBe(1)
      expect(run.stderr).toBe(`error: KeyStoreError: ${home}/auth.json: auth.json is a FIFO, not a regular file; refusing to read or replace it\n`)
    }
  })
})

describe("the lock's clocks", () => {
  it.live("a lock whose mtime is in the future is stale by its distance from now", () =>
    Effect.gen(function*() {
      const home = tempRoot()
      fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(login), { mode: 0o600 })
      const lock = path.join(home, KeyStore.LOCK_FILE)
      fs.writeFileSync(lock, JSON.stringify({ pid: 1, host: "a-host-with-a-wrong-clock", token: "future" }))
      const future = new Date(Date.now() + 3_600_000)
      fs.utimesSync(lock, future, future)
      yield* (yield* store(home, { lockTimeout: "10 seconds", staleLockTimeout: "30 seconds" })).saveIdentity(record)
      expect(JSON.parse(fs.readFileSync(path.join(home, "auth.json"), "utf8")).agent_identity.agent_runtime_id).toBe("agent-shapes")
      // Only a little ahead (a clock a few seconds off) is still a live lock.
      fs.writeFileSync(lock, JSON.stringify({ pid: 1, host: "a-host-with-a-wrong-clock", token: "near" }))
      const near = new Date(Date.now() + 5_000)
      fs.utimesSync(lock, near, near)
      const error = yield* Effect.flip((yield* store(home, { lockTimeout: "300 millis", staleLockTimeout: "30 seconds" })).removeIdentity)
      expect(error._tag === "KeyStoreError" && error.reason).toBe("Lock")
    }))

  it.effect("the wait's budget runs on Effect's Clock: the TestClock ends it", () =>
    Effect.gen(function*() {
      const home = tempRoot()
      fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(login), { mode: 0o600 })
      fs.writeFileSync(path.join(home, KeyStore.LOCK_FILE), JSON.stringify({ pid: 1, host: "another-host", token: "held" }))
      const waiter = yield* Effect.fork(Effect.flip((yield* store(home, { lockTimeout: "60 seconds", staleLockTimeout: "1 hour" })).saveIdentity(record)))
      // Time moves only here, a second at a time, with a real pause between steps for the file I/O.
      let steps = 0
      while (Option.isNone(yield* Fiber.poll(waiter)) && steps < 200) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
        yield* TestClock.adjust(Duration.seconds(1))
        steps++
      }
      const error = yield* Fiber.join(waiter)
      expect(error._tag === "KeyStoreError" && error.message).toContain("timed out after 60000 ms")
      expect(steps).toBeGreaterThanOrEqual(60)
    }))
})

describe("the sweep removes only our own temp files", () => {
  it.effect("a dead writer's temp file of ours goes; Codex's, another namespace's (while fresh) and anything else stay", () =>
    Effect.gen(function*() {
      const home = tempRoot()
      fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument(login), { mode: 0o600 })
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!
      const ours = tempName("auth")
      const deadOurs = ours.replace(`.${process.pid}.`, `.${dead}.`)
      // The same name from another PID namespace: its pid is not ours to judge.
      const otherNamespace = deadOurs.replace(/^(\.agent-identity-auth\.[0-9a-f]{8})\.\d+\./, "$1.1.")
      const oldOtherNamespace = otherNamespace.replace(/\.[0-9a-f]{16}\.tmp$/, ".0000000000000000.tmp")
      const keep = [`.auth.json.${dead}.7.tmp`, `.auth.json.${dead}.abc123.tmp`, otherNamespace, "notes.tmp"]
      for (const name of [deadOurs, oldOtherNamespace, ...keep]) fs.writeFileSync(path.join(home, name), "x")
      const old = new Date(Date.now() - 2 * 3_600_000)
      fs.utimesSync(path.join(home, oldOtherNamespace), old, old)
      yield* (yield* store(home)).saveIdentity(record)
      expect(temps(home).sort()).toEqual([...keep].sort())
    }))
})

describe("failures keep the system's cause", () => {
  it("EROFS, ENOSPC, EPERM, ENOTDIR, EEXIST: the error line names the system's error, not (Unknown)", () => {
    const lines: Record<string, string> = {}
    const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000, env: { PATH: process.env["PATH"] ?? "", HOME: tempRoot(), ...env } })
    const withIdentity = (home: string) =>
      fs.writeFileSync(path.join(home, "auth.json"), formatAuthDocument({ ...login, agent_identity: { ...record, agent_private_key: "k" } }), { mode: 0o600 })

    // A folder where a file should be, and a file where a folder should be.
    const root = tempRoot()
    fs.writeFileSync(path.join(root, "a-file"), "")
    lines["ENOTDIR"] = run(["forget"], { CODEX_HOME: path.join(root, "a-file", "home") }).stderr
    lines["EEXIST"] = run(["forget"], { CODEX_HOME: path.join(root, "a-file") }).stderr

    // Root can make the real thing: an immutable file (EPERM), a read-only and a full file system.
    const real: Array<string> = []
    if (isRoot && spawnSync("unshare", ["--mount", "true"]).status === 0) {
      const home = tempRoot()
      withIdentity(home)
      if (spawnSync("chattr", ["+i", path.join(home, "auth.json")]).status === 0) {
        lines["EPERM"] = run(["forget", "--codex-home", home]).stderr
        spawnSync("chattr", ["-i", path.join(home, "auth.json")])
        real.push("EPERM")
      }
      const mounted = (setup: string) => {
        const dir = tempRoot()
        withIdentity(dir)
        const script = `mount -t tmpfs -o size=64k tmpfs "$D" && cp "$S/auth.json" "$D/auth.json" && ${setup} && exec "$NODE" "$CLI" forget --codex-home "$D"`
        return spawnSync("unshare", ["--mount", "sh", "-c", script], {
          encoding: "utf8",
          timeout: 30_000,
          env: { PATH: process.env["PATH"] ?? "", D: tempRoot(), S: dir, NODE: process.execPath, CLI }
        })
      }
      const readOnly = mounted(`mount -o remount,ro "$D"`)
      if (readOnly.stderr.startsWith("error:")) {
        lines["EROFS"] = readOnly.stderr
        real.push("EROFS")
      }
      const full = mounted(`(dd if=/dev/zero of="$D/filler" bs=1k count=1000 2>/dev/null || true)`)
      if (full.stderr.startsWith("error:")) {
        lines["ENOSPC"] = full.stderr
        real.push("ENOSPC")
      }
    }
    for (const [code, line] of Object.entries(lines)) {
      expect(line, code).toMatch(new RegExp(`^error: KeyStoreError: .*\\(${code}: [a-z ,-]+\\)\\n$`))
      expect(line).not.toContain("Unknown")
      expect(line).not.toContain("BadResource")
    }
    // Whatever this machine allows, the mapping itself: errno to the system's words.
    for (
      const [errno, words] of [
        [-30, "EROFS: read-only file system"],
        [-28, "ENOSPC: no space left on device"],
        [-1, "EPERM: operation not permitted"],
        [-21, "EISDIR: illegal operation on a directory"]
      ] as const
    ) {
      expect(systemErrorText({ errno })).toBe(words)
      expect(ioFailure("/x/auth.json", "replacing auth.json")(Object.assign(new Error("boom"), { errno })).message).toBe(
        `/x/auth.json: replacing auth.json failed (${words})`
      )
    }
    for (const line of Object.values(lines)) console.log(line.trim())
    console.log(`system causes kept: ${Object.keys(lines).join(", ")} (made for real: ${["ENOTDIR", "EEXIST", ...real].join(", ")}); e.g. ${Object.values(lines)[0]!.trim()}`)
  }, 60_000)
})
