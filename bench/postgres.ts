// A throw-away PostgreSQL 15 cluster for the benchmarks, and pgbench against it.
// Unlike the tests' cluster (test/postgres.ts: fsync off, no synchronous commit), this
// one keeps PostgreSQL's default durability settings — fsync on, synchronous_commit on,
// full_page_writes on — so a commit waits for its WAL flush, as in production. Only
// max_connections is raised (pool-size runs). BENCH_PG_FSYNC=off turns fsync and
// synchronous_commit off, and the bench says so in its table.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { freePort } from '../test/postgres.js'

const BIN = process.env.BENCH_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const asRoot = process.getuid?.() === 0
/** PostgreSQL refuses to run as root: as root, its server binaries run as the postgres user. */
const asServerUser = (command: string, args: string[]): [string, string[]] =>
  asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]

export interface BenchCluster {
  url: (database: string) => string
  /** CPU time the server has used so far (postmaster, its live backends, and the ones that ended), ms. */
  cpuMs: () => number
  createDatabase: (name: string) => Promise<string>
  settings: string
  stop: () => void
}

/**
 * initdb + pg_ctl start in a temp directory. `cpus` pins the postmaster (and so every
 * backend, which inherits the affinity) with taskset.
 */
export async function startBenchCluster (cpus?: string): Promise<BenchCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-bench-pg-'))
  if (asRoot) execFileSync('chown', ['postgres', dir])
  const data = path.join(dir, 'data')
  execFileSync(...asServerUser(path.join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']), { stdio: 'pipe' })
  const port = await freePort()
  const fast = process.env.BENCH_PG_FSYNC === 'off'
  const settings = fast ? 'fsync=off, synchronous_commit=off (BENCH_PG_FSYNC=off)' : 'defaults (fsync on, synchronous_commit on), shared_buffers 128 MB'
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${fast ? ' -c fsync=off -c synchronous_commit=off' : ''}`
  const [command, args] = asServerUser(path.join(BIN, 'pg_ctl'), ['-D', data, '-w', '-l', path.join(dir, 'log'), '-o', options, 'start'])
  if (cpus && os.cpus().length >= 2) execFileSync('taskset', ['-c', cpus, command, ...args], { stdio: 'pipe' })
  else execFileSync(command, args, { stdio: 'pipe' })
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    try {
      execFileSync(...asServerUser(path.join(BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']), { stdio: 'pipe' })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  process.once('exit', stop)
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`
  const postmaster = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
  return {
    url,
    cpuMs () {
      let ticks = processTicks(postmaster, true)
      for (const entry of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue
        const stat = readStat(Number(entry))
        if (stat && Number(stat[1]) === postmaster) ticks += processTicks(Number(entry), false)
      }
      return ticks * 1000 / CLOCK_TICKS
    },
    settings,
    stop,
    async createDatabase (name) {
      const client = new pg.Client({ connectionString: url('postgres') })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
        await client.query(`CREATE DATABASE "${name}"`)
      } finally {
        await client.end()
      }
      return url(name)
    }
  }
}

const CLOCK_TICKS = 100
/** /proc/<pid>/stat's fields after the command name: [state, ppid, …]; undefined once it is gone. */
function readStat (pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}
/** utime + stime (and, with children, the reaped children's cutime + cstime), in clock ticks. */
export function processTicks (pid: number, children: boolean): number {
  const fields = readStat(pid)
  if (!fields) return 0
  // Fields 14-17 of stat(5), counted from 1 with pid and comm: here 11-14.
  return Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0)
}
export const ticksToMs = (ticks: number) => ticks * 1000 / CLOCK_TICKS

export interface PgbenchResult { tps: number, latencyMs: number, failed: number, transactions: number, output: string }

/**
 * pgbench with a custom script (named prepared statements, -M prepared), `clients`
 * connections on one thread, for `seconds`; pinned to `cpus` when given.
 */
export function pgbench (databaseUrl: string, script: string, options: { clients: number, seconds: number, cpus?: string, defines?: Record<string, string | number> }): PgbenchResult {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pgbench-')), 'script.sql')
  fs.writeFileSync(file, script)
  const args = [
    '-n', '-M', 'prepared', '-c', String(options.clients), '-j', '1', '-T', String(options.seconds), '-f', file,
    ...Object.entries(options.defines ?? {}).flatMap(([name, value]) => ['-D', `${name}=${value}`]),
    databaseUrl
  ]
  const pinnedArgs = options.cpus && os.cpus().length >= 2 ? ['taskset', ['-c', options.cpus, path.join(BIN, 'pgbench'), ...args]] as const : [path.join(BIN, 'pgbench'), args] as const
  const run = spawnSync(pinnedArgs[0], pinnedArgs[1], { encoding: 'utf8' })
  fs.rmSync(path.dirname(file), { recursive: true, force: true })
  const output = `${run.stdout}${run.stderr}`
  if (run.status !== 0) throw new Error(`pgbench failed: ${output}`)
  const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? NaN)
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(output)?.[1] ?? NaN)
  const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0)
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1] ?? NaN)
  return { tps, latencyMs, failed, transactions, output }
}
