/**
 * `agent-identity header` without the Effect runtime, for the case a script runs before every request: a
 * ChatGPT login and its agent's record with a task in auth.json, a trusted host, nothing unusual. Loading
 * the Effect runtime and Schema is most of the command's start-up (docs/ARCHITECTURE.md, "The header fast
 * path"); this path loads neither, and applies the library's own rules, not copies of them: the command
 * line (parse.ts), the base URL and host rules (Domain/Urls.ts), auth.json's reading (Domain/AuthRead.ts),
 * the binding (Domain/BindingRules.ts), the header and what goes beside it (Domain/Headers.ts, crypto/)
 * and the output (format.ts).
 *
 * Anything else returns `undefined`, and the full CLI runs the command: a Bearer header (which may need a
 * note saying why), a setting that does not read, a file that is not a plain regular file or that others
 * can read (a warning), a JWT login, `$CODEX_ACCESS_TOKEN`, `--store`, logging. So the fast path prints
 * exactly what the full path prints whenever it prints at all (test/cli/fastHeader.test.ts compares the
 * two), and every failure is still the full path's typed error. It reads auth.json and writes nothing.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { buildAgentAssertion } from "../crypto/assertion.js"
import { decodePrivateKeyBase64 } from "../crypto/keys.js"
import { formatTimestamp } from "../crypto/time.js"
import { parseAuthText, readState } from "../Domain/AuthRead.js"
import { chatGptBinding, recordFor } from "../Domain/BindingRules.js"
import { agentAssertionHeader } from "../Domain/Headers.js"
import {
  isHttpUrl,
  isTrustedBaseUrl,
  normalizeBaseUrl,
  normalizeHost,
  PRODUCTION_AUTHAPI,
  trimTrailingSlashes,
  unsafeIdReason
} from "../Domain/Urls.js"
import { formatOutput, headerJson } from "./format.js"
import * as Parse from "./parse.js"

type Env = Readonly<Record<string, string | undefined>>

const PROTOCOLS = ["2026-04", "2026-06"] as const
type Protocol = (typeof PROTOCOLS)[number]

/** As auth.json is read elsewhere (src/internal/authFile.ts): at most 16 MiB, strict UTF-8, a BOM kept (and refused). */
const MAX_FILE_BYTES = 16 * 1024 * 1024
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** An environment setting as `Settings.fromEnv` reads it: trimmed, empty meaning unset. */
const envString = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim()
  return value === undefined || value.length === 0 ? undefined : value
}

/** A URL setting as `Settings.resolve` reads it (trimmed, trailing `/` removed); `false` when it does not read. */
const givenUrl = (value: string | undefined): string | undefined | false => {
  if (value === undefined) return undefined
  const url = trimTrailingSlashes(value.trim())
  return isHttpUrl(url) ? url : false
}

