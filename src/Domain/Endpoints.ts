/**
 * The ChatGPT backend's addresses: base URL normalisation (Codex's newest rule), the one URL builder
 * per endpoint, runtime ids made safe for a URL path, and the hosts an AgentAssertion may go to.
 */
import * as Either from "effect/Either"
import { RuntimeIdError } from "./Errors.js"

const trimTrailingSlashes = (text: string): string => text.replace(/\/+$/, "")
const SUFFIXES = ["/wham/remote/control/server/enroll", "/wham/remote/control/server"]
const CHATGPT_PREFIXES = ["https://chatgpt.com", "https://chat.openai.com"]

/** Codex's `normalize_chatgpt_base_url`, newest rule (protocol A.1, `0f6330f6`). */
export const normalizeBaseUrl = (input: string): string => {
  let base = trimTrailingSlashes(input.trim())
  const suffix = SUFFIXES.find((s) => base.endsWith(s))
  if (suffix !== undefined) base = base.slice(0, -suffix.length)
  if (base.endsWith("/codex") && !base.endsWith("/api/codex")) base = base.slice(0, -"/codex".length)
  if (
    CHATGPT_PREFIXES.some((p) => base.startsWith(p)) && !base.includes("/backend-api") && !base.includes("/api/codex")
  ) base += "/backend-api"
  return base
}

/** `GET {base}/authenticate_app_v2`: the human-biscuit mint. */
export const biscuitUrl = (base: string): string => `${trimTrailingSlashes(base)}/authenticate_app_v2`

/** `POST {base}/v1/agent/register`. */
export const registerUrl = (base: string): string => `${trimTrailingSlashes(base)}/v1/agent/register`

const MAX_RUNTIME_ID_LENGTH = 256
// Path separators, query and fragment starters, whitespace and control characters.
const UNSAFE_RUNTIME_ID = /[/\\?#\s\u0000-\u001f\u007f-\u009f]/u

/** Shown in errors: JSON-escaped (so control characters are visible) and cut to 80 characters. */
const describeRuntimeId = (id: string): string => {
  const shown = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id)
  return shown
}

/** A runtime id from the server, refused unless it is safe to put in a URL path segment. */
export const validateRuntimeId = (id: string): Either.Either<string, RuntimeIdError> => {
  const fail = (reason: string) => Either.left(new RuntimeIdError({ reason, runtimeId: describeRuntimeId(id) }))
  if (id.length === 0) return fail("it is empty")
  if (id.length > MAX_RUNTIME_ID_LENGTH) return fail(`it is longer than ${MAX_RUNTIME_ID_LENGTH} characters`)
  if (id === "." || id === "..") return fail("it is a relative path segment")
  if (UNSAFE_RUNTIME_ID.test(id)) return fail("it contains a path separator, ?, #, whitespace or a control character")
  return Either.right(id)
}

/** `POST {base}/v1/agent/{id}/task/register`, the id validated and percent-encoded. */
export const taskRegisterUrl = (base: string, agentRuntimeId: string): Either.Either<string, RuntimeIdError> =>
  Either.map(
    validateRuntimeId(agentRuntimeId),
    (id) => `${trimTrailingSlashes(base)}/v1/agent/${encodeURIComponent(id)}/task/register`
  )

/** `GET {base}/v1/whoami` on the reference backend. */
export const whoamiUrl = (base: string): string => `${trimTrailingSlashes(base)}/v1/whoami`

const CODEX_HOSTS = ["chatgpt.com", "chat.openai.com", "chatgpt-staging.com"]
const CODEX_HOST_SUFFIXES = [".chatgpt.com", ".chatgpt-staging.com"]

/** A host as the user wrote it, in the form `URL.hostname` gives (lower case, IPv6 in brackets). */
export const normalizeHost = (host: string): string => {
  const lower = host.trim().toLowerCase()
  return lower.includes(":") && !lower.startsWith("[") ? `[${lower}]` : lower
}

/**
 * Whether an AgentAssertion may be sent for this base URL: Codex's hosts (over https), or a host the
 * user added explicitly. A URL with userinfo, or one that does not parse, is never trusted.
 */
export const isTrustedBaseUrl = (base: string, extraHosts: ReadonlyArray<string> = []): boolean => {
  let url: URL
  try {
    url = new URL(base)
  } catch {
    return false
  }
  if (url.username !== "" || url.password !== "") return false
  const host = url.hostname
  if (host === "") return false
  if (extraHosts.some((extra) => normalizeHost(extra) === host)) return true
  if (url.protocol !== "https:") return false
  return CODEX_HOSTS.includes(host) || CODEX_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix))
}
