/**
 * A throwaway PostgreSQL for the store's tests: `initdb` + `pg_ctl` from Debian's `postgresql` package, in a
 * temporary folder, on a free loopback port, trust authentication, stopped and deleted after. The server refuses
 * to run as root, so as root it runs as the `postgres` user. `AGENT_IDENTITY_TEST_PG_URL` (a server the tests
 * may create databases on) skips all of this.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** Debian's server binaries: the newest major installed (bookworm's `postgresql` is 15). */
const debianBin = (): string => {
  const root = "/usr/lib/postgresql"
  const majors = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  return path.join(root, majors[0] ?? "15", "bin")
}
const BIN = process.env["AGENT_IDENTITY_TEST_PG_BIN"] ?? debianBin()

export interface Pg {
  /** The server's URL (database `postgres`). */
  readonly url: string
  /** Creates a fresh database and returns its URL. */
  readonly database: (name: string) => string
  readonly stop: () => void
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const asPostgres = (command: string, args: ReadonlyArray<string>): [string, ReadonlyArray<string>] =>
  process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args]

const run = (command: string, args: ReadonlyArray<string>) => {
  const [cmd, argv] = asPostgres(command, args)
  const result = spawnSync(cmd, argv, { encoding: "utf8", timeout: 120_000 })
  if (result.status !== 0) throw new Error(`${command} failed (${result.status}): ${result.stderr}${result.stdout}`)
  return result.stdout
}

/** Starts a throwaway cluster (or uses `AGENT_IDENTITY_TEST_PG_URL`). */
export const startPg = async (): Promise<Pg> => {
  const given = process.env["AGENT_IDENTITY_TEST_PG_URL"]
  const psql = (url: string, statement: string) => execFileSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-qc", statement], { encoding: "utf8" })
  const withDatabase = (url: string, name: string) => {
    const u = new URL(url)
    u.pathname = `/${name}`
    return u.toString()
  }
  if (given !== undefined && given.length > 0) {
    const suffix = `${process.pid}_${Date.now()}`
    const made: Array<string> = []
    return {
      url: given,
      database: (name) => {
        const db = `${name}_${suffix}`
        psql(given, `CREATE DATABASE ${db}`)
        made.push(db)
        return withDatabase(given, db)
      },
      stop: () => {
        for (const db of made) spawnSync("psql", [given, "-qc", `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`])
      }
    }
  }
  if (!fs.existsSync(path.join(BIN, "initdb"))) {
    throw new Error(`PostgreSQL is not installed (${BIN}/initdb): apt-get install -y postgresql, or set AGENT_IDENTITY_TEST_PG_URL`)
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-identity-pg-"))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim())
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
    fs.chownSync(dir, uid, gid)
  }
  const data = path.join(dir, "data")
  run(path.join(BIN, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--wal-segsize=1"])
  const port = await freePort()
  run(path.join(BIN, "pg_ctl"), [
    "-D",
    data,
    "-l",
    path.join(dir, "log"),
    "-w",
    "-t",
    "60",
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`,
    "start"
  ])
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  let stopped = false
  return {
    url,
    database: (name) => {
      psql(url, `CREATE DATABASE ${name}`)
      return withDatabase(url, name)
    },
    stop: () => {
      if (stopped) return
      stopped = true
      const [cmd, argv] = asPostgres(path.join(BIN, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"])
      spawnSync(cmd, argv, { timeout: 60_000 })
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