/** The settings `header` uses, read as `settings.ts` and `Settings.resolve` read them; undefined for anything else. */
const settingsOf = (global: Parse.Run["global"], env: Env) => {
  // Settings that change what is printed or logged, or that a fast path would have to check: the full path.
  for (const name of ["CODEX_ACCESS_TOKEN", "AGENT_IDENTITY_LOG_LEVEL"]) if (env[name] !== undefined) return undefined
  const mode = env["AGENT_IDENTITY_MODE"]
  if (mode !== undefined && mode !== "enabled") return undefined
  const protocolText = Option.getOrElse(global.protocol, () => env["AGENT_IDENTITY_PROTOCOL"] ?? "2026-06")
  const protocol = PROTOCOLS.find((p) => p === protocolText)
  if (protocol === undefined) return undefined
  const base = givenUrl(Option.getOrElse(global.baseUrl, () => envString(env, "CHATGPT_BASE_URL")))
  if (base === false) return undefined
  const baseUrl = normalizeBaseUrl(base ?? "https://chatgpt.com/backend-api")
  // Checked only: `header` uses none of these, but a wrong one is an error of the full path.
  const authApi = givenUrl(Option.getOrElse(global.authapiBaseUrl, () => envString(env, "CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL")))
  const jwks = givenUrl(Option.getOrElse(global.jwksBaseUrl, () => envString(env, "CODEX_AGENT_IDENTITY_JWKS_BASE_URL")) ?? baseUrl)
  const userAuthApi = givenUrl(envString(env, "CODEX_AUTHAPI_BASE_URL") ?? PRODUCTION_AUTHAPI)
  if (authApi === false || jwks === false || userAuthApi === false) return undefined
  const envHosts = (envString(env, "AGENT_IDENTITY_TRUSTED_HOSTS") ?? "").split(",").map((h) => h.trim()).filter((h) => h.length > 0)
  const trustedHosts = [...global.trustHost, ...envHosts].map(normalizeHost).filter((h) => h.length > 0)
  const codexHome = Option.getOrElse(global.codexHome, () => envString(env, "CODEX_HOME") ?? path.join(os.homedir(), ".codex"))
  return {
    protocol: protocol as Protocol,
    trusted: isTrustedBaseUrl(baseUrl, trustedHosts),
    forcedWorkspaceId: Option.fromNullable(envString(env, "AGENT_IDENTITY_FORCED_WORKSPACE_ID")),
    file: path.join(path.resolve(codexHome), "auth.json")
  }
}

/**
 * auth.json's text when it is a regular file that neither its group nor others can read (else the full
 * path warns), opened without blocking (a FIFO put in its place never hangs the read) and checked again
 * once open; undefined otherwise.
 */
const readAuthText = (file: string): string | undefined => {
  let fd: number | undefined
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0))
    const stat = fs.fstatSync(fd)
    if (!stat.isFile() || (stat.mode & 0o044) !== 0 || stat.size > MAX_FILE_BYTES) return undefined
    const bytes = fs.readFileSync(fd)
    return bytes.length > MAX_FILE_BYTES ? undefined : strictUtf8.decode(bytes)
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/**
 * What `header` prints on stdout for `args` (argv after the script) and `env`, signed at `now`, when the
 * fast path applies; undefined when the full CLI must run the command.
 */
export const fastHeader = (args: ReadonlyArray<string>, env: Env, now: () => number = Date.now): string | undefined => {
  const parsed = Parse.parse(args)
  if (Either.isLeft(parsed) || parsed.right._tag !== "Run") return undefined
  const run = parsed.right
  if (run.command.name !== "header" || Option.isSome(run.global.store) || Option.isSome(run.logLevel)) return undefined
  const settings = settingsOf(run.global, env)
  if (settings === undefined || !settings.trusted) return undefined

  const text = readAuthText(settings.file)
  if (text === undefined) return undefined
  const doc = parseAuthText(text)
  if (Either.isLeft(doc)) return undefined
  const state = readState(doc.right)
  if (Either.isLeft(state)) return undefined
  const { identity: slot, login } = state.right
  if (login._tag !== "ChatGpt" || slot._tag !== "Record") return undefined
  const binding = chatGptBinding(login, settings.forcedWorkspaceId)
  if (Either.isLeft(binding)) return undefined
  const found = recordFor(slot.record, binding.right, settings.protocol)
  if (found._tag !== "Found" || !found.sameUser || Option.isNone(found.fields.taskId)) return undefined
  const key = decodePrivateKeyBase64(Redacted.value(slot.record.agent_private_key))
  if (Either.isLeft(key)) return undefined
  const task = { agentRuntimeId: found.fields.agentRuntimeId, taskId: found.fields.taskId.value }
  if (unsafeIdReason(task.agentRuntimeId) !== undefined || unsafeIdReason(task.taskId) !== undefined) return undefined

  const value = buildAgentAssertion(key.right, { ...task, timestamp: formatTimestamp(now()) })
  const header = agentAssertionHeader(Redacted.make(value), found.fields, task, settings.protocol)
  return formatOutput(run.global.json, headerJson(header, settings.protocol), () => [value]) + "\n"
}
