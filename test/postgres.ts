import { execFileSync, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'

export interface PostgresServer {
  /** A URL to the server's `postgres` database, for creating and dropping others. */
  adminUrl: string
  /** A new, empty database; its URL. */
  createDatabase: () => Promise<string>
  dropDatabase: (url: string) => Promise<void>
}

export const NOT_FOUND = 'PostgreSQL 15 binaries (initdb, pg_ctl) not found: install postgresql-15, or set TEST_POSTGRES_URL to a server\'s admin URL, to run these tests'

/** initdb's directory: the newest /usr/lib/postgresql/<version>/bin, or initdb on PATH. */
function binDir (): string | undefined {
  const root = '/usr/lib/postgresql'
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : []
  versions.sort((a, b) => Number(b) - Number(a))
  if (versions[0]) return path.join(root, versions[0], 'bin')
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' })
  return which.status === 0 ? path.dirname(which.stdout.trim()) : undefined
}

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** PostgreSQL refuses to run as root: run its binaries as the postgres user then. */
function runAsServerUser (command: string, args: string[]) {
  const asRoot = process.getuid?.() === 0
  return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { stdio: 'pipe' }) : execFileSync(command, args, { stdio: 'pipe' })
}

export interface Cluster {
  /** The admin URL: the `postgres` database as the `postgres` user. */
  adminUrl: string
  /** `pg_ctl stop -m fast`, as an operator restarting the server would. */
  stop: () => void
  /** Starts it again on the same port and data. */
  start: () => void
}

/** A throw-away cluster in a temp directory, stopped and removed when this process exits. */
export async function startCluster (bin = binDir()): Promise<Cluster> {
  if (!bin) throw new Error(NOT_FOUND)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-api-pg-'))
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', dir])
  const data = path.join(dir, 'data')
  runAsServerUser(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  const port = await freePort()
  // Durability is not under test here; speed is welcome.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200`
  const pgCtl = (...args: string[]) => runAsServerUser(path.join(bin, 'pg_ctl'), ['-D', data, ...args])
  const start = () => { pgCtl('-w', '-l', path.join(dir, 'log'), '-o', options, 'start') }
  start()
  // A test process ended by a signal (tap's timeout, Ctrl-C) runs its exit handlers too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(1))
  process.once('exit', () => {
    try {
      pgCtl('-m', 'immediate', 'stop')
    } catch {
      // Already stopped by the test.
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
  return { adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, stop: () => { pgCtl('-w', '-m', 'fast', 'stop') }, start }
}

async function onAdmin<T> (adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/**
 * What a test does when a server it needs is not on the machine: on a developer's
 * machine it is skipped, saying why (a plan of nothing with a reason); in CI, where
 * everything must run, it fails.
 */
export function unavailable (t: Test, what: string, howToGetIt: string): undefined {
  if (process.env.CI) t.fail(`${what} is required in CI. ${howToGetIt}`)
  else t.plan(0, howToGetIt)
  return undefined
}

let server: Promise<PostgresServer | undefined> | undefined
let counter = 0

/** One server per test process: TEST_POSTGRES_URL's, or a cluster of our own; undefined without either. */
export function postgresServer (): Promise<PostgresServer | undefined> {
  server ??= (async () => {
    const bin = process.env.TEST_POSTGRES_URL ? undefined : binDir()
    if (!process.env.TEST_POSTGRES_URL && !bin) return undefined
    const adminUrl = process.env.TEST_POSTGRES_URL ?? (await startCluster(bin)).adminUrl
    return {
      adminUrl,
      async createDatabase () {
        const name = `t_${process.pid}_${++counter}_${crypto.randomBytes(3).toString('hex')}`
        await onAdmin(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`))
        const url = new URL(adminUrl)
        url.pathname = `/${name}`
        return url.toString()
      },
      async dropDatabase (databaseUrl) {
        const name = new URL(databaseUrl).pathname.slice(1)
        await onAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
      }
    }
  })()
  return server
}

/**
 * A fresh database, dropped when the test ends. Without PostgreSQL the test is
 * skipped with a message on a developer's machine, and fails in CI, where it must run.
 */
export async function postgresOrSkip (t: Test): Promise<string | undefined> {
  const found = await postgresServer()
  if (!found) return unavailable(t, 'PostgreSQL', NOT_FOUND)
  const url = await found.createDatabase()
  t.teardown(() => found.dropDatabase(url))
  return url
}

/**
 * Runs an HTTP test suite written for SQLite on PostgreSQL: helper.build() then gives
 * every app a fresh PostgreSQL database. Skipped (or, in CI, failed) without a server.
 */
export async function runSuiteOnPostgres (suite: URL): Promise<void> {
  const { default: t } = await import('tap')
  if (!await postgresServer()) return unavailable(t, 'PostgreSQL', NOT_FOUND)
  process.env.TEST_STORE = 'postgres'
  await import(suite.href)
}
