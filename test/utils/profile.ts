/**
 * The one setting that sizes the process, crash and fuzz suites: `AGENT_IDENTITY_TEST_PROFILE`.
 *
 * - `quick` (the default, `npm test`): reduced counts, so the whole suite runs in about a minute.
 * - `full` (`npm run test:reliability`): the counts whose figures docs/RELIABILITY.md quotes.
 *
 * Every other test is the same in both profiles. A figure printed by a scaled test names its profile
 * (`report`), so no figure can be quoted without the counts that produced it.
 */
const chosen = process.env["AGENT_IDENTITY_TEST_PROFILE"] ?? "quick"
if (chosen !== "quick" && chosen !== "full") {
  throw new Error(`AGENT_IDENTITY_TEST_PROFILE must be "quick" or "full", not ${JSON.stringify(chosen)}`)
}

export type Profile = "quick" | "full"
export const profile: Profile = chosen

const pick = <A>(quick: A, full: A): A => profile === "full" ? full : quick

/** The counts of each scaled suite, in this profile. */
export const counts = {
  /** crash.test.ts: SIGKILLs of a writing process. */
  kills: pick(12, 200),
  /** processes.test.ts: CLI processes racing on one CODEX_HOME, and how many rounds of the race. */
  racers: pick(8, 8),
  raceRounds: pick(1, 10),
  /** processes.test.ts: the faults every CLI command runs under in the canary test (of the 8 there are). */
  canaryFaults: pick(4, 8),
  /** foreignWriter.test.ts: in-place writes by the foreign process. */
  foreignWrites: pick(30, 100),
  /** authFuzz.test.ts: broken auth.json files. */
  authFuzzCases: pick(150, 1000),
  /** backendAnswers.test.ts: fuzzed backend answers. */
  answerFuzzCases: pick(100, 300),
  /** pidNamespaces.test.ts: rounds of `register` racing across PID namespaces. */
  namespaceRounds: pick(2, 6),
  /** serveLimits.test.ts: unauthenticated 50 MB POSTs, then small requests, against `serve`. */
  serveBigPosts: pick(4, 100),
  serveRequests: pick(4000, 200_000),
  /** storeRace.test.ts: processes racing over accounts on one database (SQLite, then PostgreSQL). */
  storeRacers: pick(4, 8),
  storeAccounts: pick(16, 100)
} as const

/**
 * A scaled test's time limit: a safety net against a hang, never a measurement. Generous, because the
 * machine may be shared (the full profile spawns some 1,000 processes).
 */
export const timeout = (quickMillis: number, fullMillis: number): number => pick(quickMillis, fullMillis)

/** Prints a figure, stamped with the profile that produced it. */
export const report = (figure: string): void => {
  console.log(`[${profile} profile] ${figure}`)
}
