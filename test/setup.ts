/**
 * Tests talk only to servers they start on 127.0.0.1: any lookup of another host name fails at once
 * (ENOTFOUND) instead of reaching a network, so a test that tried would fail visibly.
 */
import dns from "node:dns"

const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1"])
const isLoopback = (hostname: string) => LOOPBACK.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
const original = dns.lookup
const guarded = ((hostname: string, ...rest: Array<unknown>) => {
  if (isLoopback(hostname)) return (original as (...args: Array<unknown>) => unknown)(hostname, ...rest)
  const callback = rest[rest.length - 1] as (error: Error) => void
  const error = Object.assign(new Error(`test guard: no lookup of ${hostname} (tests use 127.0.0.1 only)`), { code: "ENOTFOUND" })
  process.nextTick(() => callback(error))
  return undefined
}) as typeof dns.lookup
dns.lookup = guarded
dns.promises.lookup = (async (hostname: string, ...rest: Array<unknown>) => {
  if (isLoopback(hostname)) return (original.__promisify__ as (...args: Array<unknown>) => unknown)(hostname, ...rest)
  throw Object.assign(new Error(`test guard: no lookup of ${hostname}`), { code: "ENOTFOUND" })
}) as typeof dns.promises.lookup
