/**
 * The command line of `agent-identity` as data (spec/cli.md): every command, option and argument, with
 * what help shows for it. The parser (`parse.ts`), the help (`help.ts`) and the shell completions
 * (`completions.ts`) all read this one table, so they cannot disagree. Plain data: nothing loaded here.
 */

/** How a value of an option is completed by a shell. */
export type Completion = "directory" | "file" | "none"

export interface OptionSpec {
  /** Without the leading `--`. */
  readonly name: string
  /** The placeholder of its value (`DIR`, `URL`); absent for a flag. */
  readonly value?: string
  readonly description: string
  /** Shown as `(default: …)`. */
  readonly defaultText?: string
  readonly repeatable?: boolean
  readonly required?: boolean
  /** The values a shell offers (the parser checks them only where `validate` says so). */
  readonly choices?: ReadonlyArray<string>
  readonly complete?: Completion
}

export interface ArgSpec {
  readonly name: string
  readonly description: string
  readonly optional?: boolean
  /** The last argument only: it may be given any number of times (`FILE...`). */
  readonly variadic?: boolean
  readonly choices?: ReadonlyArray<string>
}

export interface CommandSpec {
  readonly name: string
  /** One line, for the command list. */
  readonly summary: string
  /** More, for the command's own help. */
  readonly details?: ReadonlyArray<string>
  readonly args: ReadonlyArray<ArgSpec>
  /** Its own options, then the global ones that matter to it (in that order in its help). */
  readonly options: ReadonlyArray<string>
  /** Global options it refuses, with why (`demo` brings its own backend and CODEX_HOME). */
  readonly refuses?: Readonly<Record<string, string>>
  /** Why, in one clause, for its help. */
  readonly refusal?: string
  readonly examples?: ReadonlyArray<string>
}

/** The program's name, as installed (package.json "bin"). */
export const PROGRAM = "agent-identity"

export const PROTOCOL_CHOICES = ["2026-04", "2026-06"] as const
export const LOG_LEVELS = ["all", "trace", "debug", "info", "warning", "error", "fatal", "none"] as const
export const SHELLS = ["bash", "zsh", "fish"] as const

/** Every option, by name. The first nine are global: every command accepts them (spec/cli.md). */
export const OPTIONS: ReadonlyArray<OptionSpec> = [
  {
    name: "codex-home",
    value: "DIR",
    description: "where auth.json lives",
    defaultText: "$CODEX_HOME, else ~/.codex",
    complete: "directory"
  },
  {
    name: "base-url",
    value: "URL",
    description: "the ChatGPT backend",
    defaultText: "$CHATGPT_BASE_URL, else https://chatgpt.com/backend-api"
  },
  {
    name: "trust-host",
    value: "HOST",
    description: "a host an AgentAssertion may be sent to, besides Codex's own: chatgpt.com and its subdomains over https",
    defaultText: "$AGENT_IDENTITY_TRUSTED_HOSTS, comma separated",
    repeatable: true
  },
  {
    name: "protocol",
    value: "VERSION",
    description: "the protocol generation to speak: 2026-04 or 2026-06",
    defaultText: "$AGENT_IDENTITY_PROTOCOL, else 2026-06",
    choices: PROTOCOL_CHOICES
  },
  {
    name: "authapi-base-url",
    value: "URL",
    description: "2026-06: where agents and tasks are registered",
    defaultText: "$CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL, else the AuthAPI of the base URL's ChatGPT environment"
  },
  {
    name: "jwks-base-url",
    value: "URL",
    description: "2026-06: where the Agent Identity JWKS is served",
    defaultText: "$CODEX_AGENT_IDENTITY_JWKS_BASE_URL, else the base URL"
  },
  { name: "json", description: "print one JSON object on stdout instead of text" },
  {
    name: "log-level",
    value: "LEVEL",
    description: `log to stderr from this level up: ${LOG_LEVELS.join(", ")}`,
    defaultText: "$AGENT_IDENTITY_LOG_LEVEL, else none",
    choices: LOG_LEVELS
  },
  {
    name: "store",
    value: "URL",
    description: "keep logins and identities in a database instead of auth.json: sqlite:PATH or postgres://…; its secrets are encrypted with the key in $AGENT_IDENTITY_STORE_KEY",
    defaultText: "auth.json in the Codex home"
  },
  // The options of one command.
  {
    name: "account",
    value: "ID",
    description: "with --store: the account (ChatGPT account id) to work on"
  },
  { name: "public-key", value: "KEY", description: "the agent's public key, `ssh-ed25519 AAAA…`", required: true },
  {
    name: "max-skew-seconds",
    value: "SECONDS",
    description: "the largest accepted distance between the assertion's timestamp and now",
    defaultText: "300"
  },
  { name: "host", value: "HOST", description: "the address to listen on", defaultText: "127.0.0.1" },
  {
    name: "listen",
    value: "HOST:PORT",
    description: "the loopback address and port to listen on ([::1]:PORT for IPv6); port 0 picks a free one",
    defaultText: "127.0.0.1:0"
  },
  { name: "port", value: "PORT", description: "the port to listen on, 0 to 65535; 0 picks a free one", defaultText: "0" },
  {
    name: "with-access-token",
    description: "read an access token from stdin: an Agent Identity JWT, or a personal access token (at-…)",
    required: true
  },
  { name: "help", description: "show this help" },
  { name: "version", description: "print the version" }
]

