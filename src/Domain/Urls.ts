/**
 * The rules of addresses, hosts and ids that need no error type: base URL normalisation (Codex's newest
 * rule), ids safe for a URL path, a header and a terminal, and the hosts an AgentAssertion may go to.
 * `Endpoints` re-exports all of it; it lives apart because it loads no Schema, so the CLI's `header`
 * fast path (src/cli/fastHeader.ts) applies these very rules without loading the Effect runtime.
 */
import * as Option from "effect/Option"

/** The text without its trailing `/` characters (Rust's `trim_end_matches('/')`). */
export const trimTrailingSlashes = (text: string): string => text.replace(/\/+$/, "")
const SUFFIXES = ["/wham/remote/control/server/enroll", "/wham/remote/control/server"]
const CHATGPT_PREFIXES = ["https://chatgpt.com", "https://chat.openai.com"]

/**
 * Codex's `normalize_chatgpt_base_url`, newest rule: trailing `/` removed, one remote-control suffix
 * stripped, `/codex` stripped unless it ends `/api/codex`, `/backend-api` appended for the two ChatGPT
 * hosts when neither `/backend-api` nor `/api/codex` is present.
 */
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

const MAX_ID_LENGTH = 256
// Path separators, query and fragment starters, whitespace, control and bidi characters.
const UNSAFE_ID = /[/\\?#\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u

/**
 * Why an id from outside (a server answer, a JWT, a stored record) is unsafe to put in a URL path
 * segment, a header or a terminal; undefined when it is safe. The one rule for runtime and task ids.
 */
export const unsafeIdReason = (id: string): string | undefined => {
  if (id.length === 0) return "it is empty"
  if (id.length > MAX_ID_LENGTH) return `it is longer than ${MAX_ID_LENGTH} characters`
  if (id === "." || id === "..") return "it is a relative path segment"
  if (UNSAFE_ID.test(id)) return "it contains a path separator, ?, #, whitespace or a control character"
  return undefined
}

/** Whether a text is an absolute http or https URL without userinfo. */
export const isHttpUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" && url.username === "" &&
      url.password === ""
  } catch {
    return false
  }
}

const CHATGPT_PATHS = ["", "/backend-api", "/codex", "/backend-api/codex"]
const PRODUCTION_ORIGINS = ["https://chatgpt.com", "https://chat.openai.com"]
const STAGING_ORIGINS = ["https://chatgpt-staging.com"]

/** The AuthAPI of ChatGPT production. */
export const PRODUCTION_AUTHAPI = "https://auth.openai.com/api/accounts"
/** The AuthAPI of ChatGPT staging. */
export const STAGING_AUTHAPI = "https://auth.api.openai.org/api/accounts"

const matchesEnvironment = (base: string, origins: ReadonlyArray<string>) =>
  origins.some((origin) => CHATGPT_PATHS.some((p) => base === origin + p))

/**
 * The AuthAPI of a ChatGPT base URL's environment (Codex today): the base, trailing `/` removed and
 * otherwise as given, must be one of the four forms (bare, `/backend-api`, `/codex`, `/backend-api/codex`)
 * of a production or staging origin; anything else has none.
 */
export const authApiBaseFor = (base: string): Option.Option<string> => {
  const trimmed = trimTrailingSlashes(base.trim())
  if (matchesEnvironment(trimmed, PRODUCTION_ORIGINS)) return Option.some(PRODUCTION_AUTHAPI)
  if (matchesEnvironment(trimmed, STAGING_ORIGINS)) return Option.some(STAGING_AUTHAPI)
  return Option.none()
}

/**
 * Whether a credential (an access token) can be sent as `Bearer <token>`: visible ASCII only. A CR, LF
 * or other control character would otherwise end as a defect of the HTTP stack, or split a header.
 */
export const isHeaderSafeToken = (token: string): boolean => /^[\x21-\x7e]+$/.test(token)

/**
 * Whether a stored login's token can ride in a Bearer fallback header as Codex sends it: printable ASCII
 * (spaces allowed, as a header value allows them), and no CR, LF or other control character.
 */
export const isHeaderSafeValue = (token: string): boolean => /^[\x20-\x7e]+$/.test(token)

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
