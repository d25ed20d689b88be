/**
 * The ChatGPT backend's addresses: base URL normalisation (Codex's newest rule), the one URL builder
 * per endpoint, runtime ids made safe for a URL path, and the hosts an AgentAssertion may go to.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { RuntimeIdError, SettingsError } from "./Errors.js"
import { toSafeJson } from "./Text.js"

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

/**
 * Every path of the protocol, once: the URL builders below and the reference backend's routes use these.
 * `{base}` paths are the ChatGPT backend's, `{authapi}` paths the AuthAPI's; `:id` is the runtime id.
 */
export const PATHS = {
  /** `GET {base}`: the human-biscuit mint (2026-04). */
  biscuit: "/authenticate_app_v2",
  /** `POST {base}` (2026-04) or `{authapi}` (2026-06). */
  register: "/v1/agent/register",
  /** `POST {base}` (2026-04) or `{authapi}` (2026-06). */
  task: "/v1/agent/:id/task/register",
  /** `GET {base}`: the reference backend's protected route. */
  whoami: "/v1/whoami",
  /** `GET {authapi}`: a personal access token's account. */
  credentialWhoami: "/v1/user-auth-credential/whoami",
  /** `GET {jwks base}` for `/backend-api` bases. */
  jwksBackendApi: "/wham/agent-identities/jwks",
  /** `GET {jwks base}` otherwise. */
  jwks: "/agent-identities/jwks"
} as const

/** `GET {base}/authenticate_app_v2`: the human-biscuit mint. */
export const biscuitUrl = (base: string): string => `${trimTrailingSlashes(base)}${PATHS.biscuit}`

/** `POST {base}/v1/agent/register`. */
export const registerUrl = (base: string): string => `${trimTrailingSlashes(base)}${PATHS.register}`

const MAX_ID_LENGTH = 256
// Path separators, query and fragment starters, whitespace, control and bidi characters.
const UNSAFE_ID = /[/\\?#\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u

/** Shown in errors: JSON-escaped (so control characters are visible) and cut to 80 characters. */
const describeId = (id: string): string => toSafeJson(id.length > 80 ? `${id.slice(0, 80)}…` : id)

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

/** An id from the server (`runtime` by default, or `task`), refused unless it is safe in a URL path segment and a header. */
export const validateRuntimeId = (id: string, kind: "runtime" | "task" = "runtime"): Either.Either<string, RuntimeIdError> => {
  const reason = unsafeIdReason(id)
  return reason === undefined
    ? Either.right(id)
    : Either.left(new RuntimeIdError({ reason, runtimeId: describeId(id), ...(kind === "task" ? { kind } : {}) }))
}

/** A task id (from the server, a stored record or a session), refused by the runtime id's rule. */
export const validateTaskId = (id: string): Either.Either<string, RuntimeIdError> => validateRuntimeId(id, "task")

/** `POST {authapi}/v1/agent/register` (2026-06). */
export const authApiRegisterUrl = (authApi: string): string => registerUrl(authApi)

/** `POST {authapi}/v1/agent/{id}/task/register` (2026-06), the id validated and percent-encoded. */
export const authApiTaskRegisterUrl = (authApi: string, agentRuntimeId: string): Either.Either<string, RuntimeIdError> =>
  taskRegisterUrl(authApi, agentRuntimeId)

/** `POST {base}/v1/agent/{id}/task/register`, the id validated and percent-encoded. */
export const taskRegisterUrl = (base: string, agentRuntimeId: string): Either.Either<string, RuntimeIdError> =>
  Either.map(
    validateRuntimeId(agentRuntimeId),
    (id) => `${trimTrailingSlashes(base)}${PATHS.task.replace(":id", encodeURIComponent(id))}`
  )

/** Fails, before any network I/O, when 2026-06 has no AuthAPI base for the base URL. */
export const requireAuthApi = (settings: {
  readonly baseUrl: string
  readonly authApiBaseUrl: Option.Option<string>
}): Either.Either<string, SettingsError> =>
  Option.match(settings.authApiBaseUrl, {
    onSome: Either.right,
    onNone: () =>
      Either.left(
        new SettingsError({
          option: "authApiBaseUrl",
          reason: `is required: the base URL ${settings.baseUrl} is not a ChatGPT production or staging environment ` +
            "(Agent Identity only supports those); give the AuthAPI base with --authapi-base-url or " +
            "CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL"
        })
      )
  })

/** `GET {base}/v1/whoami` on the reference backend: which credential it accepted. */
export const whoamiUrl = (base: string): string => `${trimTrailingSlashes(base)}${PATHS.whoami}`

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

/** `GET {authapi}/v1/user-auth-credential/whoami`: the account of a personal access token. */
export const credentialWhoamiUrl = (authApi: string): string =>
  `${trimTrailingSlashes(authApi)}${PATHS.credentialWhoami}`

/**
 * Where the Agent Identity JWKS is served. 2026-06: `{base}/wham/agent-identities/jwks` when the base
 * contains `/backend-api`, else `{base}/agent-identities/jwks`. 2026-04 (the first JWKS release) also
 * knew `/api/codex` bases and put others under `/api/codex`.
 */
export const jwksUrl = (base: string, protocol: "2026-04" | "2026-06" = "2026-06"): string => {
  const trimmed = trimTrailingSlashes(base)
  if (trimmed.includes("/backend-api")) return `${trimmed}${PATHS.jwksBackendApi}`
  if (protocol === "2026-06" || trimmed.includes("/api/codex")) return `${trimmed}${PATHS.jwks}`
  return `${trimmed}/api/codex${PATHS.jwks}`
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