/** The options every command accepts. */
export const GLOBAL = ["codex-home", "base-url", "trust-host", "protocol", "authapi-base-url", "jwks-base-url", "json", "log-level", "store"]

const online = ["codex-home", "base-url", "protocol", "authapi-base-url", "jwks-base-url", "json", "log-level", "store", "account"]

export const COMMANDS: ReadonlyArray<CommandSpec> = [
  {
    name: "register",
    summary: "ensure an agent identity for the login in auth.json (reuse it, else register one) and store it",
    details: [
      "A ChatGPT login gets a fresh Ed25519 key, registered with the backend; a valid stored identity is reused.",
      "An Agent Identity JWT login (2026-06) already is an identity: it is printed, nothing is registered."
    ],
    args: [],
    options: online,
    examples: ["register --json", "register --codex-home ~/.codex --base-url https://chatgpt.com/backend-api"]
  },
  {
    name: "task",
    summary: "ensure the identity, then reuse its task or register one and store its id",
    details: ["The backend sends the task id encrypted to the agent's key; it is opened here and stored beside the identity."],
    args: [],
    options: online,
    examples: ["task", "task --json"]
  },
  {
    name: "header",
    summary: "print the Authorization value for a request (AgentAssertion where allowed, else Bearer); no network",
    details: [
      "AgentAssertion when an identity with a task is stored and the base URL's host is trusted; otherwise the",
      "login's Bearer token, with a note on stderr saying why when an identity exists."
    ],
    args: [],
    options: ["codex-home", "base-url", "trust-host", "protocol", "json", "log-level", "store", "account"],
    examples: [
      "header",
      "header --base-url http://127.0.0.1:8080/backend-api --trust-host 127.0.0.1",
      "curl -H \"Authorization: $(agent-identity header)\" https://chatgpt.com/backend-api/…"
    ]
  },
  {
    name: "status",
    summary: "show the binding, the stored identity and its task (never the private key)",
    args: [],
    options: ["codex-home", "base-url", "protocol", "json", "log-level", "store", "account"],
    examples: ["status", "status --json", "status --store sqlite:fleet.db --account 1b2c3d…"]
  },
  {
    name: "verify",
    summary: "check an AgentAssertion offline against a public key; exit 1 when it is invalid",
    args: [{ name: "HEADER", description: "the Authorization value, `AgentAssertion <token>`" }],
    options: ["public-key", "max-skew-seconds", "json", "log-level"],
    examples: ["verify \"$(agent-identity header)\" --public-key \"ssh-ed25519 AAAA…\""]
  },
  {
    name: "forget",
    summary: "remove the stored agent identity from auth.json, keeping every other field",
    args: [],
    options: ["codex-home", "protocol", "json", "log-level", "store", "account"],
    examples: ["forget"]
  },
  {
    name: "login",
    summary: "store an access token read from stdin as `codex login --with-access-token` does (verified first)",
    details: ["A ChatGPT login is made with `codex login`; this command stores an access token only."],
    args: [],
    options: ["with-access-token", ...online.filter((o) => o !== "store" && o !== "account")],
    refuses: { store: "a store takes logins with `pool import` (- reads stdin)" },
    refusal: "it writes auth.json (a store takes logins with `pool import`)",
    examples: ["login --with-access-token < token.txt"]
  },
  {
    name: "import-jwt",
    summary: "verify an Agent Identity JWT (from stdin or $AGENT_IDENTITY_JWT) against the backend's JWKS and store it beside a ChatGPT login",
    details: ["The JWT is never an argument: `ps` shows arguments to every user."],
    args: [{
      name: "-",
      description: "read the JWT from stdin (the default, unless $AGENT_IDENTITY_JWT is set)",
      optional: true
    }],
    options: ["codex-home", "base-url", "jwks-base-url", "protocol", "json", "log-level"],
    refuses: { store: "a store takes Agent Identity JWTs with `pool import` (- reads stdin)" },
    refusal: "it writes auth.json (a store takes JWTs with `pool import`)",
    examples: ["import-jwt < jwt.txt", "import-jwt - --codex-home ~/.codex < jwt.txt"]
  },
  {
    name: "pool",
    summary: "a fleet's store (--store): import logins, list the accounts, revoke an account's identity",
    details: [
      "pool import FILE... reads Codex auth.json files (either login form) or files of access tokens (Agent Identity",
      "JWTs), one per line; - reads stdin. Each input is imported, unchanged (already held: repeating an import",
      "changes nothing) or refused with a reason. pool list shows every account (never a secret). pool revoke ACCOUNT",
      "removes that account's identity and its tasks. The store's key comes from $AGENT_IDENTITY_STORE_KEY only."
    ],
    args: [
      { name: "ACTION", description: "import, list or revoke", choices: ["import", "list", "revoke"] },
      { name: "ARG", description: "import: the files (- for stdin); revoke: the account id", optional: true, variadic: true }
    ],
    options: ["store", "protocol", "json", "log-level"],
    examples: [
      "pool import ~/exports/*.json --store sqlite:fleet.db",
      "pool list --json --store postgres://agent@db.internal/fleet",
      "pool revoke 1b2c3d… --store sqlite:fleet.db"
    ]
  },
  {
    name: "proxy",
    summary: "forward requests to the backend, each signed with the identity of the account it names (--store)",
    details: [
      "Each request names its account in ChatGPT-Account-ID; the proxy drops any Authorization it brings and signs it",
      "with that account's identity (registered on first use), passes streamed answers (SSE) through as they come,",
      "and after a 401 to an AgentAssertion replaces the task once and sends the request again. A session_id header",
      "gives a conversation its own task. It listens on loopback only: whoever reaches it is signed for.",
      "Point a client's base URL at the URL it prints, with the backend's path (e.g. /backend-api)."
    ],
    args: [],
    options: ["listen", "store", "base-url", "trust-host", "protocol", "authapi-base-url", "jwks-base-url", "json", "log-level"],
    examples: [
      "proxy --store sqlite:fleet.db --listen 127.0.0.1:8080",
      "proxy --store postgres://agent@db.internal/fleet --listen 127.0.0.1:0 --json"
    ]
  },
  {
    name: "serve",
    summary: "run the reference backend (for trying the commands by hand) until interrupted",
    details: ["It prints its URLs, then the few commands that get a working header against it."],
    args: [],
    options: ["host", "port", "protocol", "json", "log-level"],
    refuses: { store: "serve keeps the reference backend's state in memory" },
    refusal: "it keeps the reference backend's state in memory",
    examples: ["serve", "serve --port 8080"]
  },
  {
    name: "demo",
    summary: "run the whole flow against a reference backend of its own, with a throwaway login (what `npm start` runs)",
    args: [],
    options: ["protocol", "json", "log-level"],
    refuses: {
      "codex-home": "demo uses a throwaway CODEX_HOME of its own, never yours",
      "base-url": "demo runs against a reference backend of its own",
      "trust-host": "demo trusts its own backend only",
      "authapi-base-url": "demo runs against a reference backend of its own",
      "jwks-base-url": "demo runs against a reference backend of its own",
      store: "demo uses a throwaway CODEX_HOME of its own"
    },
    refusal: "it runs against a reference backend of its own, with a throwaway CODEX_HOME (to use yours, run `serve`)",
    examples: ["demo", "demo --protocol 2026-04"]
  },
  {
    name: "completions",
    summary: "print a shell completion script (bash, zsh or fish)",
    args: [{ name: "SHELL", description: "bash, zsh or fish", choices: SHELLS }],
    options: [],
    examples: [
      "completions bash > ~/.local/share/bash-completion/completions/agent-identity",
      "completions zsh > \"${fpath[1]}/_agent-identity\"",
      "completions fish > ~/.config/fish/completions/agent-identity.fish"
    ]
  }
]

export const optionNamed = (name: string): OptionSpec | undefined => OPTIONS.find((o) => o.name === name)
export const commandNamed = (name: string): CommandSpec | undefined => COMMANDS.find((c) => c.name === name)

/** What `command` accepts: its own options and every global one it does not refuse. */
export const accepted = (command: CommandSpec): ReadonlyArray<string> => {
  const names = new Set([...command.options, ...GLOBAL.filter((g) => command.refuses?.[g] === undefined)])
  return [...names]
}
