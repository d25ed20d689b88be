/** Runs the built CLI as a separate process. */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { projectRoot } from "../utils/vectors.js"

/** The built entry (npm test builds it first). */
export const CLI = path.join(projectRoot, "dist", "cli.js")

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * A clean environment: no CODEX_HOME, CHATGPT_BASE_URL or trusted hosts unless given; HOME is a temp folder;
 * protocol 2026-04 (the seed's, which these suites were written for) unless `AGENT_IDENTITY_PROTOCOL` is given.
 * `input`, when given, is written to the command's stdin.
 */
export const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}, input?: string): Promise<Result> =>
  new Promise((resolve) => {
    const home = env["HOME"] ?? tempDir()
    const child = execFile(process.execPath, [CLI, ...args], {
      env: { PATH: process.env["PATH"] ?? "", HOME: home, AGENT_IDENTITY_PROTOCOL: "2026-04", ...env },
      timeout: 60_000
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr })
    })
    if (input !== undefined) child.stdin?.end(input)
  })

const temps: Array<string> = []
/** A temp folder, removed by `cleanTemps`. */
export const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-cli-"))
  temps.push(dir)
  return dir
}
export const cleanTemps = () => {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
}

/** Writes auth.json into a fresh CODEX_HOME and returns the folder. */
export const codexHomeWith = (document: unknown): string => {
  const dir = tempDir()
  fs.writeFileSync(path.join(dir, "auth.json"), JSON.stringify(document, null, 2), { mode: 0o600 })
  return dir
}

export const readAuth = (home: string) => JSON.parse(fs.readFileSync(path.join(home, "auth.json"), "utf8")) as Record<string, any>
